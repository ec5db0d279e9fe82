"""Every web.AppKey of the application, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.config import Settings
from gateway.core.params import CursorCodec
from gateway.store import Store

if TYPE_CHECKING:
    from gateway.live.hub import Hub
    from gateway.server.access import ConnectionCaps
    from gateway.server.auth import Authenticator
    from gateway.server.guard import HandshakeGuard
    from gateway.server.health import ReadyProbe
    from gateway.server.metrics import Metrics
    from gateway.server.restguard import RestGuard

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
HUB: web.AppKey[Hub] = web.AppKey("hub")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
CURSORS = web.AppKey("cursors", CursorCodec)
CAPS: web.AppKey[ConnectionCaps] = web.AppKey("caps")
GUARD: web.AppKey[HandshakeGuard] = web.AppKey("guard")
AUTH: web.AppKey[Authenticator | None] = web.AppKey("auth")
READY: web.AppKey[ReadyProbe] = web.AppKey("ready")
REST_GUARD: web.AppKey[RestGuard] = web.AppKey("rest_guard")
