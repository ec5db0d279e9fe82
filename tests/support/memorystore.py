"""An in-memory store of truck rows, for tests of the live path that need no database.

It implements the part of the Store protocol the hub and pollers use (batched row
reads, existence checks, query counts) over a dict, and can be switched "down" so reads
fail with ``StoreUnavailable`` exactly as a real store does during an outage. Tests of
SQL, indexes and drivers run against MariaDB and SQLite elsewhere; this one is for the
fan-out, subscription and status logic, as fast as plain function calls.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from gateway.store import StoreUnavailable


class MemoryStore:
    """Rows keyed by truck id; ``down`` makes every read fail; ``reads`` signals each read."""

    kind = "memory"

    def __init__(self, rows: dict[str, dict[str, Any]] | None = None) -> None:
        self.rows: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (rows or {}).items()}
        self.queries: Counter[str] = Counter()
        self.down = False
        self.reads: list[tuple[float, tuple[str, ...]]] = []
        self.dtcs: list[dict[str, Any]] = []  # dtc_events rows
        self.refuels: list[dict[str, Any]] = []  # refuel_events rows  # (monotonic time, ids) of every row read
        self._read = asyncio.Condition()

    def put(self, truck_id: str, **values: Any) -> None:
        """Change (or create) a truck's row, as the fleet's sync worker would."""
        self.rows.setdefault(truck_id, {"truck_id": truck_id}).update(values)

    async def wait_reads(self, kind: str, total: int, timeout: float = 5.0) -> None:
        """Wait until ``total`` queries of ``kind`` have run."""
        async with self._read:
            await asyncio.wait_for(self._read.wait_for(lambda: self.queries[kind] >= total), timeout)

    async def _count(self, kind: str) -> None:
        self.queries[kind] += 1
        async with self._read:
            self._read.notify_all()
        if self.down:
            raise StoreUnavailable("memory store is down")

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def stats(self) -> dict[str, Any]:
        await self._count("stats")
        return {"kind": self.kind}

    async def fetch_sensor_rows(self, truck_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.reads.append((time.monotonic(), tuple(truck_ids)))
        await self._count("sensor_rows")
        return {t: dict(self.rows[t]) for t in truck_ids if t in self.rows}

    async def fetch_sensor_row(self, truck_id: str) -> dict[str, Any] | None:
        await self._count("sensor_row")
        row = self.rows.get(truck_id)
        return dict(row) if row is not None else None

    async def fleet_ids(self, after: str | None, limit: int) -> list[str]:
        await self._count("fleet_ids")
        return sorted(t for t in self.rows if t > (after or ""))[:limit]

    async def active_dtc_events(self, limit: int) -> list[dict[str, Any]]:
        await self._count("alerts")
        return [r for r in self.dtcs if r["status"] == "active"][:limit]

    async def max_event_id(self, table: str) -> int:
        await self._count("alerts")
        rows = self.dtcs if table == "dtc_events" else self.refuels
        return max((r["id"] for r in rows), default=0)

    async def events_after(self, table: str, after_id: int, limit: int) -> list[dict[str, Any]]:
        await self._count("alerts")
        rows = self.dtcs if table == "dtc_events" else self.refuels
        return [dict(r) for r in rows if r["id"] > after_id][:limit]

    async def dtc_events_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        await self._count("alerts")
        return [dict(r) for r in self.dtcs if r["id"] in set(ids)]

    async def truck_exists(self, truck_id: str) -> bool:
        await self._count("truck_exists")
        return truck_id in self.rows
