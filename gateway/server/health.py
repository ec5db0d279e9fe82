"""Liveness and readiness: ``/healthz`` answers while the process runs, ``/readyz`` asks the database."""

from __future__ import annotations

from aiohttp import web

from gateway.server.keys import HUB, STORE
from gateway.server.responses import error_response, json_response
from gateway.store import StoreUnavailable


async def healthz(request: web.Request) -> web.Response:
    """200 while the process runs; never touches the database."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 with pool statistics when the database answers, else 503 ``db_unavailable``.

    In cluster mode the broker is named too; it does not decide readiness: without it each
    process serves its own clients from the database.
    """
    try:
        stats = await request.app[STORE].stats()
    except StoreUnavailable as exc:
        return error_response(503, "db_unavailable", f"database not answering: {exc}")
    body = {"status": "ready", **stats}
    cluster = request.app[HUB].cluster
    if cluster is not None:
        body["broker"] = {"status": "up" if cluster.up else "unavailable", "leases_held": len(cluster.readers)}
    return json_response(body)
