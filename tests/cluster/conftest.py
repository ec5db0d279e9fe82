"""Gateway processes forming one cluster on Redis and MariaDB, started and stopped by pid.

Each test gets its own MariaDB database and its own key prefix on the shared Redis (every
key under it deleted afterwards); a test that kills Redis uses a private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import orjson
import pytest
import redis

from tests.conftest import MYSQL_HOST, MYSQL_PORT, admin_connection

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TRUCKS = ("FL-0001", "FL-0002", "CO0003")


@dataclass
class Node:
    """One ``gateway serve`` process."""

    proc: asyncio.subprocess.Process
    base: str
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def metrics(self, session: aiohttp.ClientSession) -> dict[str, float]:
        text = await (await session.get(self.base + "/metrics")).text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


class Socket:
    """A client on one node, recording every frame it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict] = []
        self.raw: list[str] = []
        self._got = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.raw.append(msg.data)
                self.frames.append(orjson.loads(msg.data))
                self._got.set()

    async def wait_for(self, done: Callable[[list[dict]], bool], timeout: float = 10.0) -> list[dict]:
        async with asyncio.timeout(timeout):
            while not done(self.frames):
                self._got.clear()
                await self._got.wait()
        return self.frames

    async def until(self, done: Callable[[Socket], bool], timeout: float = 10.0) -> None:
        """Wait until ``done(self)`` holds."""
        await self.wait_for(lambda _frames: done(self), timeout)

    def data(self, channel: str) -> list[dict]:
        return [f for f in self.frames if f.get("channel") == channel and f["type"] in ("snapshot", "diff")]


class ClusterRun:
    """The nodes, database and prefix of one test."""

    def __init__(self, database: str, prefix: str, session: aiohttp.ClientSession) -> None:
        self.database = database
        self.prefix = prefix
        self.session = session
        self.nodes: list[Node] = []
        self.sockets: list[Socket] = []
        self.db_url = f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{database}"

    async def start(self, *extra: str, broker: str = REDIS_URL, lease_ttl: float = 1.0) -> Node:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--port", "0", "--db", self.db_url, "--broker", broker,
            "--broker-prefix", self.prefix, "--lease-ttl", str(lease_ttl), "--poll-interval", "0.2",
            "--linger", "1", "--query-timeout", "2", "--log-level", "WARNING", *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("listening on "), line
        node = Node(proc, line.removeprefix("listening on "))
        self.nodes.append(node)
        return node

    async def watch(self, node: Node, *channels: str) -> Socket:
        ws = await self.session.ws_connect(node.base + "/v1/ws")
        sock = Socket(ws)
        self.sockets.append(sock)
        await sock.wait_for(lambda fs: fs and fs[0]["type"] == "welcome")
        await ws.send_str(orjson.dumps({"op": "subscribe", "id": 1, "channels": list(channels)}).decode())
        await sock.wait_for(lambda fs: len(fs) >= 2 + len(channels) - 1 and any(f["type"] == "ack" for f in fs))
        return sock

    def update(self, truck: str, **values: object) -> None:
        sets = ", ".join(f"`{k}` = %s" for k in values)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with admin_connection(self.database) as conn, conn.cursor() as cur:
            cur.execute(f"UPDATE truck_sensors_cache SET {sets}, `timestamp` = %s WHERE truck_id = %s",
                        (*values.values(), now, truck))

    async def stop(self, node: Node) -> int:
        if node.proc.returncode is None:
            node.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(node.proc.wait(), 20)


@contextlib.asynccontextmanager
async def cluster_on(database: str, db_url: str | None = None) -> AsyncIterator[ClusterRun]:
    """A ``ClusterRun`` on ``database`` (at ``db_url`` when given) under a fresh Redis prefix;
    afterwards every socket is closed, every node still running killed by its pid and
    every key of the prefix deleted. Fails (never skips) when Redis does not answer."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is required for the cluster tests and not reachable: {exc}", pytrace=False)
    prefix = f"gwtest-{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession() as session:
        run = ClusterRun(database, prefix, session)
        if db_url is not None:
            run.db_url = db_url
        try:
            yield run
        finally:
            for sock in run.sockets:
                await sock.ws.close()
            for node in run.nodes:
                if node.proc.returncode is None:
                    node.proc.kill()
                    await node.proc.wait()
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
            assert not list(client.scan_iter(match=f"{prefix}:*", count=1000))
            client.close()


@pytest.fixture
async def cluster_run(mysql_db) -> AsyncIterator[ClusterRun]:
    with admin_connection(mysql_db) as conn, conn.cursor() as cur:
        from gateway.store.sql import schema_statements

        for statement in schema_statements("mysql"):
            cur.execute(statement)
        for truck in TRUCKS:
            cur.execute("INSERT INTO truck_sensors_cache (truck_id, `timestamp`, speed_mph, rpm, updated_at) "
                        "VALUES (%s, UTC_TIMESTAMP(6), 50, 1200, UTC_TIMESTAMP(6))", (truck,))
    async with cluster_on(mysql_db) as run:
        yield run
