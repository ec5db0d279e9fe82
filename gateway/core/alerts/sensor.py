"""Alerts from one truck's cache row: fuel low (with hysteresis) and stale / reporting again.

Rules:
- Fuel: a truck is ``low`` once ``fuel_level_pct < low_fuel_pct`` (``fuel_low``); it is
  re-armed only when the level rises above ``low_fuel_pct + low_fuel_margin``
  (``fuel_recovered``, unless turned off). Between the two nothing changes, so a level
  wobbling at the threshold gives one ``fuel_low``, not one per crossing. A NULL level
  changes nothing.
- Staleness is the poller's rule (``gateway.core.stream.reading_age_seconds``): stale when
  the row's ``timestamp`` is more than ``stale_after_s`` older than now (``truck_stale``);
  once stale, a reading at most that old is ``truck_reporting``. ``check_stale`` re-tests a
  truck whose row did not change, since time alone makes a truck stale.
- The first reading of a truck only sets its baseline: a deriver that starts, or takes over
  after a failover, does not re-announce every truck already low or stale. A recovery can
  therefore come without its onset having been sent by this deriver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.alerts.events import (
    FUEL_LOW,
    FUEL_RECOVERED,
    TRUCK_REPORTING,
    TRUCK_STALE,
    AlertConfig,
    Event,
    number,
    time_us,
)
from gateway.core.rows import json_safe


@dataclass(slots=True)
class TruckSensorState:
    """What the rules remember of one truck; None means no baseline yet."""

    low: bool | None = None
    stale: bool | None = None
    reading_us: int | None = None
    reading: Any = None


def fuel_events(
    state: TruckSensorState, truck_id: str, row: Mapping[str, Any], ts: int, config: AlertConfig
) -> list[Event]:
    """Move the truck's fuel state for this row; the ``fuel_low``/``fuel_recovered`` it gives."""
    level = number(row.get("fuel_level_pct"))
    if level is None:
        return []
    if state.low is None:
        state.low = level < config.low_fuel_pct
        return []
    data = {"fuel_level_pct": level, "threshold_pct": config.low_fuel_pct}
    if not state.low and level < config.low_fuel_pct:
        state.low = True
        return [Event(kind=FUEL_LOW, truck_id=truck_id, ts=ts, data=data)]
    rearm = config.low_fuel_pct + config.low_fuel_margin
    if state.low and level > rearm:
        state.low = False
        if config.fuel_recovered:
            return [Event(kind=FUEL_RECOVERED, truck_id=truck_id, ts=ts, data={**data, "rearm_pct": rearm})]
    return []


def take_reading(state: TruckSensorState, row: Mapping[str, Any]) -> None:
    """Remember the row's reading time; a row without a readable ``timestamp`` keeps the last."""
    when = time_us(row.get("timestamp"))
    if when is not None:
        state.reading_us = when
        state.reading = json_safe(row.get("timestamp"))


def check_stale(state: TruckSensorState, truck_id: str, now_us: int, config: AlertConfig) -> Event | None:
    """``truck_stale`` or ``truck_reporting`` when the reading's age crosses the limit."""
    if state.reading_us is None:
        return None
    # Same float as reading_age_seconds: both divide whole microseconds by 10**6.
    age = (now_us - state.reading_us) / 1_000_000
    stale = age > config.stale_after_s
    was, state.stale = state.stale, stale
    if was is None or was == stale:
        return None
    data = {"timestamp": state.reading, "age_s": round(age, 3), "stale_after_s": config.stale_after_s}
    return Event(kind=TRUCK_STALE if stale else TRUCK_REPORTING, truck_id=truck_id, ts=now_us // 1000, data=data)
