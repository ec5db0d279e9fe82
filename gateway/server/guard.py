"""Close TCP connections that never finish sending their first request (slowloris).

aiohttp waits forever for a new connection's first request; the keep-alive timeout only
applies between requests. A timer per accepted connection closes it unless a request
reached the application within ``--handshake-timeout``; a middleware cancels the timer
when the first request arrives, so nothing of aiohttp's internals is changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HandshakeGuard:
    """Arms a deadline on every connection a Server accepts."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        # Keyed by id() of aiohttp's per-connection protocol object (it takes no weakrefs);
        # an entry lives at most ``timeout`` seconds, so the map stays small.
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self.closed = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        timer = self._timers.pop(id(request.protocol), None)
        if timer is not None:
            timer.cancel()
        return await handler(request)

    def install(self, server: web.Server) -> None:
        """Wrap the server's connection hook (called once per accepted socket)."""
        original = server.connection_made
        loop = asyncio.get_running_loop()

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            original(handler, transport)
            key = id(handler)
            old = self._timers.pop(key, None)
            if old is not None:  # a dead connection's id reused: its timer is moot
                old.cancel()
            self._timers[key] = loop.call_later(self._timeout, self._expire, key, transport)

        server.connection_made = connection_made  # type: ignore[method-assign]

    def _expire(self, key: int, transport: asyncio.Transport) -> None:
        self._timers.pop(key, None)
        if not transport.is_closing():
            self.closed += 1
            transport.close()
