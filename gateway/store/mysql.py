"""The production store: MySQL/MariaDB through an aiomysql pool.

Pool rules (known aiomysql pitfalls): ``autocommit=True`` so every poll reads the latest
committed row instead of a REPEATABLE READ snapshot; ``pool_recycle`` below the server's
``wait_timeout``; one connection per query, never held across a sleep; every query under
a timeout, and a connection whose query was interrupted is closed rather than reused
(its protocol state is unknown). The pool is created lazily, so a database that is down
at start only makes queries fail with ``StoreUnavailable`` until it comes back.

Lanes (``gateway.store.base``): queries of the shared lane (REST, writes) first take one of
``pool_max - pool_live_reserve`` permits, so at least ``pool_live_reserve`` connections are
always left to the pollers. A shared query that finds no permit within the query timeout
is ``StoreBusy``, not an outage. The live lane takes no permit (it may also use
connections REST leaves idle); its wait for a connection stays inside the query timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections.abc import Sequence
from typing import Any

import aiomysql
import pymysql
import pymysql.converters
from pymysql.constants import FIELD_TYPE

from gateway.core.rows import Row, json_safe_row
from gateway.store import sql
from gateway.store.base import StoreBusy, StoreSchemaMissing, StoreUnavailable
from gateway.store.common import LIVE, SHARED, SqlStore
from gateway.store.url import DbUrl

log = logging.getLogger(__name__)

# Errors that mean "the database is not there right now", as opposed to a bug in a query.
_UNAVAILABLE = (
    pymysql.err.OperationalError,
    pymysql.err.InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
)


def _datetime_text(text: str) -> str | None:
    """MySQL's DATETIME text straight to ISO 8601 UTC, as ``format_utc`` renders a datetime.

    Decoding to a datetime and formatting it again costs more than the rest of a history
    row; the server's text already is ``YYYY-MM-DD HH:MM:SS[.ffffff]``.
    """
    if text.startswith("0000-00-00"):
        return None  # MySQL's "zero date" is no time at all
    if text.endswith(".000000"):
        text = text[:-7]
    return text.replace(" ", "T", 1) + "Z"


# Decode DECIMAL to float and DATETIME to ISO text in the driver: rows then need no
# second pass (the JSON value rules of gateway.core.rows), which halves the cost of a 1,000-row history page.
DECODERS = {**pymysql.converters.decoders,
            FIELD_TYPE.DECIMAL: float, FIELD_TYPE.NEWDECIMAL: float,
            FIELD_TYPE.DATETIME: _datetime_text, FIELD_TYPE.TIMESTAMP: _datetime_text}
ER_NO_SUCH_TABLE = 1146
_SLICE = 500
_CREATE_INDEX = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+) ON (\w+) (.*)", re.S)


class MySQLStore(SqlStore):
    """Store backed by an aiomysql pool."""

    kind = "mysql"
    dialect = "mysql"
    exact_truck_id = "BINARY truck_id"

    def __init__(
        self,
        url: DbUrl,
        *,
        pool_min: int = 5,
        pool_max: int = 20,
        pool_recycle: float = 3600.0,
        query_timeout: float = 5.0,
        pool_live_reserve: int = 0,
    ) -> None:
        self._url = url
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._live_reserve = min(pool_live_reserve, pool_max - 1)
        self._shared_permits = pool_max - self._live_reserve
        self._shared = asyncio.Semaphore(self._shared_permits)
        self._shared_in_use = 0
        self.busy = 0  # shared-lane queries refused for want of a connection
        self._recycle = pool_recycle
        self._timeout = query_timeout
        self._pool: aiomysql.Pool | None = None
        self._pool_lock = asyncio.Lock()
        super().__init__()

    async def open(self) -> None:
        """Try to create the pool now; a failure is logged and retried on first use."""
        try:
            await self._get_pool()
        except StoreUnavailable as exc:
            log.warning("database %s not reachable yet: %s", self._url.redacted(), exc)

    async def _get_pool(self) -> aiomysql.Pool:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                try:
                    self._pool = await asyncio.wait_for(
                        aiomysql.create_pool(
                            host=self._url.host,
                            port=self._url.port,
                            user=self._url.user,
                            password=self._url.password,
                            db=self._url.database,
                            minsize=self._pool_min,
                            maxsize=self._pool_max,
                            pool_recycle=int(self._recycle),
                            autocommit=True,
                            connect_timeout=self._timeout,
                            charset="utf8mb4",
                            conv=DECODERS,
                        ),
                        self._timeout,
                    )
                except (*_UNAVAILABLE, pymysql.err.MySQLError) as exc:
                    raise StoreUnavailable(_describe(exc)) from None
            return self._pool

    async def close(self) -> None:
        """Close the pool; waiting for in-flight connections is bounded."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.close()
        try:
            await asyncio.wait_for(pool.wait_closed(), 5)
        except TimeoutError:
            pool.terminate()

    async def _run(self, kind: str, query: str, params: Sequence[Any] = (), *, many: bool = False,
                   lane: str = SHARED) -> list[dict]:
        """Run one statement on a pooled connection under the query timeout."""
        pool = await self._get_pool()
        self.queries[kind] += 1
        if lane == LIVE:
            return await self._on_connection(pool, query, params, many)
        try:
            async with asyncio.timeout(self._timeout):
                await self._shared.acquire()
        except TimeoutError:
            self.busy += 1
            raise StoreBusy(f"no database connection free within {self._timeout:g} s") from None
        self._shared_in_use += 1
        try:
            return await self._on_connection(pool, query, params, many)
        finally:
            self._shared_in_use -= 1
            self._shared.release()

    async def _on_connection(self, pool: aiomysql.Pool, query: str, params: Sequence[Any], many: bool) -> list[dict]:
        try:
            async with asyncio.timeout(self._timeout):
                conn = await pool.acquire()
                try:
                    async with conn.cursor(aiomysql.DictCursor) as cur:
                        if many:
                            await cur.executemany(query, params)
                            return []
                        await cur.execute(query, params)
                        return list(await cur.fetchall())
                except BaseException:
                    # Interrupted mid-protocol (timeout, cancel, lost link): never reuse it.
                    conn.close()
                    raise
                finally:
                    pool.release(conn)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(_describe(exc)) from None
        except pymysql.err.ProgrammingError as exc:
            if exc.args and exc.args[0] == ER_NO_SUCH_TABLE:
                raise StoreSchemaMissing(_describe(exc)) from None
            raise

    async def stats(self) -> dict[str, Any]:
        """Probe a table on the live lane and report the pool's size."""
        await self._run("ping", sql.PROBE, lane=LIVE)
        pool = self._pool
        return {
            "store": "mysql",
            "database": self._url.redacted(),
            "pool_size": pool.size if pool else 0,
            "pool_free": pool.freesize if pool else 0,
            "pool_min": self._pool_min,
            "pool_max": self._pool_max,
            "pool_live_reserve": self._live_reserve,
            "shared_in_use": self._shared_in_use,
            "busy_total": self.busy,
        }

    async def create_schema(self) -> None:
        """Run sql/mysql.sql; indexes are created only when information_schema lacks them."""
        with warnings.catch_warnings():
            # "Table already exists" notes are the point of IF NOT EXISTS, not news.
            warnings.simplefilter("ignore", pymysql.Warning)
            await self._create_schema()

    async def _create_schema(self) -> None:
        for statement in sql.schema_statements("mysql"):
            match = _CREATE_INDEX.match(statement)
            if match is None:
                await self._run("ddl", statement)
                continue
            name, table, cols = match.groups()
            present = await self._run(
                "ddl",
                "SELECT 1 FROM information_schema.statistics "
                "WHERE table_schema = DATABASE() AND table_name = %s AND index_name = %s LIMIT 1",
                (table, name),
            )
            if not present:
                await self._run("ddl", f"CREATE INDEX {name} ON {table} {cols}")

    async def _select(self, kind: str, query: str, params: Sequence[Any] = (), lane: str = SHARED) -> list[Row]:
        rows = await self._run(kind, query, params, lane=lane)
        out: list[Row] = []
        for start in range(0, len(rows), _SLICE):
            if start:
                await asyncio.sleep(0)  # a 5,000-row page is converted in slices: the pollers run in between
            out.extend(json_safe_row(r) for r in rows[start:start + _SLICE])
        return out

    async def _write(self, query: str, param_rows: Sequence[Sequence[Any]]) -> None:
        # aiomysql folds an INSERT's rows into multi-row statements; rows are independent
        # readings, so a batch split across statements is still consistent row by row.
        await self._run("write", query, [tuple(r) for r in param_rows], many=True)

    def _upsert_clause(self, columns: Sequence[str]) -> str:
        updates = ", ".join(f"`{c}` = VALUES(`{c}`)" for c in columns if c != "truck_id")
        return f"ON DUPLICATE KEY UPDATE {updates}"


def _describe(exc: BaseException) -> str:
    """One line for logs: the error class and its first argument, never a password."""
    if isinstance(exc, TimeoutError):
        return "query timed out"
    detail = exc.args[-1] if getattr(exc, "args", None) else ""
    return f"{type(exc).__name__}: {detail}"[:200]
