"""The embedded default store: one SQLite file, no server to install.

sqlite3 is blocking, so every query runs on one dedicated worker thread that owns the
connection (SQLite connections are not for concurrent use). WAL mode lets the simulator,
a separate process, write while the gateway reads. Times are stored as UTC text that
sorts chronologically; they are parsed back into datetimes so rows leave this store in
exactly the JSON shape the MySQL store gives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar

from gateway.core.rows import Row, json_safe_row
from gateway.dburl import DbUrl
from gateway.store import sql
from gateway.store.base import StoreUnavailable

T = TypeVar("T")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _to_db(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime(_TIME_FORMAT)
    return value


def _from_db(row: sqlite3.Row, time_columns: frozenset[str]) -> Row:
    out: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row is not a mapping
        value = row[key]
        if key in time_columns and isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        out[key] = value
    return json_safe_row(out)


class SQLiteStore:
    """Store backed by one SQLite file, queried on a private worker thread."""

    kind = "sqlite"

    def __init__(self, url: DbUrl, *, query_timeout: float = 5.0) -> None:
        self._path = url.path
        self._timeout = query_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None
        self.queries: Counter[str] = Counter()
        self._columns = sql.columns_of("sqlite")
        self._time_columns = frozenset(
            c for cols in self._columns.values() for c in cols
            if c in ("timestamp", "updated_at", "timestamp_utc", "cleared_at", "refuel_time")
        )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=self._timeout, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    async def _call(self, kind: str, work: Callable[[sqlite3.Connection], T]) -> T:
        self.queries[kind] += 1

        def run() -> T:
            if self._conn is None:
                self._conn = self._connect()
            return work(self._conn)

        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, run), self._timeout)
        except (sqlite3.OperationalError, TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}"[:200]) from None

    async def _select(self, kind: str, query: str, params: Sequence[Any] = ()) -> list[Row]:
        text = query.replace("%s", "?")
        values = tuple(_to_db(p) for p in params)
        rows = await self._call(kind, lambda c: c.execute(text, values).fetchall())
        return [_from_db(r, self._time_columns) for r in rows]

    async def _write(self, query: str, param_rows: Sequence[Sequence[Any]]) -> None:
        text = query.replace("%s", "?")
        values = [tuple(_to_db(p) for p in row) for row in param_rows]

        def work(conn: sqlite3.Connection) -> None:
            with conn:  # one transaction per batch: the reader never sees half of it
                conn.executemany(text, values)

        await self._call("write", work)

    async def open(self) -> None:
        """Nothing to do up front: the file is opened on the worker thread at first use."""

    async def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=False)

    async def stats(self) -> dict[str, Any]:
        await self._select("ping", "SELECT 1")
        return {"store": "sqlite", "database": f"sqlite:///{self._path}", "pool_size": 1, "pool_free": 1}

    async def create_schema(self) -> None:
        script = ";\n".join(sql.schema_statements("sqlite")) + ";"
        await self._call("ddl", lambda c: c.executescript(script))

    async def fetch_sensor_row(self, truck_id: str) -> Row | None:
        rows = await self._select("sensor_row", sql.SENSOR_ROW, (truck_id,))
        return rows[0] if rows else None

    async def fetch_sensor_rows(self, truck_ids: Sequence[str]) -> dict[str, Row]:
        if not truck_ids:
            return {}
        rows = await self._select("sensor_rows", sql.sensor_rows(len(truck_ids)), tuple(truck_ids))
        return {r["truck_id"]: r for r in rows}

    async def truck_exists(self, truck_id: str) -> bool:
        return bool(await self._select("truck_exists", sql.TRUCK_EXISTS, (truck_id,)))

    async def list_trucks(self, after: str | None, limit: int, only: Sequence[str] | None = None) -> list[Row]:
        if only is not None and not only:
            return []
        rows = await self._select("list_trucks", sql.list_trucks(len(only) if only else None),
                                (after or "", *(only or ()), limit))
        return rows

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
        high, last_id = before if before and before[0] <= until else (until, 0)  # id < 0: first page is [since, until)
        return await self._select("refuels", sql.REFUELS, (truck_id, since, high, high, last_id, limit))

    async def upsert_sensor_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = sql.checked_columns(self._columns, "truck_sensors_cache", rows[0])
        updates = ", ".join(f"`{c}` = excluded.`{c}`" for c in columns if c != "truck_id")
        query = f"{sql.insert('truck_sensors_cache', columns)} ON CONFLICT (truck_id) DO UPDATE SET {updates}"
        await self._write(query, [[r[c] for c in columns] for r in rows])

    async def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = sql.checked_columns(self._columns, table, rows[0])
        await self._write(sql.insert(table, columns), [[r[c] for c in columns] for r in rows])

    async def clear_dtcs(self, ids: Sequence[int], cleared_at: dt.datetime) -> None:
        if ids:
            await self._write(sql.clear_dtcs(len(ids)), [(cleared_at, *ids)])
