"""Liveness and readiness: ``/healthz`` answers while the process runs, ``/readyz`` asks the database."""

from __future__ import annotations

from aiohttp import web

from gateway.server.keys import STORE
from gateway.server.responses import error_response, json_response
from gateway.store import StoreUnavailable


async def healthz(request: web.Request) -> web.Response:
    """200 while the process runs; never touches the database."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 with pool statistics when the database answers, else 503 ``db_unavailable``."""
    try:
        stats = await request.app[STORE].stats()
    except StoreUnavailable as exc:
        return error_response(503, "db_unavailable", f"database not answering: {exc}")
    return json_response({"status": "ready", **stats})
