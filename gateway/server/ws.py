"""``GET /v1/ws``: the WebSocket endpoint of protocol v1 (docs/PROTOCOL.md).

The handler owns the read side only: it parses each client frame and hands it to the hub,
one at a time, so replies keep the order of requests. Everything sent goes through the
connection's send path (pre-built frames, direct writes). Reading never stops while the
socket is open, or aiohttp would never see the pongs that keep the heartbeat alive.

Close codes of our own: 4001 token expired, 4002 idle (no subscription and no message for
``--idle-timeout``), 4008 slow consumer (``gateway.server.connection``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.config import Settings
from gateway.core import protocol
from gateway.core.protocol import Ping, ProtocolError, Subscribe
from gateway.core.ratelimit import LeakyBucket, TokenBucket
from gateway.live.hub import Hub
from gateway.server.access import client_of, grant_of, origin_allowed
from gateway.server.connection import Connection
from gateway.server.keys import CAPS, HUB, SETTINGS
from gateway.server.responses import error_response

log = logging.getLogger(__name__)

WS_CLOSE_TIMEOUT_S = 2.0
CLOSE_TOKEN_EXPIRED = 4001
CLOSE_IDLE = 4002

_closing: set[asyncio.Task] = set()  # strong references: a bare task may be collected mid-close


def limits_of(settings: Settings) -> dict[str, float | int]:
    """The limits announced in ``welcome``, so clients need not guess them."""
    return {
        "max_frame_bytes": settings.max_frame_bytes,
        "max_subscriptions": settings.max_subscriptions,
        "rate_limit_per_s": settings.rate_limit,
        "rate_burst": settings.rate_burst,
        "send_buffer_bytes": settings.send_buffer_bytes,
        "ring_size": settings.ring_size,
        "idle_timeout_s": settings.idle_timeout,
        "stale_after_s": settings.stale_after,
    }


def _close_soon(ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
    """Close from a timer; the handler's read loop then ends by itself."""
    task = asyncio.get_running_loop().create_task(ws.close(code=code, message=reason))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """Check origin, caps and token, upgrade, greet, then serve the client until it leaves."""
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    caps = request.app[CAPS]
    if not origin_allowed(settings, request):
        # Browsers send Origin on every upgrade: a page elsewhere must not ride a user's token.
        return error_response(403, "forbidden", "origin not allowed")
    remote = client_of(request, settings)
    refusal = caps.refuse(remote)
    if refusal is not None:
        return refusal
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat,
        max_msg_size=settings.max_frame_bytes + 1,  # aiohttp refuses sizes >= its limit; ours is inclusive
        compress=False,
        timeout=WS_CLOSE_TIMEOUT_S,
    )
    await ws.prepare(request)
    conn = Connection(ws, request, buffer_limit=settings.send_buffer_bytes, send_timeout=settings.send_timeout,
                      snapshot_of=hub.snapshot_of, on_slow=hub.count_slow)
    conn.grant = grant_of(request)
    caps.opened(remote)
    hub.attach(conn)
    loop = asyncio.get_running_loop()
    expiry = None
    if conn.grant.expires_at != float("inf"):
        expiry = loop.call_later(max(0.0, conn.grant.expires_at - time.time()), _close_soon, ws,
                                 CLOSE_TOKEN_EXPIRED, b"token expired")
    try:
        hub.send_control(conn, protocol.welcome(conn.session, settings.heartbeat, limits_of(settings)))
        await _serve(ws, conn, hub, settings)
    finally:
        if expiry is not None:
            expiry.cancel()
        hub.detach(conn)
        caps.closed(remote)
    return ws


class _IdleTimer:
    """Closes a socket that holds no subscription and has said nothing for ``timeout`` s."""

    def __init__(self, ws: web.WebSocketResponse, conn: Connection, timeout: float) -> None:
        self._ws, self._conn, self._timeout = ws, conn, timeout
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(timeout, self._fire)

    def touch(self) -> None:
        self._handle.cancel()
        self._handle = self._loop.call_later(self._timeout, self._fire)

    def _fire(self) -> None:
        if self._conn.subscriptions or self._conn.feeds:  # a dashboard that only listens is not idle
            self.touch()
        else:
            _close_soon(self._ws, CLOSE_IDLE, b"idle")

    def cancel(self) -> None:
        self._handle.cancel()


async def _serve(ws: web.WebSocketResponse, conn: Connection, hub: Hub, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(settings.rate_limit, settings.rate_burst, loop.time())
    idle = _IdleTimer(ws, conn, settings.idle_timeout)
    # A leaky bucket, not a counter: a client that slips now and then is forgiven at
    # --violation-decay per second; one that keeps at it fills --max-violations and is closed.
    violations = LeakyBucket(settings.max_violations - 1, settings.violation_decay, loop.time())
    try:
        async for msg in ws:
            idle.touch()
            if msg.type is WSMsgType.ERROR:  # aiohttp already closed (e.g. 1009 for an oversize frame)
                break
            try:
                if not bucket.allow(loop.time()):
                    raise ProtocolError(protocol.RATE_LIMITED,
                                        f"more than {settings.rate_limit:g} messages/s (burst {settings.rate_burst})")
                if msg.type is not WSMsgType.TEXT:
                    raise ProtocolError(protocol.BAD_REQUEST, "binary frames are not accepted; send JSON text")
                command = protocol.parse_client_frame(msg.data)
            except ProtocolError as exc:
                hub.send_control(conn, protocol.error(exc.id, exc.code, exc.message))
                if violations.add(1, loop.time()):
                    await _close_abusive(ws, conn)
                    break
                continue
            if isinstance(command, Ping):
                hub.send_control(conn, protocol.pong(command.id))
            elif isinstance(command, Subscribe):
                # Each unknown truck counts as a violation: made-up ids cost lookups.
                unknown = await hub.subscribe(conn, command)
                if unknown and violations.add(unknown, loop.time()):
                    await _close_abusive(ws, conn)
                    break
            else:
                hub.unsubscribe(conn, command)
    finally:
        idle.cancel()


async def _close_abusive(ws: web.WebSocketResponse, conn: Connection) -> None:
    log.info("closing %s (%s): too many bad or excessive messages", conn.session, conn.remote)
    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many bad or excessive messages")


async def close_all(hub: Hub, code: int = WSCloseCode.GOING_AWAY) -> None:
    """Close every socket at once (not one by one: each close may wait for its peer)."""
    conns = list(hub.connections)
    for conn in conns:
        conn.closed = True  # no more frames queue up behind the close
    await asyncio.gather(*(_close_within(conn, code) for conn in conns))


async def _close_within(conn: Connection, code: int) -> None:
    """Close one socket in bounded time: aiohttp's close can wait on a full send buffer
    (a stalled peer) with no timeout of its own, so past the bound the transport is dropped."""
    try:
        await asyncio.wait_for(conn.ws.close(code=code, message=b"server shutting down", drain=False),
                               WS_CLOSE_TIMEOUT_S + 1)
    except (TimeoutError, ConnectionError, RuntimeError):
        conn.abort()
