"""Bound how long any HTTP connection may sit without a complete request (slowloris).

aiohttp waits forever for a new connection's first request, and between requests it only
applies its keep-alive timeout (3,630 s by default), which nothing in the headers of a
half-sent request resets. So a timer per connection is armed whenever the connection holds
no request in the application: at accept (``--handshake-timeout``) and again when its
last request is done (``--keepalive-timeout``). A request reaching the application cancels
it. When the timer fires, the connection has been idle, or sending one request's headers,
for too long and is closed. Nothing of aiohttp's internals is changed: the guard wraps the
server's connection hook and runs as the outermost middleware.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HandshakeGuard:
    """Arms a deadline on every connection a Server accepts, and after each of its requests."""

    def __init__(self, timeout: float, keepalive_timeout: float | None = None) -> None:
        self._timeout = timeout
        self._keepalive = keepalive_timeout if keepalive_timeout is not None else timeout
        # Keyed by id() of aiohttp's per-connection protocol object (it takes no weakrefs);
        # an entry lives at most one timeout, so the map stays small.
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._in_flight: Counter[int] = Counter()
        self.closed = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = id(request.protocol)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._in_flight[key] += 1
        try:
            return await handler(request)
        finally:
            self._in_flight[key] -= 1
            if self._in_flight[key] <= 0:
                del self._in_flight[key]
                transport = request.transport
                if transport is not None and not transport.is_closing():
                    self._arm(key, transport, self._keepalive)

    def install(self, server: web.Server) -> None:
        """Wrap the server's connection hook (called once per accepted socket)."""
        original = server.connection_made

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            original(handler, transport)
            self._arm(id(handler), transport, self._timeout)

        server.connection_made = connection_made  # type: ignore[method-assign]

    def _arm(self, key: int, transport: asyncio.BaseTransport, timeout: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:  # a dead connection's id reused, or a re-arm: the old timer is moot
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(timeout, self._expire, key, transport)

    def _expire(self, key: int, transport: asyncio.BaseTransport) -> None:
        self._timers.pop(key, None)
        if not transport.is_closing():
            self.closed += 1
            transport.close()
