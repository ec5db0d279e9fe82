"""A live gateway on a real MariaDB database, with helpers to drive it."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from gateway.config import Settings
from gateway.live.hub import Hub
from gateway.server.app import make_app
from gateway.server.keys import GUARD, HUB
from gateway.store import Store, open_store
from gateway.store.url import DbUrl
from tests.conftest import admin_connection
from tests.support.gatedstore import GatedStore

TRUCKS = ("FL-0208", "CO0681", "TX-0001")


def fresh_row(truck_id: str, **values: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row = {"truck_id": truck_id, "timestamp": now, "updated_at": now, "speed_mph": 55.5, "rpm": 1400,
           "fuel_level_pct": 64.25, "engine_state": "driving", "data_age_seconds": 1}
    row.update(values)
    return row


@dataclasses.dataclass
class Gateway:
    """A running gateway and the handles tests use on it."""

    url: str
    app: web.Application
    hub: Hub
    store: Store
    gated: GatedStore | None
    database: str
    session: aiohttp.ClientSession

    def execute(self, sql: str, params: tuple = ()) -> None:
        """A write by another client (the fleet's sync worker), outside the gateway."""
        conn = admin_connection(self.database)
        with conn.cursor() as cur:
            cur.execute(sql, params)
        conn.close()

    async def connect(self, query: str = "", **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        """Open a socket and consume the welcome frame."""
        ws = await self.session.ws_connect(self.url + "/v1/ws" + query, **kwargs)
        welcome = await recv(ws)
        assert welcome["type"] == "welcome"
        return ws

    async def subscribe(self, ws: aiohttp.ClientWebSocketResponse, *channels: str, msg_id: int = 1,
                        resume: dict | None = None) -> dict:
        """Subscribe and return the ack."""
        message: dict[str, Any] = {"op": "subscribe", "id": msg_id, "channels": list(channels)}
        if resume:
            message["resume"] = resume
        await ws.send_str(orjson.dumps(message).decode())
        ack = await recv(ws)
        assert ack["type"] == "ack", ack
        return ack


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict:
    """The next text frame as JSON; fails the test on close or timeout."""
    msg = await ws.receive(timeout=timeout)
    assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
    return orjson.loads(msg.data)


@pytest.fixture
async def seeded_store(mysql_url: DbUrl) -> AsyncIterator[Store]:
    store = open_store(mysql_url, pool_min=1, pool_max=10, query_timeout=2.0)
    await store.create_schema()
    await store.upsert_sensor_rows([fresh_row(t) for t in TRUCKS])
    yield store
    await store.close()


@pytest.fixture
async def start_gateway(aiohttp_server, mysql_url: DbUrl, mysql_db: str, seeded_store: Store
                        ) -> AsyncIterator[Callable[..., Awaitable[Gateway]]]:
    """Factory: ``await start_gateway(gated=True, **settings)``."""
    sessions: list[aiohttp.ClientSession] = []

    async def start(*, gated: bool = False, store: Store | None = None, **overrides: Any) -> Gateway:
        base = {"db": mysql_url, "poll_interval": 0.05, "linger": 5.0, "heartbeat": 30.0}
        settings = Settings(**{**base, **overrides})
        inner = store or seeded_store
        wrapped = GatedStore(inner) if gated else None
        app = make_app(settings, wrapped or inner)
        server = await aiohttp_server(app)
        app[GUARD].install(server.runner.server)  # as gateway.server.run does in production
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        sessions.append(session)
        return Gateway(url=str(server.make_url("")).rstrip("/"), app=app, hub=app[HUB], store=inner, gated=wrapped,
                       database=mysql_db, session=session)

    yield start
    for session in sessions:
        await session.close()
    await asyncio.sleep(0)
