"""Who may do what: bearer tokens on REST and WebSocket upgrades, origins, connection caps.

With no key configured the gateway runs open (every request gets ``OPEN_GRANT``) and says
so once at start. With a key, every ``/v1/`` request needs a valid token: none or a bad
one is 401 (before any upgrade), a truck outside the token's claims is 403 on REST and
``forbidden`` on subscribe. Health, metrics, the OpenAPI document and the dashboard page
stay open: they carry no fleet data.

Clients are counted by address (``client_of``): the TCP peer, or what a trusted reverse
proxy (``--trusted-proxies``) says in ``Forwarded``/``X-Forwarded-For``. Origins are compared
whole and normalised (``gateway.core.origins``); the request's ``Host`` counts only for
the hostnames the gateway is configured to be served under (``--public-hosts``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.config import Settings
from gateway.core.clientaddr import client_address, forwarded_proto
from gateway.core.origins import origin_allowed as _origin_rule
from gateway.core.origins import own_origin
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


def client_of(request: web.BaseRequest, settings: Settings) -> str:
    """The client's address: the peer, unless a trusted proxy forwarded the request."""
    headers = request.headers
    return client_address(request.remote, settings.trusted_proxies, headers.get("Forwarded"),
                          headers.get("X-Forwarded-For"))


def request_origin(request: web.BaseRequest, settings: Settings) -> str | None:
    """The origin of a page this request's host would serve (scheme as a trusted proxy reports it)."""
    headers = request.headers
    scheme = forwarded_proto(request.remote, settings.trusted_proxies, headers.get("Forwarded"),
                             headers.get("X-Forwarded-Proto")) or request.scheme
    return own_origin(scheme, headers.get("Host"))


def origin_allowed(settings: Settings, request: web.BaseRequest) -> bool:
    """No Origin (not a browser) passes; with an allowlist, a browser origin must be on it or be
    the gateway's own page under one of ``--public-hosts`` (``gateway.core.origins``)."""
    return _origin_rule(request.headers.get("Origin"), settings.allowed_origins, settings.public_hosts,
                        request_origin(request, settings))


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
