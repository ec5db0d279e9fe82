"""Refuel alerts from two sources, reported once: ``refuel_events`` rows and level jumps.

Rules:
- A new ``refuel_events`` id is a refuel (source ``refuel_events``); re-reads give nothing
  (``seen.SeenIds``, as for DTCs).
- A rise of ``fuel_level_pct`` between two readings by more than ``refuel_jump_pct`` is a
  refuel (source ``fuel_level``), timed at the new reading's ``timestamp``.
- One refuel, two sightings: times are compared per truck, within ``refuel_merge_s``.
  * A jump within the window of any refuel already recorded for the truck (a row, or an
    earlier jump: a fill seen over several readings) is the same refuel: nothing.
  * A row within the window of a jump not yet matched to a row is that jump's refuel:
    nothing (it was reported at the jump, without its ``gallons_added``, when the level
    showed it first). Each jump absorbs at most one row, so two real fills logged minutes
    apart are both reported.
- Recorded refuels are forgotten ``retain_s`` after they were seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.alerts.events import REFUEL, Event, number, time_us
from gateway.core.alerts.seen import SeenIds, row_key
from gateway.core.rows import json_safe

SOURCE_ROW = "refuel_events"
SOURCE_LEVEL = "fuel_level"
_SEEN = "seen"


@dataclass(slots=True)
class _Sighting:
    at_us: int
    source: str
    matched: bool
    seen_us: int


class RefuelTracker:
    """Refuels recorded per truck, to report each one once whichever source shows it."""

    __slots__ = ("_merge_us", "_retain_us", "_seen", "_sightings")

    def __init__(self, merge_us: int, retain_us: int) -> None:
        self._merge_us = merge_us
        self._retain_us = retain_us
        self._seen = SeenIds(retain_us)
        self._sightings: dict[str, list[_Sighting]] = {}

    def prime(self, rows: Iterable[Mapping[str, Any]], now_us: int) -> None:
        """Take the first read as the baseline: remember the rows, report nothing."""
        for row in rows:
            key = row_key(row)
            if key is not None:
                self._seen.record(key[0], _SEEN, now_us)
                self._seen.raise_floor(key[0])
                at = time_us(row.get("refuel_time"))
                self._add(key[1], _Sighting(now_us if at is None else at, SOURCE_ROW, True, now_us))

    def observe(self, rows: Iterable[Mapping[str, Any]], now_us: int) -> list[Event]:
        """Events for the ``refuel_events`` rows not seen before (see the module rules)."""
        events: list[Event] = []
        self._prune(now_us)
        for row in sorted(rows, key=lambda r: r.get("id") if type(r.get("id")) is int else 0):
            key = row_key(row)
            if key is None or self._seen.state(key[0]) is not None:
                continue
            refuel_id, truck_id = key
            self._seen.record(refuel_id, _SEEN, now_us)
            if refuel_id <= self._seen.floor:
                continue
            at = time_us(row.get("refuel_time"))
            at = now_us if at is None else at
            jump = self._unmatched_jump(truck_id, at)
            self._add(truck_id, _Sighting(at, SOURCE_ROW, True, now_us))
            if jump is not None:
                jump.matched = True
                continue
            data = {"source": SOURCE_ROW, "refuel_id": refuel_id}
            for name in ("refuel_time", "gallons_added", "fuel_level_before_pct", "fuel_level_after_pct"):
                data[name] = json_safe(row.get(name))
            events.append(Event(kind=REFUEL, truck_id=truck_id, ts=now_us // 1000, data=data))
        self._seen.prune(now_us, lambda _state: True)
        return events

    def level_jump(
        self, truck_id: str, prev: Mapping[str, Any], row: Mapping[str, Any], now_us: int, jump_pct: float
    ) -> Event | None:
        """A ``refuel`` when the level rose by more than ``jump_pct`` from ``prev`` to ``row``."""
        before, after = number(prev.get("fuel_level_pct")), number(row.get("fuel_level_pct"))
        if before is None or after is None or after - before <= jump_pct:
            return None
        self._prune(now_us)
        at = time_us(row.get("timestamp"))
        at = now_us if at is None else at
        known = any(abs(s.at_us - at) <= self._merge_us for s in self._sightings.get(truck_id, ()))
        # Matched: a row arriving later pairs with the first jump of this fill, not this one.
        self._add(truck_id, _Sighting(at, SOURCE_LEVEL, known, now_us))
        if known:
            return None
        gal_before, gal_after = number(prev.get("estimated_gallons")), number(row.get("estimated_gallons"))
        gallons = None if gal_before is None or gal_after is None else round(gal_after - gal_before, 2)
        data = {"source": SOURCE_LEVEL, "refuel_id": None, "refuel_time": json_safe(row.get("timestamp")),
                "gallons_added": gallons, "fuel_level_before_pct": before, "fuel_level_after_pct": after}
        return Event(kind=REFUEL, truck_id=truck_id, ts=now_us // 1000, data=data)

    def _unmatched_jump(self, truck_id: str, at_us: int) -> _Sighting | None:
        for s in self._sightings.get(truck_id, ()):
            if s.source == SOURCE_LEVEL and not s.matched and abs(s.at_us - at_us) <= self._merge_us:
                return s
        return None

    def _add(self, truck_id: str, sighting: _Sighting) -> None:
        self._sightings.setdefault(truck_id, []).append(sighting)

    def _prune(self, now_us: int) -> None:
        horizon = now_us - self._retain_us
        for truck_id in [t for t, ss in self._sightings.items() if ss[0].seen_us < horizon]:
            kept = [s for s in self._sightings[truck_id] if s.seen_us >= horizon]
            if kept:
                self._sightings[truck_id] = kept
            else:
                del self._sightings[truck_id]
