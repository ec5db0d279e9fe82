"""``GET /v1/ws``: the WebSocket endpoint of protocol v1 (SPEC §4).

The handler owns the read side only: it parses each client frame and hands it to the hub,
one at a time, so replies keep the order of requests. Everything sent goes through the
connection's send path (pre-built frames, direct writes). Reading never stops while the
socket is open, or aiohttp would never see the pongs that keep the heartbeat alive.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.config import Settings
from gateway.connection import Connection
from gateway.core import protocol
from gateway.core.protocol import Ping, ProtocolError, Subscribe
from gateway.core.ratelimit import TokenBucket
from gateway.hub import Hub
from gateway.server.keys import HUB, SETTINGS
from gateway.server.responses import error_response

log = logging.getLogger(__name__)

WS_CLOSE_TIMEOUT_S = 2.0


def limits_of(settings: Settings) -> dict[str, float | int]:
    """The limits announced in ``welcome``, so clients need not guess them."""
    return {
        "max_frame_bytes": settings.max_frame_bytes,
        "max_subscriptions": settings.max_subscriptions,
        "rate_limit_per_s": settings.rate_limit,
        "rate_burst": settings.rate_burst,
        "send_buffer_bytes": settings.send_buffer_bytes,
        "ring_size": settings.ring_size,
    }


def origin_allowed(settings: Settings, origin: str | None) -> bool:
    """No Origin (not a browser) passes; a browser's Origin must be on the allowlist when one is set."""
    if origin is None or not settings.allowed_origins:
        return True
    return origin.rstrip("/") in settings.allowed_origins


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """Upgrade, greet, then serve the client's commands until it leaves."""
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    if not origin_allowed(settings, request.headers.get("Origin")):
        return error_response(403, "forbidden", "origin not allowed")
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat,
        max_msg_size=settings.max_frame_bytes + 1,  # aiohttp refuses sizes >= its limit; ours is inclusive
        compress=False,
        timeout=WS_CLOSE_TIMEOUT_S,
    )
    await ws.prepare(request)
    conn = Connection(ws, request, buffer_limit=settings.send_buffer_bytes, send_timeout=settings.send_timeout,
                      snapshot_of=hub.snapshot_of, on_slow=hub.count_slow)
    hub.attach(conn)
    try:
        hub.send_control(conn, protocol.welcome(conn.session, settings.heartbeat, limits_of(settings)))
        await _serve(ws, conn, hub, settings)
    finally:
        hub.detach(conn)
    return ws


async def _serve(ws: web.WebSocketResponse, conn: Connection, hub: Hub, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(settings.rate_limit, settings.rate_burst, loop.time())
    violations = 0
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            data: str | bytes = msg.data
        elif msg.type is WSMsgType.BINARY:
            data = b""
        else:  # ERROR: aiohttp already closed (e.g. 1009 for an oversize frame)
            break
        try:
            if not bucket.allow(loop.time()):
                raise ProtocolError(protocol.RATE_LIMITED,
                                    f"more than {settings.rate_limit:g} messages/s (burst {settings.rate_burst})")
            if msg.type is WSMsgType.BINARY:
                raise ProtocolError(protocol.BAD_REQUEST, "binary frames are not accepted; send JSON text")
            command = protocol.parse_client_frame(data)
        except ProtocolError as exc:
            violations += 1
            hub.send_control(conn, protocol.error(exc.id, exc.code, exc.message))
            if violations >= settings.max_violations:
                log.info("closing %s (%s): %d bad or excessive messages", conn.session, conn.remote, violations)
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many bad or excessive messages")
                break
            continue
        if isinstance(command, Ping):
            hub.send_control(conn, protocol.pong(command.id))
        elif isinstance(command, Subscribe):
            await hub.subscribe(conn, command)
        else:
            hub.unsubscribe(conn, command)


async def close_all(hub: Hub, code: int = WSCloseCode.GOING_AWAY) -> None:
    """Close every socket at once (not one by one: each close may wait for its peer)."""
    conns = list(hub.connections)
    for conn in conns:
        conn.closed = True  # no more frames queue up behind the close
    await asyncio.gather(
        *(conn.ws.close(code=code, message=b"server shutting down", drain=False) for conn in conns),
        return_exceptions=True,
    )

