"""REST: the fallback for browsers without a socket, and history, DTC and refuel data (README: endpoints).

Every parameter is validated before any query (``gateway.core.params``); every list is
``{"items": [...], "next_cursor": ...}`` paged by an opaque keyset cursor; every query is
bounded by the store's timeout, so a database outage is a prompt 503, not a hung request.

Truck ids are exact (case-sensitive, as stored): ``/v1/trucks/az0084`` is a 404 when the
database holds ``AZ0084``, and a token naming ``az0084`` does not see ``AZ0084``. A truck
found missing is remembered briefly (the hub's ``unknown`` cache, shared with WebSocket
subscribes), so asking again costs no query. Large pages are encoded a slice at a time,
letting the event loop push diffs in between (``responses.json_page``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import orjson
from aiohttp import web

from gateway.broker import BrokerUnavailable
from gateway.core.channels import TRUCK_ID_PATTERN, is_valid_truck_id
from gateway.core.etag import none_match
from gateway.core.params import (
    CursorCodec,
    ParamError,
    check_known,
    keyset,
    keyset_payload,
    parse_choices,
    parse_limit,
    parse_time,
)
from gateway.core.stream import encode_row
from gateway.server.access import check_truck, grant_of
from gateway.server.keys import CURSORS, HUB, STORE
from gateway.server.responses import json_page, json_response

HISTORY_DEFAULT_WINDOW = dt.timedelta(hours=24)
STATUSES = ("active", "cleared", "all")
SEVERITIES = ("critical", "high", "medium", "low")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _truck_id(request: web.Request) -> str:
    """The path's truck id, validated and checked against the token's claims."""
    truck_id = request.match_info["truck_id"]
    if not is_valid_truck_id(truck_id):
        raise ParamError("truck_id", f"must match {TRUCK_ID_PATTERN}")
    check_truck(request, truck_id)
    return truck_id


def _not_found(request: web.Request, truck_id: str, *, remember: bool) -> web.HTTPNotFound:
    if remember:
        request.app[HUB].unknown.add(truck_id, asyncio.get_running_loop().time())
    return web.HTTPNotFound(reason=f"no truck {truck_id!r}")


def _known_missing(request: web.Request, truck_id: str) -> bool:
    return request.app[HUB].unknown.known_missing(truck_id, asyncio.get_running_loop().time())


async def _require_truck(request: web.Request, truck_id: str) -> None:
    """404 for a truck with no cache row; a watched truck, or one just found missing, needs no query."""
    hub = request.app[HUB]
    if hub.row_body(truck_id) is not None:
        return
    if _known_missing(request, truck_id):
        raise _not_found(request, truck_id, remember=False)
    if not await request.app[STORE].truck_exists(truck_id):
        raise _not_found(request, truck_id, remember=True)


def _window(
    request: web.Request, kind: str, truck_id: str, default_span: dt.timedelta | None
) -> tuple[dt.datetime, dt.datetime, tuple[dt.datetime, int] | None]:
    """``since``/``until`` and the keyset of a windowed list.

    A cursor carries the window of its first page, so paging with defaulted bounds ("the
    last 24 h") walks one fixed window instead of one that slides with the clock.
    """
    since = parse_time(request.query, "since")
    until = parse_time(request.query, "until")
    keys = None
    if "cursor" in request.query:
        payload = request.app[CURSORS].decode(request.query["cursor"], {"k": kind, "truck": truck_id})
        if (since and since.isoformat() != payload["since"]) or (until and until.isoformat() != payload["until"]):
            raise ParamError("cursor", "belongs to another window")
        since, until = dt.datetime.fromisoformat(payload["since"]), dt.datetime.fromisoformat(payload["until"])
        keys = keyset(payload)
    until = until or _utcnow()
    since = since or (until - default_span if default_span else dt.datetime(1970, 1, 1))
    if since > until:
        raise ParamError("since", "must not be after until")
    return since, until, keys


async def _page(items: list[dict], limit: int, cursors: CursorCodec, time_column: str, **scope: Any) -> web.Response:
    """One page; ``next_cursor`` only when the page is full (more may remain)."""
    next_cursor = cursors.encode(keyset_payload(items[-1], time_column, **scope)) if len(items) == limit else None
    return await json_page(items, next_cursor)


async def list_trucks(request: web.Request) -> web.Response:
    """``GET /v1/trucks``: trucks by id with their last reading time."""
    check_known(request.query, ("limit", "cursor"))
    limit = parse_limit(request.query, 100, 1000)
    cursors = request.app[CURSORS]
    after = None
    if "cursor" in request.query:
        after = cursors.decode(request.query["cursor"], {"k": "trucks"})["after"]
    allowed = grant_of(request).trucks
    items = await request.app[STORE].list_trucks(after, limit, sorted(allowed) if allowed is not None else None)
    nxt = cursors.encode({"k": "trucks", "after": items[-1]["truck_id"]}) if len(items) == limit else None
    return json_response({"items": items, "next_cursor": nxt})


async def sensors(request: web.Request) -> web.Response:
    """``GET /v1/trucks/{id}/sensors``: the current row, from the live poller when one runs."""
    check_known(request.query, ())
    truck_id = _truck_id(request)
    cached = request.app[HUB].row_body(truck_id)
    if cached is None:
        cached = await _cluster_row(request, truck_id)
    if cached is None:
        if _known_missing(request, truck_id):
            raise _not_found(request, truck_id, remember=False)
        row = await request.app[STORE].fetch_sensor_row(truck_id)
        if row is None:
            raise _not_found(request, truck_id, remember=True)
        cached = encode_row(row)
    body, etag = cached
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if none_match(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def _cluster_row(request: web.Request, truck_id: str) -> tuple[bytes, str] | None:
    """In a cluster, the latest row of a truck another process reads, from the broker (no query)."""
    cluster = request.app[HUB].cluster
    if cluster is None or not cluster.up:
        return None
    try:
        state = await cluster.broker.latest(truck_id)
        if state is None or await cluster.broker.holder(truck_id) is None:
            return None  # nobody reads it now: the stored row may be old
    except BrokerUnavailable:
        return None
    return encode_row(state.row)


async def history(request: web.Request) -> web.Response:
    """``GET /v1/trucks/{id}/history``: ``fuel_metrics`` in time order, keyset paged."""
    check_known(request.query, ("since", "until", "limit", "cursor"))
    truck_id = _truck_id(request)
    since, until, after = _window(request, "history", truck_id, HISTORY_DEFAULT_WINDOW)
    limit = parse_limit(request.query, 500, 5000)
    scope = {"k": "history", "truck": truck_id, "since": since.isoformat(), "until": until.isoformat()}
    await _require_truck(request, truck_id)
    items = await request.app[STORE].history(truck_id, since, until, after, limit)
    return await _page(items, limit, request.app[CURSORS], "timestamp_utc", **scope)


async def dtcs(request: web.Request) -> web.Response:
    """``GET /v1/trucks/{id}/dtcs``: DTC events by status and severity, newest first."""
    check_known(request.query, ("status", "severity", "since", "limit", "cursor"))
    truck_id = _truck_id(request)
    status = (parse_choices(request.query, "status", STATUSES) or ("all",))
    if len(status) > 1 and "all" in status:
        raise ParamError("status", "'all' cannot be combined with another status")
    statuses = None if status == ("all",) else status
    severities = parse_choices(request.query, "severity", SEVERITIES)
    since = parse_time(request.query, "since")
    limit = parse_limit(request.query, 100, 1000)
    scope = {"k": "dtcs", "truck": truck_id, "status": list(status), "severity": list(severities or ()),
             "since": since.isoformat() if since else None}
    before = None
    if "cursor" in request.query:
        before = keyset(request.app[CURSORS].decode(request.query["cursor"], scope))
    await _require_truck(request, truck_id)
    items = await request.app[STORE].dtc_events(truck_id, statuses, severities, since, limit, before)
    return await _page(items, limit, request.app[CURSORS], "timestamp_utc", **scope)


async def refuels(request: web.Request) -> web.Response:
    """``GET /v1/trucks/{id}/refuels``: refuel events in a window, newest first."""
    check_known(request.query, ("since", "until", "limit", "cursor"))
    truck_id = _truck_id(request)
    since, until, before = _window(request, "refuels", truck_id, None)
    limit = parse_limit(request.query, 100, 1000)
    scope = {"k": "refuels", "truck": truck_id, "since": since.isoformat(), "until": until.isoformat()}
    await _require_truck(request, truck_id)
    items = await request.app[STORE].refuel_events(truck_id, since, until, limit, before)
    return await _page(items, limit, request.app[CURSORS], "refuel_time", **scope)


async def alerts(request: web.Request) -> web.Response:
    """``GET /v1/alerts``: the alerts channel's events the token may see, newest first.

    The REST fallback of the ``alerts`` channel: asking keeps the fleet's rules running for
    ``--fleet-linger`` seconds, so a page polling this list keeps getting new events.
    """
    check_known(request.query, ("since", "limit", "cursor"))
    limit = parse_limit(request.query, 100, 1000)
    since = parse_time(request.query, "since")
    feeds = request.app[HUB].feeds
    grant = grant_of(request)
    await feeds.rest_interest(grant)
    log = feeds.alerts.log
    before = None
    if "cursor" in request.query:
        payload = request.app[CURSORS].decode(request.query["cursor"], {"k": "alerts"})
        if payload["epoch"] != log.epoch:
            raise ParamError("cursor", "belongs to an earlier life of the event log; start again without it")
        before = payload["before"]
    since_ms = int(since.replace(tzinfo=dt.UTC).timestamp() * 1000) if since else None
    events, next_before = log.newest(before, since_ms, limit, grant.allows)
    items = [orjson.loads(e.payload) for e in events]
    nxt = (request.app[CURSORS].encode({"k": "alerts", "epoch": log.epoch, "before": next_before})
           if next_before is not None else None)
    return json_response({"items": items, "next_cursor": nxt})


def add_routes(app: web.Application) -> None:
    """The REST routes (README: endpoints)."""
    app.router.add_get("/v1/alerts", alerts)
    app.router.add_get("/v1/trucks", list_trucks)
    app.router.add_get("/v1/trucks/{truck_id}/sensors", sensors)
    app.router.add_get("/v1/trucks/{truck_id}/history", history)
    app.router.add_get("/v1/trucks/{truck_id}/dtcs", dtcs)
    app.router.add_get("/v1/trucks/{truck_id}/refuels", refuels)

