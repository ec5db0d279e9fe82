"""One private binlog-enabled MariaDB for the whole directory; a database per test in it.

The shared MariaDB has the binary log off and must keep it so; these tests start their
own server (tests/support/private_mariadb.py). If it cannot start, every test here fails
with the server's error log tail: nothing is skipped.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pymysql
import pytest

from gateway.changes import BinlogReader, ConnParams, Position
from gateway.config import Settings
from gateway.server.app import make_app
from gateway.server.keys import HUB
from gateway.store import Store, open_store
from gateway.store.url import parse_db_url
from tests.changes.collect import Collector
from tests.changes.gateway import BinlogGateway
from tests.support.private_mariadb import PrivateMariaDB, ServerStartError

_server_ids = itertools.count(1001)


def start_private(binlog: bool) -> PrivateMariaDB:
    """Start a private server or fail the test with the reason and the log tail."""
    server = PrivateMariaDB(binlog=binlog)
    try:
        server.start()
    except ServerStartError as exc:
        pytest.fail(f"cannot start a private MariaDB (binlog={binlog}): {exc}", pytrace=False)
    return server


@pytest.fixture(scope="session")
def binlog_server() -> Iterator[PrivateMariaDB]:
    """The private MariaDB with log_bin, ROW, FULL image and FULL row metadata."""
    server = start_private(binlog=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def params(binlog_server: PrivateMariaDB) -> ConnParams:
    return ConnParams(host=binlog_server.host, port=binlog_server.port, user="root", password="")


@pytest.fixture
def server_id() -> int:
    """A replica id no other reader of this session uses."""
    return next(_server_ids)


@pytest.fixture
def db(binlog_server: PrivateMariaDB) -> Iterator[str]:
    """A fresh database in the private server, dropped afterwards."""
    name = f"gwbl_{uuid.uuid4().hex[:12]}"
    conn = binlog_server.connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def sql(binlog_server: PrivateMariaDB, db: str) -> Iterator[pymysql.cursors.Cursor]:
    """An autocommit cursor in the test's database: writes 'by the fleet's sync worker'."""
    conn = binlog_server.connect(db, charset="utf8mb4")
    try:
        yield conn.cursor()
    finally:
        conn.close()


@pytest.fixture
async def store(binlog_server: PrivateMariaDB, db: str) -> AsyncIterator[Store]:
    """The project's MySQL store on the test's database, schema created."""
    st = open_store(parse_db_url(f"mysql://root:@{binlog_server.host}:{binlog_server.port}/{db}"),
                    pool_min=1, pool_max=2, query_timeout=5.0)
    await st.create_schema()
    try:
        yield st
    finally:
        await st.close()


@pytest.fixture
async def start_reader(params: ConnParams, db: str) -> AsyncIterator[Callable[..., BinlogReader]]:
    """``start_reader(start, collector, **options)``: a started reader, stopped at teardown."""
    made: list[BinlogReader] = []

    def make(start: Position, collector: Collector, **options) -> BinlogReader:
        options.setdefault("heartbeat", 1.0)
        options.setdefault("backoff", (0.05, 0.5))
        reader = BinlogReader(options.pop("params", params), options.pop("database", db), next(_server_ids), start,
                              collector.on_batch, collector.on_state, **options)
        reader.start()
        made.append(reader)
        return reader

    try:
        yield make
    finally:
        for reader in made:
            await reader.stop()


@pytest.fixture
async def start_gateway(binlog_server: PrivateMariaDB, db: str, store: Store, aiohttp_server
                        ) -> AsyncIterator[Callable[..., Awaitable[BinlogGateway]]]:
    """``await start_gateway(binlog_port=None, **settings)``: a ``--changes binlog`` gateway on
    the test's database, polling every 30 s unless told otherwise, so only the binlog can
    explain a change arriving. ``binlog_port`` points ``--db`` (the binlog connection) at a
    proxy; the store always talks to the server directly (``store_`` gives another one)."""
    sessions: list[aiohttp.ClientSession] = []

    async def start(*, binlog_port: int | None = None, store_: Store | None = None, **overrides: Any
                    ) -> BinlogGateway:
        port = binlog_port or binlog_server.port
        base: dict[str, Any] = {"db": parse_db_url(f"mysql://root:@{binlog_server.host}:{port}/{db}"),
                                "changes": "binlog", "poll_interval": 30.0, "linger": 5.0, "heartbeat": 30.0,
                                "binlog_server_id": next(_server_ids)}
        used = store_ or store
        app = make_app(Settings(**{**base, **overrides}), used)
        server = await aiohttp_server(app)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        sessions.append(session)
        return BinlogGateway(url=str(server.make_url("")).rstrip("/"), app=app, hub=app[HUB], store=used,
                             session=session)

    yield start  # torn down before the store and the database (fixture order)
    for session in sessions:
        await session.close()
