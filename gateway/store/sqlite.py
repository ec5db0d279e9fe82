"""The embedded default store: one SQLite file, no server to install.

sqlite3 is blocking, so every query runs on a dedicated worker thread that owns its
connection (SQLite connections are not for concurrent use). There are two, one per lane
(``gateway.store.base``): the pollers' reads and the readiness probe never queue behind
REST pages or writes. WAL mode lets both readers, and the simulator in another process,
work at once. Times are stored as UTC text that
sorts chronologically; they are parsed back into datetimes so rows leave this store in
exactly the JSON shape the MySQL store gives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar

from gateway.core.rows import Row, json_safe_row
from gateway.store import sql
from gateway.store.base import StoreSchemaMissing, StoreUnavailable
from gateway.store.common import LIVE, SHARED, SqlStore
from gateway.store.url import DbUrl

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


class SQLiteStore(SqlStore):
    """Store backed by one SQLite file, queried on a private worker thread."""

    kind = "sqlite"
    dialect = "sqlite"

    def __init__(self, url: DbUrl, *, query_timeout: float = 5.0) -> None:
        self._path = url.path
        self._timeout = query_timeout
        self._executors = {lane: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{lane}")
                           for lane in (LIVE, SHARED)}
        self._conns: dict[str, sqlite3.Connection] = {}
        super().__init__()
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

    async def _call(self, kind: str, work: Callable[[sqlite3.Connection], T], lane: str = SHARED) -> T:
        self.queries[kind] += 1

        def run() -> T:
            conn = self._conns.get(lane)
            if conn is None:  # only this lane's thread ever touches its connection
                conn = self._conns[lane] = self._connect()
            return work(conn)

        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executors[lane], run), self._timeout)
        except (sqlite3.OperationalError, TimeoutError, OSError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table"):
                raise StoreSchemaMissing(str(exc)[:200]) from None
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}"[:200]) from None

    async def _select(self, kind: str, query: str, params: Sequence[Any] = (), lane: str = SHARED) -> list[Row]:
        text = query.replace("%s", "?")
        values = tuple(_to_db(p) for p in params)
        rows = await self._call(kind, lambda c: c.execute(text, values).fetchall(), lane)
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
        loop = asyncio.get_running_loop()
        for lane, executor in self._executors.items():
            def shut(lane: str = lane) -> None:
                conn = self._conns.pop(lane, None)
                if conn is not None:
                    conn.close()

            await loop.run_in_executor(executor, shut)
            executor.shutdown(wait=False)

    async def stats(self) -> dict[str, Any]:
        await self._select("ping", sql.PROBE, lane=LIVE)
        return {"store": "sqlite", "database": f"sqlite:///{self._path}", "pool_size": 2, "pool_free": 2}

    async def create_schema(self) -> None:
        script = ";\n".join(sql.schema_statements("sqlite")) + ";"
        await self._call("ddl", lambda c: c.executescript(script))

    def _upsert_clause(self, columns: Sequence[str]) -> str:
        updates = ", ".join(f"`{c}` = excluded.`{c}`" for c in columns if c != "truck_id")
        return f"ON CONFLICT (truck_id) DO UPDATE SET {updates}"
