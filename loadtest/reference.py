"""A bare aiohttp broadcast server: the yardstick the gateway's fan-out is measured against.

It speaks just enough of protocol v1 for the load tester's clients (``welcome``, ``ack``,
one ``snapshot`` per channel, then ``diff`` frames with seq + 1) and nothing else: no
database, no poller, no diffing, no slow-consumer protection, no metrics library. A
broadcast encodes the frame once with orjson and awaits ``send_frame`` on each
subscriber in turn, the plainest fan-out aiohttp's public API offers. It runs on the same
event loop (uvloop) with the same ``gc.freeze()`` after start-up as the gateway, so the
ratio between the two is the cost of the gateway's own logic.

Updates happen only when the load tester asks: ``POST /drive`` with a schedule (trucks,
rate, start, duration) runs it like the database driver does and answers with the same
per-truck write counts, so both servers are checked by the same end-to-end count.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import signal
import time
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from loadtest.motion import TruckMotion, iso_of_us, json_values
from loadtest.schedule import Schedule, run_schedule

_TEXT = WSMsgType.TEXT
_CLOSE_TIMEOUT_S = 2.0


class Channel:
    """One truck: its row, its place in the epoch, who listens."""

    __slots__ = ("epoch", "motion", "name", "row", "seq", "subscribers", "ts")

    def __init__(self, truck: str, now_us: int) -> None:
        self.name = f"truck:{truck}"
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.ts = now_us // 1000
        self.motion = TruckMotion.start(truck)
        self.row = initial_row(truck, self.motion, now_us)
        self.subscribers: list[web.WebSocketResponse] = []


def initial_row(truck: str, motion: TruckMotion, now_us: int) -> dict[str, Any]:
    """A whole ``truck_sensors_cache`` row, so snapshots weigh what the gateway's weigh."""
    stamp = iso_of_us(now_us)
    return {
        "truck_id": truck, "timestamp": stamp, "data_age_seconds": 1, "engine_state": "driving",
        "speed_mph": round(motion.speed_mph, 2), "rpm": 1400, "fuel_level_pct": 61.25, "estimated_gallons": 122.5,
        "oil_pressure_psi": 45.2, "oil_temp_f": 215.4, "coolant_temp_f": 199.1, "engine_load_pct": 58.3,
        "battery_voltage": 14.02, "latitude": round(motion.latitude, 6), "longitude": round(motion.longitude, 6),
        "heading_deg": round(motion.heading_deg, 1), "odometer_mi": round(motion.odometer_mi, 1),
        "engine_hours": 9876.5, "active_dtc_count": 0, "updated_at": stamp,
    }


class ReferenceServer:
    """Channels, sockets, and the broadcast loop."""

    def __init__(self, trucks: Sequence[str], heartbeat: float = 25.0) -> None:
        now_us = time.time_ns() // 1000
        self.channels = {f"truck:{t}": Channel(t, now_us) for t in trucks}
        self.by_truck = {c.motion.truck_id: c for c in self.channels.values()}
        self.heartbeat = heartbeat
        self.sockets: set[web.WebSocketResponse] = set()
        self.frames_sent = 0
        self._last_us: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/ws", self.websocket)
        app.router.add_post("/drive", self.drive)
        app.router.add_get("/metrics", self.metrics)
        app.on_shutdown.append(self._close_sockets)
        return app

    def _snapshot(self, channel: Channel) -> bytes:
        return orjson.dumps({"type": "snapshot", "channel": channel.name, "epoch": channel.epoch,
                             "seq": channel.seq, "ts": channel.ts, "data": channel.row})

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, heartbeat=self.heartbeat, max_msg_size=4097)
        await ws.prepare(request)
        self.sockets.add(ws)
        mine: list[Channel] = []
        try:
            await ws.send_frame(orjson.dumps({"type": "welcome", "protocol": 1, "session": secrets.token_hex(8),
                                              "heartbeat_s": self.heartbeat, "limits": {}}), _TEXT)
            async for msg in ws:
                if msg.type is not _TEXT:
                    continue
                command = orjson.loads(msg.data)
                if command.get("op") == "subscribe":
                    await self._subscribe(ws, command, mine)
                elif command.get("op") == "ping":
                    await ws.send_frame(orjson.dumps({"type": "pong", "id": command.get("id")}), _TEXT)
        finally:
            self.sockets.discard(ws)
            for channel in mine:
                with contextlib.suppress(ValueError):
                    channel.subscribers.remove(ws)
        return ws

    async def _subscribe(self, ws: web.WebSocketResponse, command: dict[str, Any], mine: list[Channel]) -> None:
        wanted = [c for c in command.get("channels", []) if isinstance(c, str)]
        found = [self.channels[c] for c in wanted if c in self.channels and self.channels[c] not in mine]
        errors = [{"channel": c, "code": "unknown_truck", "message": "no such truck"}
                  for c in wanted if c not in self.channels]
        await ws.send_frame(orjson.dumps({"type": "ack", "id": command.get("id"), "op": "subscribe",
                                          "ok": [c.name for c in found], "errors": errors}), _TEXT)
        for channel in found:  # no await between snapshot and joining: no diff can slip in between
            channel.subscribers.append(ws)
            mine.append(channel)
            await ws.send_frame(self._snapshot(channel), _TEXT)

    async def broadcast_slice(self, trucks: Sequence[str], stamp_us: int) -> None:
        """Update each truck and send its diff, encoded once, to every subscriber in turn."""
        for truck in trucks:
            channel = self.by_truck[truck]
            elapsed = (stamp_us - self._last_us.get(truck, stamp_us - 1_000_000)) / 1e6
            self._last_us[truck] = stamp_us
            values = json_values(channel.motion.step(stamp_us, elapsed))
            changed = {k: v for k, v in values.items() if channel.row.get(k) != v}
            channel.row.update(changed)
            channel.seq += 1
            channel.ts = stamp_us // 1000
            frame = orjson.dumps({"type": "diff", "channel": channel.name, "epoch": channel.epoch,
                                  "seq": channel.seq, "ts": channel.ts, "changed": changed, "removed": []})
            subscribers = tuple(channel.subscribers)  # a socket may leave while we await another
            for ws in subscribers:
                try:
                    await ws.send_frame(frame, _TEXT)
                except ConnectionError:
                    continue
            self.frames_sent += len(subscribers)

    async def drive(self, request: web.Request) -> web.Response:
        """Run one schedule of updates and answer with what was written."""
        spec = await request.json(loads=orjson.loads)
        trucks = tuple(t for t in spec["trucks"] if t in self.by_truck)
        schedule = Schedule(trucks, float(spec["rate"]), float(spec["start"]), float(spec["duration"]))
        result = await run_schedule(schedule, self.broadcast_slice)
        body = {"writes": result.writes, "last_stamp_us": result.last_stamp_us, "statements": result.statements,
                "max_lateness_s": result.max_lateness_s, "errors": result.errors, "error_sample": result.error_sample}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def metrics(self, request: web.Request) -> web.Response:
        text = (f"reference_messages_sent_total {self.frames_sent}\n"
                f"reference_ws_connections {len(self.sockets)}\n")
        return web.Response(text=text, content_type="text/plain")

    async def _close_sockets(self, app: web.Application) -> None:
        await asyncio.gather(*(ws.close(code=1001, message=b"server shutting down") for ws in list(self.sockets)),
                             return_exceptions=True)


async def serve(trucks: Sequence[str], host: str, port: int, heartbeat: float = 25.0) -> int:
    """Run the reference server until SIGTERM or SIGINT; prints ``listening on http://HOST:PORT``."""
    server = ReferenceServer(trucks, heartbeat)
    runner = web.AppRunner(server.app(), handle_signals=False, access_log=None, shutdown_timeout=_CLOSE_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server else port  # port 0 picks one
    print(f"listening on http://{host}:{bound}", flush=True)
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    return 0
