"""Who may do what: bearer tokens on REST and WebSocket upgrades, origins, connection caps.

With no key configured the gateway runs open (every request gets ``OPEN_GRANT``) and says
so once at start. With a key, every ``/v1/`` request needs a valid token: none or a bad
one is 401 (before any upgrade), a truck outside the token's claims is 403 on REST and
``forbidden`` on subscribe. Health, metrics, the OpenAPI document and the dashboard page
stay open: they carry no fleet data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.config import Settings
from gateway.server.auth import OPEN_GRANT, Authenticator, AuthError, Grant, token_of
from gateway.server.responses import error_response

GRANT_KEY = "grant"
PROTECTED_PREFIX = "/v1/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def grant_of(request: web.Request) -> Grant:
    """The grant the middleware attached (open when auth is off)."""
    return request.get(GRANT_KEY, OPEN_GRANT)


def make_auth_middleware(authenticator: Authenticator | None) -> Callable:
    """A middleware attaching a Grant to every /v1/ request, or answering 401."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if authenticator is not None and request.path.startswith(PROTECTED_PREFIX):
            token = token_of(request.headers, request.query)
            if token is None:
                return _unauthorized("a bearer token is required (Authorization header or access_token=)")
            try:
                request[GRANT_KEY] = authenticator.verify(token)
            except AuthError as exc:
                return _unauthorized(str(exc))
        return await handler(request)

    return require_token


def _unauthorized(message: str) -> web.Response:
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="fleet"'
    return response


def check_truck(request: web.Request, truck_id: str) -> None:
    """403 when the request's token does not list this truck."""
    if not grant_of(request).allows(truck_id):
        raise web.HTTPForbidden(reason=f"token does not grant truck {truck_id!r}")


def origin_allowed(settings: Settings, origin: str | None, host: str | None = None) -> bool:
    """No Origin (not a browser) passes; the gateway's own pages (same host) pass; any other
    browser origin must be on the allowlist when one is set."""
    if origin is None or not settings.allowed_origins:
        return True
    origin = origin.rstrip("/")
    if host and origin.split("://", 1)[-1] == host:
        return True
    return origin in settings.allowed_origins


class ConnectionCaps:
    """Counts open sockets in total and per client address."""

    def __init__(self, settings: Settings) -> None:
        self._total_max = settings.max_connections
        self._per_ip_max = settings.max_connections_per_ip
        self._per_ip: Counter[str] = Counter()
        self.total = 0

    def refuse(self, remote: str) -> web.Response | None:
        """The response refusing one more socket from ``remote``, or None to admit it."""
        if self.total >= self._total_max:
            return error_response(503, "too_many_connections", "the gateway is at its connection limit")
        if self._per_ip[remote] >= self._per_ip_max:
            return error_response(429, "too_many_connections",
                                  f"at most {self._per_ip_max} sockets per client address")
        return None

    def opened(self, remote: str) -> None:
        self.total += 1
        self._per_ip[remote] += 1

    def closed(self, remote: str) -> None:
        self.total -= 1
        self._per_ip[remote] -= 1
        if self._per_ip[remote] <= 0:
            del self._per_ip[remote]
