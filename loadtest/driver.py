"""The database driver: plays the fleet's sync worker at a fixed rate and records every write.

Each slice of the schedule is one multi-row ``INSERT ... ON DUPLICATE KEY UPDATE`` of the
driven columns (PyMySQL's ``executemany`` folds the rows into one statement), so the
driver's own load on MariaDB is a handful of statements a second, not one per truck,
and it stays out of the ``Com_select`` count the comparison is about. Autocommit is on:
a write is visible to the gateway's pollers the moment the statement returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiomysql

from gateway.store.url import DbUrl
from loadtest.motion import DRIVEN_COLUMNS, TruckMotion
from loadtest.schedule import DriveResult, Schedule, run_schedule

_UPSERT = (
    f"INSERT INTO truck_sensors_cache ({', '.join(f'`{c}`' for c in DRIVEN_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(DRIVEN_COLUMNS))}) "
    f"ON DUPLICATE KEY UPDATE {', '.join(f'`{c}` = VALUES(`{c}`)' for c in DRIVEN_COLUMNS[1:])}"
)
_WRITE_TIMEOUT_S = 5.0


async def connect(url: DbUrl, size: int = 2) -> aiomysql.Pool:
    """A small autocommit pool on the database named by ``url``."""
    return await aiomysql.create_pool(
        host=url.host, port=url.port, user=url.user, password=url.password, db=url.database,
        minsize=1, maxsize=size, autocommit=True, connect_timeout=10, charset="utf8mb4",
    )


async def truck_ids(url: DbUrl, limit: int) -> list[str]:
    """The first ``limit`` truck ids of the database, in id order."""
    pool = await connect(url, 1)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT truck_id FROM truck_sensors_cache ORDER BY truck_id LIMIT %s", (limit,))
            return [row[0] for row in await cur.fetchall()]
    finally:
        pool.close()
        await pool.wait_closed()


class MySQLDriver:
    """Writes the schedule's updates into ``truck_sensors_cache``."""

    def __init__(self, url: DbUrl) -> None:
        self._url = url
        self._pool: aiomysql.Pool | None = None
        self._motion: dict[str, TruckMotion] = {}
        self._last_us: dict[str, int] = {}

    async def prepare(self, trucks: Sequence[str]) -> None:
        """Open the pool and start every truck from its stored position."""
        self._pool = await connect(self._url, 2)
        rows: dict[str, dict] = {}
        async with self._pool.acquire() as conn, conn.cursor(aiomysql.DictCursor) as cur:
            for i in range(0, len(trucks), 500):
                chunk = list(trucks[i : i + 500])
                await cur.execute(
                    "SELECT truck_id, latitude, longitude, odometer_mi FROM truck_sensors_cache "
                    f"WHERE truck_id IN ({', '.join(['%s'] * len(chunk))})", chunk)
                rows.update({r["truck_id"]: r for r in await cur.fetchall()})
        self._motion = {t: TruckMotion.start(t, rows.get(t)) for t in trucks}

    async def write_slice(self, trucks: Sequence[str], stamp_us: int) -> None:
        """One statement updating ``trucks`` with fresh values stamped ``stamp_us``."""
        assert self._pool is not None, "prepare() first"
        params = []
        for truck in trucks:
            elapsed = (stamp_us - self._last_us.get(truck, stamp_us - 1_000_000)) / 1e6
            self._last_us[truck] = stamp_us
            values = self._motion[truck].step(stamp_us, elapsed)
            params.append(tuple(values[c] for c in DRIVEN_COLUMNS))
        async with asyncio.timeout(_WRITE_TIMEOUT_S), self._pool.acquire() as conn, conn.cursor() as cur:
            await cur.executemany(_UPSERT, params)

    async def run(self, schedule: Schedule, stop: asyncio.Event | None = None) -> DriveResult:
        """Drive the whole schedule (``prepare`` must have run)."""
        return await run_schedule(schedule, self.write_slice, stop)

    async def close(self) -> None:
        """Close the pool (bounded)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            try:
                await asyncio.wait_for(pool.wait_closed(), 5)
            except TimeoutError:
                pool.terminate()
