"""Liveness and readiness: ``/healthz`` answers while the process runs, ``/readyz`` asks the database.

``/readyz`` is open (load balancers call it without a token), so it must be cheap and say
little. The probe runs at most once per ``PROBE_TTL_S`` however many ask: callers within that
time share the last answer, and concurrent callers share one query. The body says which
component is up or down (``components``: the database today, a broker once there is one)
and gives pool counts; it names no user, host or database and no driver error text unless
``--readyz-detail`` is on or the request carries a valid token. With ``--changes binlog``,
``components.change_source`` says whether rows come from the binary log now (``binlog``) or
from the pollers' own reads (``poll``: the binlog is unusable or its connection is down);
in a cluster, ``cluster`` on a process that reads nothing itself, and
``components.binlog_reader`` says whether this process follows the binlog for the cluster.

A database without the gateway's tables is not ready: 503 ``schema_missing``, naming the fix.
A pool that is merely busy (REST holds the shared connections) is not an outage: the probe
runs on the live lane, which REST cannot take.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.server.auth import AuthError, token_of
from gateway.server.errors import SCHEMA_MISSING_MESSAGE
from gateway.server.keys import AUTH, HUB, READY, SETTINGS
from gateway.server.responses import json_response
from gateway.store import Store, StoreSchemaMissing, StoreUnavailable

PROBE_TTL_S = 1.0
_PUBLIC_STATS = ("store", "pool_size", "pool_free", "pool_min", "pool_max", "pool_live_reserve")


@dataclass(frozen=True, slots=True)
class Probe:
    """One readiness probe's outcome."""

    status: int
    state: str  # "up", "down" or "schema_missing"
    stats: dict[str, Any]
    detail: str


class ReadyProbe:
    """Runs the store's probe at most once per ``ttl`` seconds, one query for concurrent callers."""

    def __init__(self, store: Store, ttl: float = PROBE_TTL_S) -> None:
        self._store = store
        self._ttl = ttl
        self._last: Probe | None = None
        self._at = 0.0
        self._running: asyncio.Future[Probe] | None = None
        self.probes = 0

    async def get(self) -> Probe:
        """The latest probe, running a new one when the last is older than the ttl."""
        loop = asyncio.get_running_loop()
        if self._last is not None and loop.time() - self._at < self._ttl:
            return self._last
        if self._running is None:
            self._running = loop.create_task(self._probe())
            self._running.add_done_callback(self._done)
        return await asyncio.shield(self._running)

    def _done(self, task: asyncio.Future[Probe]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._last, self._at = task.result(), asyncio.get_running_loop().time()

    async def _probe(self) -> Probe:
        self.probes += 1
        try:
            stats = await self._store.stats()
        except StoreSchemaMissing as exc:
            return Probe(503, "schema_missing", {}, str(exc))
        except StoreUnavailable as exc:
            return Probe(503, "down", {}, str(exc))
        return Probe(200, "up", stats, "")


def _detail_allowed(request: web.Request) -> bool:
    if request.app[SETTINGS].readyz_detail:
        return True
    authenticator = request.app[AUTH]
    token = token_of(request.headers, request.query) if authenticator is not None else None
    if token is None:
        return False
    try:
        authenticator.verify(token)
    except AuthError:
        return False
    return True


async def healthz(request: web.Request) -> web.Response:
    """200 while the process runs; never touches the database."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 with pool counts when the database answers and has the tables, else 503 naming the cause."""
    probe = await request.app[READY].get()
    detail = _detail_allowed(request)
    body: dict[str, Any] = {"status": "ready" if probe.status == 200 else "unavailable",
                            "components": {"database": probe.state}}
    hub = request.app[HUB]
    cluster = hub.cluster
    if hub.change_feed is not None:  # --changes binlog: say whether it streams or the pollers read
        body["components"]["change_source"] = hub.change_source
        if cluster is not None:
            body["components"]["binlog_reader"] = "this process" if cluster.binlog_leader else "another process"
    if cluster is not None:  # named, but not deciding: without it each process serves its own clients
        body["components"]["broker"] = "up" if cluster.up else "unavailable"
        body["leases_held"] = len(cluster.readers)
    body.update({k: v for k, v in probe.stats.items() if detail or k in _PUBLIC_STATS})
    if probe.state == "schema_missing":
        body["error"] = {"code": "schema_missing", "message": SCHEMA_MISSING_MESSAGE}
    elif probe.state == "down":
        body["error"] = {"code": "db_unavailable", "message": "the database is not answering"}
    if detail and probe.detail:
        body["error"]["detail"] = probe.detail
    return json_response(body, status=probe.status)
