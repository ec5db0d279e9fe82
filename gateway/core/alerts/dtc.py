"""DTC alerts from ``dtc_events`` rows: ``dtc_raised`` and ``dtc_cleared``.

Rules:
- ``observe`` takes the rows read since a watermark (re-reads allowed, any order) and
  returns each change once: a new row ``active`` → ``dtc_raised``; a known active row now
  ``cleared`` → ``dtc_cleared``; the same (id, status) again → nothing.
- A row first seen already ``cleared`` came and went between two reads: it gives
  ``dtc_raised`` then ``dtc_cleared``, so a client always sees a clear after its raise.
  At or below the floor (``seen.SeenIds``) such a row is old history and gives nothing.
- A cleared row that turns ``active`` again is raised again.
- Rows with another status, or without an integer id and a string truck id, are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.core.alerts.events import DTC_CLEARED, DTC_RAISED, Event
from gateway.core.alerts.seen import SeenIds, row_key
from gateway.core.rows import json_safe

ACTIVE = "active"
CLEARED = "cleared"
_FIELDS = ("dtc_code", "spn", "fmi", "severity", "description", "timestamp_utc", "cleared_at")


class DtcTracker:
    """The DTC rows seen and the status last reported for each."""

    __slots__ = ("_seen",)

    def __init__(self, retain_us: int) -> None:
        self._seen = SeenIds(retain_us)

    def __len__(self) -> int:
        return len(self._seen)

    def prime(self, rows: Iterable[Mapping[str, Any]], now_us: int) -> None:
        """Take the first read as the baseline: remember the rows, report nothing."""
        for row in rows:
            key = row_key(row)
            if key is not None and row.get("status") in (ACTIVE, CLEARED):
                self._seen.record(key[0], row["status"], now_us)
                self._seen.raise_floor(key[0])

    def observe(self, rows: Iterable[Mapping[str, Any]], now_us: int) -> list[Event]:
        """Events for the rows' changes since they were last seen (see the module rules).

        Args:
            rows: ``dtc_events`` rows (JSON-safe or raw), in any order, re-reads allowed.
            now_us: Server time in µs since the epoch; events carry it in ms.
        """
        events: list[Event] = []
        ts = now_us // 1000
        # Id order, so a raise read in the same batch as a later row keeps its place.
        for row in sorted(rows, key=lambda r: r.get("id") if type(r.get("id")) is int else 0):
            key, status = row_key(row), row.get("status")
            if key is None or status not in (ACTIVE, CLEARED):
                continue
            dtc_id, truck_id = key
            known = self._seen.state(dtc_id)
            if known == status:
                continue
            self._seen.record(dtc_id, status, now_us)
            if status == ACTIVE:
                events.append(_event(DTC_RAISED, truck_id, ts, dtc_id, row))
            elif known == ACTIVE:
                events.append(_event(DTC_CLEARED, truck_id, ts, dtc_id, row))
            elif dtc_id > self._seen.floor:
                events.append(_event(DTC_RAISED, truck_id, ts, dtc_id, row))
                events.append(_event(DTC_CLEARED, truck_id, ts, dtc_id, row))
        self._seen.prune(now_us, lambda state: state == CLEARED)
        return events


def _event(kind: str, truck_id: str, ts: int, dtc_id: int, row: Mapping[str, Any]) -> Event:
    data: dict[str, Any] = {"dtc_id": dtc_id, "status": ACTIVE if kind == DTC_RAISED else CLEARED}
    for name in _FIELDS:
        if name in row:
            data[name] = json_safe(row[name])
    if kind == DTC_RAISED and "cleared_at" in data:
        data["cleared_at"] = None  # the raise is the row as it was before its clear
    return Event(kind=kind, truck_id=truck_id, ts=ts, data=data)
