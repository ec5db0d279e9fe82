"""The query logic both stores share, written once over two primitives.

A backend supplies ``_select`` (run a query on a lane, return JSON-safe rows), ``_write``
(run one statement for many parameter rows, batched), ``_upsert_clause`` (its dialect's
"insert or replace") and ``exact_truck_id`` (the column compared case-sensitively);
everything that decides *what* to ask lives here, so MySQL and the embedded store cannot
drift apart.

Truck ids are exact (``gateway.store.base``): a lookup by id keeps only the row stored
under that very id, so a case-insensitive collation cannot hand ``AZ0084`` to ``az0084``.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.core.rows import Row
from gateway.store import sql

LIVE = "live"  # the pollers' reads and the readiness probe: capacity REST can never take
SHARED = "shared"  # everything else (REST, writes, DDL)


class SqlStore(ABC):
    """Store operations expressed as parameterised SQL (``%s`` placeholders)."""

    kind: str
    dialect: str
    exact_truck_id: str = "truck_id"

    def __init__(self) -> None:
        self.queries: Counter[str] = Counter()
        self._columns = sql.columns_of(self.dialect)

    @abstractmethod
    async def _select(self, kind: str, query: str, params: Sequence[Any] = (), lane: str = SHARED) -> list[Row]:
        """Run a query counted under ``kind`` on ``lane``; rows come back JSON-safe."""

    @abstractmethod
    async def _write(self, query: str, param_rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row, batched as the backend allows."""

    @abstractmethod
    def _upsert_clause(self, columns: Sequence[str]) -> str:
        """The dialect's tail turning an INSERT into insert-or-replace on the primary key."""

    async def fetch_sensor_row(self, truck_id: str) -> Row | None:
        rows = await self._select("sensor_row", sql.SENSOR_ROW, (truck_id,))
        return next((r for r in rows if r["truck_id"] == truck_id), None)

    async def fetch_sensor_rows(self, truck_ids: Sequence[str]) -> dict[str, Row]:
        if not truck_ids:
            return {}
        rows = await self._select("sensor_rows", sql.sensor_rows(len(truck_ids)), tuple(truck_ids), lane=LIVE)
        # Keyed by the stored id: a request for another spelling of it finds nothing.
        return {r["truck_id"]: r for r in rows}

    async def truck_exists(self, truck_id: str) -> bool:
        rows = await self._select("truck_exists", sql.TRUCK_EXISTS, (truck_id,))
        return any(r["truck_id"] == truck_id for r in rows)

    async def list_trucks(self, after: str | None, limit: int, only: Sequence[str] | None = None) -> list[Row]:
        if only is not None and not only:
            return []
        ids = tuple(only or ())
        return await self._select("list_trucks", sql.list_trucks(len(ids) or None, self.exact_truck_id),
                                  (after or "", *ids, *ids, limit))

    async def fleet_ids(self, after: str | None, limit: int) -> list[str]:
        """Truck ids after ``after``, in order: the fleet channel's listing (on the live lane)."""
        rows = await self._select("fleet_ids", sql.list_trucks(None, self.exact_truck_id), (after or "", limit),
                                  lane=LIVE)
        return [r["truck_id"] for r in rows]

    async def active_dtc_events(self, limit: int) -> list[Row]:
        """Active DTC rows, oldest first (the alerts feed's baseline)."""
        return await self._select("alerts", sql.ACTIVE_DTCS, (limit,), lane=LIVE)

    async def max_event_id(self, table: str) -> int:
        """The highest id of ``dtc_events`` or ``refuel_events`` (0 when empty)."""
        rows = await self._select("alerts", sql.MAX_ID[table], (), lane=LIVE)
        return int(rows[0]["id"] or 0) if rows else 0

    async def events_after(self, table: str, after_id: int, limit: int) -> list[Row]:
        """Rows of ``dtc_events`` or ``refuel_events`` with an id above ``after_id``, by id."""
        return await self._select("alerts", sql.EVENTS_AFTER[table], (after_id, limit), lane=LIVE)

    async def dtc_events_by_id(self, ids: Sequence[int]) -> list[Row]:
        """DTC rows by id."""
        if not ids:
            return []
        return await self._select("alerts", sql.dtcs_by_id(len(ids)), tuple(ids), lane=LIVE)

    async def history(
        self,
        truck_id: str,
        since: dt.datetime,
        until: dt.datetime,
        after: tuple[dt.datetime, int] | None,
        limit: int,
    ) -> list[Row]:
        low, last_id = after if after and after[0] >= since else (since, 0)
        return await self._select("history", sql.HISTORY, (truck_id, low, until, low, last_id, limit))

    async def dtc_events(
        self,
        truck_id: str,
        statuses: Sequence[str] | None,
        severities: Sequence[str] | None,
        since: dt.datetime | None,
        limit: int,
        before: tuple[dt.datetime, int] | None = None,
    ) -> list[Row]:
        query = sql.dtc_events(len(statuses or ()), len(severities or ()), since is not None, before is not None)
        params: list[Any] = [truck_id, *(statuses or ()), *(severities or ())]
        if since is not None:
            params.append(since)
        if before is not None:
            params += [before[0], before[0], before[1]]
        return await self._select("dtcs", query, (*params, limit))

    async def refuel_events(
        self, truck_id: str, since: dt.datetime, until: dt.datetime, limit: int,
        before: tuple[dt.datetime, int] | None = None,
    ) -> list[Row]:
        high, last_id = before if before and before[0] <= until else (until, 0)  # id < 0: first page [since, until)
        return await self._select("refuels", sql.REFUELS, (truck_id, since, high, high, last_id, limit))

    async def upsert_sensor_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = sql.checked_columns(self._columns, "truck_sensors_cache", rows[0])
        query = f"{sql.insert('truck_sensors_cache', columns)} {self._upsert_clause(columns)}"
        await self._write(query, [[r[c] for c in columns] for r in rows])

    async def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = sql.checked_columns(self._columns, table, rows[0])
        await self._write(sql.insert(table, columns), [[r[c] for c in columns] for r in rows])

    async def clear_dtcs(self, ids: Sequence[int], cleared_at: dt.datetime) -> None:
        if ids:
            await self._write(sql.clear_dtcs(len(ids)), [(cleared_at, *ids)])
