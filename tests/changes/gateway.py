"""A gateway with ``--changes binlog`` run in-process on the private binlog MariaDB, and helpers.

The gateway is ``make_app`` behind aiohttp's test server; its store may be given apart from
``--db`` so the binlog connection alone can go through a fault proxy.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from gateway.core.diff import Diff, apply
from gateway.live.feed import ChangeFeed
from gateway.live.hub import Hub
from gateway.store import Store

FRESH_COLUMNS = ("truck_id, `timestamp`, data_age_seconds, engine_state, speed_mph, rpm, fuel_level_pct, "
                 "latitude, longitude, updated_at")


def insert_fresh(sql, truck_id: str, rpm: int = 700) -> None:
    """A truck row reporting now (so no ``stale`` status interferes)."""
    sql.execute(
        f"INSERT INTO truck_sensors_cache ({FRESH_COLUMNS}) VALUES "
        "(%s, UTC_TIMESTAMP(6), 1, 'running', 55.25, %s, 61.50, 41.878113, -87.629799, UTC_TIMESTAMP())",
        (truck_id, rpm),
    )


@dataclasses.dataclass
class BinlogGateway:
    """A running gateway and the handles tests use on it."""

    url: str
    app: web.Application
    hub: Hub
    store: Store
    session: aiohttp.ClientSession

    @property
    def feed(self) -> ChangeFeed:
        assert self.hub.change_feed is not None
        return self.hub.change_feed

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        """Open a socket and consume the welcome frame."""
        ws = await self.session.ws_connect(self.url + "/v1/ws")
        assert (await recv(ws))["type"] == "welcome"
        return ws

    async def subscribe(self, ws: aiohttp.ClientWebSocketResponse, *channels: str) -> dict:
        """Subscribe; return the first channel's snapshot (after checking the ack)."""
        await ws.send_str(orjson.dumps({"op": "subscribe", "id": 1, "channels": list(channels)}).decode())
        ack = await recv(ws)
        assert ack["type"] == "ack" and ack["ok"] == list(channels), ack
        snap = await recv(ws)
        assert snap["type"] == "snapshot", snap
        return snap

    async def readyz(self) -> dict:
        async with self.session.get(self.url + "/readyz") as resp:
            return await resp.json()

    async def metrics(self) -> dict[tuple[str, tuple], float]:
        async with self.session.get(self.url + "/metrics") as resp:
            text = await resp.text()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def sensor_reads(self) -> int:
        """SELECTs of truck rows so far (the store's own count)."""
        return self.store.queries["sensor_rows"]


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict:
    """The next text frame as JSON; fails the test on close or timeout."""
    msg = await ws.receive(timeout=timeout)
    assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
    return orjson.loads(msg.data)


async def ping(ws: aiohttp.ClientWebSocketResponse, msg_id: int = 99) -> list[dict]:
    """Frames that arrive before the pong of a ping sent now (what the server had queued)."""
    await ws.send_str(orjson.dumps({"op": "ping", "id": msg_id}).decode())
    frames = []
    while (frame := await recv(ws))["type"] != "pong":
        frames.append(frame)
    return frames


async def until(condition: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> None:
    """Poll a condition no callback announces (the feed's state, a counter), bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {timeout} s")
        await asyncio.sleep(step)


def replay(snapshot: dict, diffs: list[dict]) -> dict:
    """The row a client holds after applying ``diffs`` to ``snapshot``, checking seq and epoch."""
    row, seq = snapshot["data"], snapshot["seq"]
    for d in diffs:
        assert d["type"] == "diff" and d["epoch"] == snapshot["epoch"], d
        assert d["seq"] == seq + 1, f"seq gap: {seq} then {d['seq']}"
        seq = d["seq"]
        row = apply(row, Diff(d["changed"], tuple(d["removed"])))
    return row
