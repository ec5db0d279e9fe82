"""A throwaway fleet database for self-contained runs (compare mode and the smoke tests).

``scratch_database`` creates a uniquely named database (``lt_<random>``) on a MariaDB
server, lays the project's schema in it with ``gateway initdb`` (the product's own
command), fills ``truck_sensors_cache`` with one realistic row per truck from the fleet
model (no history: a load run needs only the live rows, and a day of history for a
thousand trucks would take longer to write than the run takes), and always drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import sys
from collections.abc import AsyncIterator

import aiomysql

from gateway.sim.fleet import Fleet
from gateway.store.url import DbUrl, parse_db_url

_INITDB_TIMEOUT_S = 60.0


def server_of(url: str) -> DbUrl:
    """A MariaDB server URL (``mysql://user:pass@host:port``); a database name in it is ignored."""
    text = url.rstrip("/")
    if text.count("/") < 3:
        text += "/placeholder"
    return parse_db_url(text)


def with_database(server: DbUrl, name: str) -> str:
    """The URL text of database ``name`` on ``server`` (password kept: it is passed to our own children)."""
    auth = server.user + (f":{server.password}" if server.password else "")
    return f"mysql://{auth}@{server.host}:{server.port}/{name}"


async def _admin(server: DbUrl, database: str | None = None) -> aiomysql.Connection:
    return await aiomysql.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                                  db=database, autocommit=True, connect_timeout=10)


async def _initdb(url: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway", "initdb", "--db", url,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), _INITDB_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("gateway initdb timed out") from None
    if proc.returncode != 0:
        raise RuntimeError(f"gateway initdb failed: {err.decode().strip()[-300:]}")


async def seed_rows(server: DbUrl, database: str, trucks: list[str]) -> None:
    """One current ``truck_sensors_cache`` row per truck, from the fleet model."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = Fleet(trucks, seed=1).step(now, 1.0).sensor_rows
    columns = list(rows[0])
    query = (f"INSERT INTO truck_sensors_cache ({', '.join(f'`{c}`' for c in columns)}) "
             f"VALUES ({', '.join(['%s'] * len(columns))})")
    conn = await _admin(server, database)
    try:
        async with conn.cursor() as cur:
            for i in range(0, len(rows), 500):
                await cur.executemany(query, [tuple(r[c] for c in columns) for r in rows[i : i + 500]])
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, trucks: list[str]) -> AsyncIterator[str]:
    """Yield the URL of a fresh fleet database holding ``trucks``; drop it afterwards, whatever happens."""
    server = server_of(server_url)
    name = f"lt_{secrets.token_hex(6)}"
    conn = await _admin(server)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        url = with_database(server, name)
        await _initdb(url)
        await seed_rows(server, name, trucks)
        yield url
    finally:
        with contextlib.suppress(Exception):
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
