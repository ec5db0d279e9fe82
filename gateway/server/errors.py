"""One error shape for every failure a client can meet (README: endpoints).

Bad parameters are 400 naming the parameter, a database outage is 503 ``db_unavailable``,
a database without the gateway's tables is 503 ``schema_missing`` (run ``gateway initdb``),
no connection free in time is 503 ``busy`` (load, not an outage); aiohttp's own 404/405
become JSON too, and anything unexpected is logged with its
traceback and answered as a JSON 500 without internals.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.core.params import ParamError
from gateway.server.responses import error_response
from gateway.server.restguard import busy_response
from gateway.store import StoreBusy, StoreSchemaMissing, StoreUnavailable

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}

SCHEMA_MISSING_MESSAGE = "the database has none of the gateway's tables: run gateway initdb"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into ``{"error": {"code", "message"}}`` with the right status."""
    try:
        return await handler(request)
    except ParamError as exc:
        return error_response(400, "bad_request", exc.message)
    except StoreSchemaMissing:
        return error_response(503, "schema_missing", SCHEMA_MISSING_MESSAGE)
    except StoreBusy:
        return busy_response("no database connection free in time; retry shortly")
    except StoreUnavailable:
        return error_response(503, "db_unavailable", "the database is not answering; retry shortly")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, _CODES.get(exc.status, "error"), exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")
