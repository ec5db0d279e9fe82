"""The application factory: one cleanup context per long-lived resource, routes in one place.

Shutdown order (aiohttp runs on_shutdown before cleanup contexts, which unwind in reverse):
stop accepting, close every socket with 1001 at once, stop the pollers, close the pool.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.config import Settings, cursor_secret_of, jwt_secret_of
from gateway.core.params import CursorCodec
from gateway.live.hub import Hub
from gateway.server import health, openapi, page, rest
from gateway.server.access import ConnectionCaps, make_auth_middleware
from gateway.server.auth import Authenticator
from gateway.server.errors import json_errors
from gateway.server.guard import HandshakeGuard
from gateway.server.keys import AUTH, CAPS, CURSORS, GUARD, HUB, METRICS, READY, REST_GUARD, SETTINGS, STORE
from gateway.server.metrics import Metrics, metrics_handler
from gateway.server.restguard import RestGuard
from gateway.server.ws import close_all, websocket_handler
from gateway.store import Store, open_store

log = logging.getLogger("gateway")


def make_app(settings: Settings, store: Store | None = None) -> web.Application:
    """Build the gateway application.

    Args:
        settings: validated settings.
        store: an already made store (tests); by default one is opened from ``settings.db``.
    """
    authenticator = Authenticator.from_settings(
        jwt_secret_of(settings), settings.jwt_public_key, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
        max_lifetime_s=settings.jwt_max_lifetime)
    guard = HandshakeGuard(settings.handshake_timeout, settings.keepalive_timeout)
    rest_guard = RestGuard(settings)
    # Order: the connection guard first; errors as JSON; REST limits before token checks
    # (a flood of bad tokens costs signature checks too); then the token.
    app = web.Application(middlewares=[guard.middleware, json_errors, rest_guard.middleware,
                                       make_auth_middleware(authenticator)])
    app[GUARD] = guard
    app[REST_GUARD] = rest_guard
    app[AUTH] = authenticator
    app[CAPS] = ConnectionCaps(settings)
    if authenticator is None:
        log.warning("no --jwt-secret or --jwt-public-key: the gateway is open to anyone who can reach it")
    cursor_secret = cursor_secret_of(settings)
    app[CURSORS] = CursorCodec(cursor_secret.encode() if cursor_secret else secrets.token_bytes(32))
    app[SETTINGS] = settings
    app[METRICS] = Metrics()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        st = store or open_store(
            settings.db,
            pool_min=settings.pool_min,
            pool_max=settings.pool_max,
            pool_recycle=settings.pool_recycle,
            query_timeout=settings.query_timeout,
            pool_live_reserve=settings.pool_live_reserve,
        )
        await st.open()
        app[STORE] = st
        app[READY] = health.ReadyProbe(st)
        yield
        await st.close()

    async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = app[METRICS]
        broker = None
        if settings.broker:
            from gateway.broker import open_broker  # redis is imported only in cluster mode

            broker = open_broker(settings.broker, settings.broker_prefix, ring_size=settings.ring_size)
        change_feed = None
        if settings.changes == "binlog":
            from gateway.live.feed import ChangeFeed  # mysql-replication is imported only in binlog mode

            change_feed = ChangeFeed.from_settings(settings)
        hub = Hub(app[STORE], settings, observe_poll=metrics.poll_duration.observe,
                  observe_push=metrics.push_latency.observe, broker=broker, change_feed=change_feed)
        metrics.watch(hub, app[STORE])
        app[HUB] = hub
        if change_feed is not None and broker is None:  # in a cluster, only the binlog lease's holder runs it
            await change_feed.start()  # returns at once: pollers poll until it streams
        await hub.start()
        yield
        await hub.close()  # pollers first: they stop following the feed
        if change_feed is not None:
            await change_feed.close()

    async def close_sockets(app: web.Application) -> None:
        await close_all(app[HUB])

    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(hub_ctx)
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/v1/ws", websocket_handler)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/openapi.json", openapi.openapi_handler)
    rest.add_routes(app)
    page.add_routes(app)
    return app
