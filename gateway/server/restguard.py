"""Keep REST from wearing down the gateway: a per-client rate limit and a cap on work in flight.

Why: REST and the live path share one event loop (and the database). Without bounds, a few
clients asking for large pages in parallel kept the loop busy decoding and encoding rows
for seconds, and every subscriber's diffs waited behind them. So, on ``/v1/trucks``:

- Each client (by address, ``access.client_of``) has a token bucket: ``--rest-rate-limit``
  per second, ``--rest-rate-burst`` at once. Past it: 429 ``rate_limited`` with ``Retry-After``.
- At most ``--rest-concurrency`` requests run at once; up to ``--rest-queue`` more wait, each
  at most ``--rest-queue-timeout`` seconds. Past either: 503 ``busy`` with ``Retry-After``.
  A busy gateway is not a database outage, and says so.

The WebSocket endpoint has its own caps (``access.ConnectionCaps``) and is not gated here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.config import Settings
from gateway.core.ratelimit import KeyedBuckets, retry_after_header
from gateway.server.access import client_of
from gateway.server.responses import error_response

REST_PREFIX = "/v1/trucks"
BUSY_RETRY_S = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def busy_response(message: str, retry_after: float = BUSY_RETRY_S) -> web.Response:
    """503 ``busy``: the gateway is loaded, the database may well be fine."""
    response = error_response(503, "busy", message)
    response.headers["Retry-After"] = retry_after_header(retry_after)
    return response


class RestGuard:
    """The REST rate limit and concurrency cap, as one middleware."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._buckets = (KeyedBuckets(settings.rest_rate_limit, settings.rest_rate_burst)
                         if settings.rest_rate_limit > 0 else None)
        self._slots = asyncio.Semaphore(settings.rest_concurrency)
        self._queue_max = settings.rest_queue
        self._queue_timeout = settings.rest_queue_timeout
        self.waiting = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most ever seen at once: what tests check the cap by
        self.rate_limited = 0
        self.busy = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(REST_PREFIX):
            return await handler(request)
        if self._buckets is not None:
            wait = self._buckets.take(client_of(request, self._settings), asyncio.get_running_loop().time())
            if wait:
                self.rate_limited += 1
                response = error_response(
                    429, "rate_limited", f"more than {self._settings.rest_rate_limit:g} requests/s from your address")
                response.headers["Retry-After"] = retry_after_header(wait)
                return response
        if self._slots.locked() and self.waiting >= self._queue_max:
            self.busy += 1
            return busy_response("too many requests in progress; retry shortly")
        self.waiting += 1
        try:
            async with asyncio.timeout(self._queue_timeout):
                await self._slots.acquire()
        except TimeoutError:
            self.busy += 1
            return busy_response("too many requests in progress; retry shortly")
        finally:
            self.waiting -= 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1
            self._slots.release()
