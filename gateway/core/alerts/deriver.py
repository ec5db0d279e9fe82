"""The alert deriver: one object fed with row changes and event rows, giving ``Event`` values.

Rules:
- Fleet-wide and pure: the caller feeds it (the reader's rows and its clock) and fans the
  returned events out; the deriver never reads, sleeps or sends. One deriver per cluster
  (the reader of the rows) keeps each event single.
- ``sensor`` is called for each changed cache row with the row read before it; ``tick``
  once per poll so time alone can make a truck stale; ``dtc_rows`` and ``refuel_rows`` with
  the event-table rows read since a watermark (re-reads give nothing twice); ``prime``
  once with the first read of those tables, so history is not announced as news.
- Events come back in the order they were derived; ``counts`` tallies them by kind (for
  ``/metrics``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.core.alerts.dtc import DtcTracker
from gateway.core.alerts.events import AlertConfig, Event, now_us
from gateway.core.alerts.refuel import RefuelTracker
from gateway.core.alerts.sensor import TruckSensorState, check_stale, fuel_events, take_reading

Row = Mapping[str, Any]


class AlertDeriver:
    """Derives the ``alerts`` channel's events for a whole fleet."""

    __slots__ = ("_dtcs", "_refuels", "_trucks", "config", "counts")

    def __init__(self, config: AlertConfig | None = None) -> None:
        self.config = config or AlertConfig()
        retain = round(self.config.retain_s * 1_000_000)
        self._dtcs = DtcTracker(retain)
        self._refuels = RefuelTracker(round(self.config.refuel_merge_s * 1_000_000), retain)
        self._trucks: dict[str, TruckSensorState] = {}
        self.counts: Counter[str] = Counter()

    def prime(self, dtc_rows: Iterable[Row], refuel_rows: Iterable[Row], now: dt.datetime) -> None:
        """Take the first read of ``dtc_events`` and ``refuel_events`` as the baseline (no events)."""
        self._dtcs.prime(dtc_rows, now_us(now))
        self._refuels.prime(refuel_rows, now_us(now))

    def sensor(self, truck_id: str, prev_row: Row | None, row: Row, now: dt.datetime) -> list[Event]:
        """Events for one truck's newly read cache row.

        Args:
            truck_id: The row's truck.
            prev_row: The row as read before this one, None on the truck's first read (which
                only sets its baseline: no fuel or staleness event, no jump).
            row: The row now (JSON-safe as the stores give it, or raw).
            now: Server time of the read, naive UTC (as the poller uses) or aware.

        Returns:
            In order: a ``refuel`` from a level jump, ``fuel_low``/``fuel_recovered``,
            ``truck_stale``/``truck_reporting``.
        """
        at = now_us(now)
        state = self._trucks.get(truck_id)
        if state is None:
            state = self._trucks[truck_id] = TruckSensorState()
        events: list[Event] = []
        if prev_row is not None:
            jump = self._refuels.level_jump(truck_id, prev_row, row, at, self.config.refuel_jump_pct)
            if jump is not None:
                events.append(jump)
        events.extend(fuel_events(state, truck_id, row, at // 1000, self.config))
        take_reading(state, row)
        stale = check_stale(state, truck_id, at, self.config)
        if stale is not None:
            events.append(stale)
        return self._counted(events)

    def tick(self, now: dt.datetime, truck_ids: Iterable[str] | None = None) -> list[Event]:
        """Staleness events due to time passing, for ``truck_ids`` (default every known truck)."""
        at = now_us(now)
        events: list[Event] = []
        for truck_id in self._trucks if truck_ids is None else truck_ids:
            state = self._trucks.get(truck_id)
            event = check_stale(state, truck_id, at, self.config) if state is not None else None
            if event is not None:
                events.append(event)
        return self._counted(events)

    def dtc_rows(self, rows: Iterable[Row], now: dt.datetime) -> list[Event]:
        """``dtc_raised``/``dtc_cleared`` for ``dtc_events`` rows read since a watermark."""
        return self._counted(self._dtcs.observe(rows, now_us(now)))

    def refuel_rows(self, rows: Iterable[Row], now: dt.datetime) -> list[Event]:
        """``refuel`` for new ``refuel_events`` rows not already reported from a level jump."""
        return self._counted(self._refuels.observe(rows, now_us(now)))

    def forget(self, truck_id: str) -> None:
        """Drop a truck's sensor state (its row is gone); a later row starts a new baseline."""
        self._trucks.pop(truck_id, None)

    def _counted(self, events: list[Event]) -> list[Event]:
        for event in events:
            self.counts[event.kind] += 1
        return events
