"""Alert events: their kinds, their settings, times, and the ``event`` frame of ``alerts``.

Rules:
- An ``Event`` is plain data: ``kind``, ``truck_id``, ``ts`` (int ms since the Unix epoch:
  the server time the event was derived, as for every frame of the protocol) and ``data``, a
  dict that orjson can always encode (row values go through ``gateway.core.rows``).
- Times are kept in whole microseconds (``*_us``) inside the deriver so the staleness test
  gives exactly the answer ``gateway.core.stream.reading_age_seconds`` gives.
- A frame is built once, as bytes, by ``event_frame``; ``parse_event_frame`` reads it back
  (what a process that did not derive the event needs, e.g. behind a broker).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.rows import parse_utc

ALERTS_CHANNEL = "alerts"

DTC_RAISED = "dtc_raised"
DTC_CLEARED = "dtc_cleared"
REFUEL = "refuel"
FUEL_LOW = "fuel_low"
FUEL_RECOVERED = "fuel_recovered"
TRUCK_STALE = "truck_stale"
TRUCK_REPORTING = "truck_reporting"
KINDS = frozenset({DTC_RAISED, DTC_CLEARED, REFUEL, FUEL_LOW, FUEL_RECOVERED, TRUCK_STALE, TRUCK_REPORTING})

_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Event:
    """One derived alert, fleet-wide: the same value goes to every allowed subscriber."""

    kind: str
    truck_id: str
    ts: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Thresholds of the alert rules.

    Attributes:
        low_fuel_pct: ``fuel_low`` when ``fuel_level_pct`` goes below this (strictly).
        low_fuel_margin: once low, re-armed only above ``low_fuel_pct + low_fuel_margin``
            (strictly), so a level wobbling at the threshold does not flap.
        fuel_recovered: emit ``fuel_recovered`` when a low truck is re-armed.
        refuel_jump_pct: a rise of ``fuel_level_pct`` by more than this between two
            readings is a refuel.
        refuel_merge_s: a level jump and a ``refuel_events`` row of one truck whose times
            are at most this far apart are the same refuel (reported once).
        stale_after_s: a reading older than this is stale (``--stale-after``).
        retain_s: how long seen event ids and refuel times are remembered to de-duplicate
            re-reads; longer than any overlap the reader re-reads with.
    """

    low_fuel_pct: float = 15.0
    low_fuel_margin: float = 5.0
    fuel_recovered: bool = True
    refuel_jump_pct: float = 10.0
    refuel_merge_s: float = 900.0
    stale_after_s: float = 120.0
    retain_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.low_fuel_margin < 0 or self.refuel_jump_pct <= 0 or self.stale_after_s <= 0:
            raise ValueError("low_fuel_margin must be >= 0, refuel_jump_pct and stale_after_s > 0")
        if self.refuel_merge_s < 0 or self.retain_s < self.refuel_merge_s:
            raise ValueError("refuel_merge_s must be >= 0 and retain_s >= refuel_merge_s")


def now_us(now: dt.datetime) -> int:
    """A datetime (naive = UTC, as the poller passes it, or aware) as µs since the epoch."""
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    return (now - _EPOCH) // _US


def time_us(value: object) -> int | None:
    """A row's time (ISO 8601 text as the stores give it, or a datetime) in µs, else None."""
    if isinstance(value, dt.datetime):
        return now_us(value)
    if isinstance(value, str):
        try:
            return now_us(parse_utc(value))
        except ValueError:
            return None
    return None


def number(value: object) -> float | None:
    """A numeric column as a float (DECIMAL included), None when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    # NaN compares false with everything: it would silently disarm every rule.
    return result if result == result else None


def event_frame(epoch: str, seq: int, event: Event, channel: str = ALERTS_CHANNEL) -> bytes:
    """Build the ``event`` frame of one alert.

    Args:
        epoch: The alerts channel's epoch (the integrator decides epochs).
        seq: The event's seq within that epoch (+1 per event).
        event: The alert.
        channel: The channel name, ``alerts`` unless told.

    Returns:
        ``{"type": "event", "channel", "epoch", "seq", "kind", "truck_id", "ts", "data"}`` as bytes.
    """
    frame = {"type": "event", "channel": channel, "epoch": epoch, "seq": seq}
    return orjson.dumps({**frame, "kind": event.kind, "truck_id": event.truck_id, "ts": event.ts, "data": event.data})


def parse_event_frame(payload: bytes | str) -> tuple[str, int, Event]:
    """Read back a frame built by ``event_frame``: ``(epoch, seq, event)``.

    Raises:
        ValueError: the payload is not such a frame.
    """
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ValueError("event frame is not JSON") from None
    if type(obj) is not dict or obj.get("type") != "event":
        raise ValueError("not an event frame")
    epoch, seq, kind, truck_id, ts, data = (obj.get(k) for k in ("epoch", "seq", "kind", "truck_id", "ts", "data"))
    if type(epoch) is not str or type(seq) is not int or type(kind) is not str or type(truck_id) is not str:
        raise ValueError("event frame has a bad epoch, seq, kind or truck_id")
    if type(ts) is not int or type(data) is not dict:
        raise ValueError("event frame has a bad ts or data")
    return epoch, seq, Event(kind=kind, truck_id=truck_id, ts=ts, data=data)
