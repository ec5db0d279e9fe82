"""The OpenAPI 3.1 document of the REST API (README: endpoints), built once and served at ``GET /openapi.json``.

It states what the handlers do, not what they might one day: tests/server/test_openapi.py
checks that its paths are exactly the app's GET routes and runs schemathesis against a
live gateway, validating every status code, content type and body against it. The
WebSocket endpoint (``/v1/ws``, docs/PROTOCOL.md), the dashboard page with its static files and this
document itself are not REST operations and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from gateway.core.channels import TRUCK_ID_PATTERN
from gateway.server.rest import SEVERITIES, STATUSES
from gateway.sim.fleet import Fleet

# The first truck of every sample fleet (``gateway initdb --sample-trucks N``), so a fuzzer
# fed the examples reaches real rows and not only 404s.
EXAMPLE_TRUCK = Fleet.make_ids(1)[0]
EXAMPLE_TIME = "2026-11-22T10:00:00Z"

Schema = dict[str, Any]


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _nullable(kind: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], **extra}


def _time(description: str = "ISO 8601 UTC, ending in Z") -> Schema:
    return {"type": "string", "format": "date-time", "description": description}


def _row(description: str, required: dict[str, Schema], optional: dict[str, Schema]) -> Schema:
    """A database row: known columns typed, extra columns (deployments add some) allowed as scalars."""
    return {
        "type": "object",
        "description": description,
        "required": list(required),
        "properties": {**required, **optional},
        "additionalProperties": {"type": ["number", "string", "null"]},
    }


def _page(item: str) -> Schema:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref("schemas", item)},
            "next_cursor": {"type": ["string", "null"],
                            "description": "pass as `cursor` for the next page; null when the page is not full"},
        },
    }


def _query(name: str, schema: Schema, description: str, example: Any = None, **extra: Any) -> Schema:
    param = {"name": name, "in": "query", "required": False, "schema": schema, "description": description, **extra}
    if example is not None:
        param["example"] = example
    return param


def _limit(default: int, maximum: int) -> Schema:
    return _query("limit", {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
                  f"page size, 1..{maximum}")


def _choices(name: str, values: tuple[str, ...], description: str) -> Schema:
    """A comma-separated list (``status=active,cleared``): form style, not exploded."""
    schema = {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(values)}}
    return _query(name, schema, description, style="form", explode=False)


def _json(schema: Schema, description: str, headers: dict[str, Schema] | None = None) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _operation(summary: str, responses: dict[str, Schema], parameters: Sequence[Schema] = (), *,
               protected: bool = False, tag: str = "fleet") -> dict[str, Schema]:
    """One GET; /v1/ operations add the auth errors and the database outage."""
    operation: Schema = {"summary": summary, "tags": [tag], "responses": responses}
    if parameters:
        operation["parameters"] = list(parameters)
    if protected:
        operation["security"] = [{}, {"bearer": []}, {"access_token": []}]
        responses.update({"400": _ref("responses", "BadRequest"), "401": _ref("responses", "Unauthorized"),
                          "429": _ref("responses", "RateLimited"), "503": _ref("responses", "Unavailable")})
    operation["responses"] = dict(sorted(responses.items()))
    return {"get": operation}


def _truck_operation(summary: str, ok: Schema, parameters: Sequence[Schema] = (), **more: Schema) -> dict[str, Schema]:
    responses = {"200": ok, **more, "403": _ref("responses", "Forbidden"), "404": _ref("responses", "NotFound")}
    return _operation(summary, responses, [_ref("parameters", "TruckId"), *parameters], protected=True)


def _error(description: str, example_code: str, headers: dict[str, Schema] | None = None) -> Schema:
    response = _json(_ref("schemas", "Error"), description, headers)
    response["content"]["application/json"]["example"] = {"error": {"code": example_code, "message": "…"}}
    return response


_NUMBER, _INT, _TEXT = _nullable("number"), _nullable("integer"), _nullable("string")
_GAUGES = {name: _NUMBER for name in (
    "speed_mph", "fuel_level_pct", "estimated_gallons", "oil_pressure_psi", "oil_temp_f", "coolant_temp_f",
    "engine_load_pct", "battery_voltage", "latitude", "longitude", "odometer_mi", "engine_hours")}
_TRUCK_ID = {"type": "string", "pattern": TRUCK_ID_PATTERN}
_ID = {"type": "integer"}
_CURSOR = _query("cursor", {"type": "string"}, "opaque `next_cursor` of the previous page of the same query")
_SINCE = _ref("parameters", "Since")
_COMPONENTS = {"type": "object", "required": ["database"], "description": "each component's state",
               "properties": {"database": {"enum": ["up", "down", "schema_missing"]}}}
_UNTIL = _ref("parameters", "Until")

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {"code": {"type": "string",
                                    "description": "bad_request, not_found, rate_limited, db_unavailable, busy…"},
                           "message": {"type": "string"}}}},
    },
    "Truck": {"type": "object", "required": ["truck_id", "timestamp"], "additionalProperties": False,
              "properties": {"truck_id": _TRUCK_ID, "timestamp": _time("time of the last reading")}},
    "SensorRow": _row("the truck's `truck_sensors_cache` row (a snapshot's `data`)",
                      {"truck_id": _TRUCK_ID, "timestamp": _time("time of the reading")},
                      {"data_age_seconds": _INT, "engine_state": _TEXT, "rpm": _INT, **_GAUGES,
                       "heading_deg": _NUMBER, "active_dtc_count": {"type": "integer"}, "updated_at": _time()}),
    "Metric": _row("a `fuel_metrics` row", {"id": _ID, "truck_id": _TRUCK_ID, "timestamp_utc": _time()},
                   {"engine_state": _TEXT, "rpm": _INT, **_GAUGES}),
    "Dtc": _row("a `dtc_events` row",
                {"id": _ID, "truck_id": _TRUCK_ID, "timestamp_utc": _time(), "dtc_code": {"type": "string"},
                 "spn": {"type": "integer"}, "fmi": {"type": "integer"},
                 "severity": {"type": "string", "examples": list(SEVERITIES)},
                 "status": {"type": "string", "examples": ["active", "cleared"]}},
                {"description": _TEXT, "cleared_at": _nullable("string", format="date-time")}),
    "Refuel": _row("a `refuel_events` row",
                   {"id": _ID, "truck_id": _TRUCK_ID, "refuel_time": _time(), "gallons_added": {"type": "number"}},
                   {"fuel_level_before_pct": _NUMBER, "fuel_level_after_pct": _NUMBER,
                    "latitude": _NUMBER, "longitude": _NUMBER}),
    "Event": {"type": "object", "required": ["type", "channel", "epoch", "seq", "kind", "truck_id", "ts", "data"],
              "description": "an event of the `alerts` channel (docs/PROTOCOL.md)",
              "properties": {"type": {"const": "event"}, "channel": {"const": "alerts"}, "epoch": {"type": "string"},
                             "seq": {"type": "integer"}, "truck_id": _TRUCK_ID, "ts": {"type": "integer"},
                             "kind": {"enum": ["dtc_raised", "dtc_cleared", "refuel", "fuel_low", "fuel_recovered",
                                               "truck_stale", "truck_reporting"]},
                             "data": {"type": "object"}}},
    "EventPage": _page("Event"),
    "TruckPage": _page("Truck"),
    "MetricPage": _page("Metric"),
    "DtcPage": _page("Dtc"),
    "RefuelPage": _page("Refuel"),
    "Ready": {"type": "object", "required": ["status", "components", "store", "pool_size", "pool_free"],
              "properties": {"status": {"const": "ready"}, "components": _COMPONENTS,
                             "store": {"enum": ["mysql", "sqlite"]},
                             "database": {"type": "string", "description": "the database URL, password redacted "
                                          "(only with --readyz-detail or a valid token)"},
                             **{k: {"type": "integer", "minimum": 0}
                                for k in ("pool_size", "pool_free", "pool_min", "pool_max", "pool_live_reserve")}}},
    "NotReady": {"type": "object", "required": ["status", "components", "error"],
                 "properties": {"status": {"const": "unavailable"}, "components": _COMPONENTS,
                                "error": {"type": "object", "required": ["code", "message"], "properties": {
                                    "code": {"enum": ["db_unavailable", "schema_missing"]},
                                    "message": {"type": "string"},
                                    "detail": {"type": "string", "description": "the driver's error "
                                               "(only with --readyz-detail or a valid token)"}}}}},
}

PARAMETERS: dict[str, Schema] = {
    "TruckId": {"name": "truck_id", "in": "path", "required": True, "schema": _TRUCK_ID, "example": EXAMPLE_TRUCK},
    "Since": _query("since", {"type": "string", "format": "date-time"}, "ISO 8601 time, inclusive", EXAMPLE_TIME),
    "Until": _query("until", {"type": "string", "format": "date-time"}, "ISO 8601 time; default now"),
}

RESPONSES: dict[str, Schema] = {
    "BadRequest": _error("a bad parameter: out of range, malformed, unknown to the endpoint, or given twice",
                         "bad_request"),
    "Unauthorized": _error("no valid token (only when the gateway runs with a JWT key)", "unauthorized",
                           {"WWW-Authenticate": {"schema": {"type": "string"}}}),
    "Forbidden": _error("the token does not grant this truck", "forbidden"),
    "NotFound": _error("no such truck", "not_found"),
    "Unavailable": _error("the database is not answering (`db_unavailable`), lacks the tables (`schema_missing`: "
                          "run `gateway initdb`), or the gateway is busy (`busy`, with `Retry-After`)",
                          "db_unavailable",
                          {"Retry-After": {"schema": {"type": "string"}, "description": "with `busy`: seconds"}}),
    "NotReady": _json(_ref("schemas", "NotReady"), "not ready: the database is down or lacks the tables"),
    "RateLimited": _error("more requests from this client address than `--rest-rate-limit` allows", "rate_limited",
                          {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}}),
}

_ETAG = {"ETag": {"schema": {"type": "string"}, "description": "strong ETag of exactly this body"},
         "Cache-Control": {"schema": {"const": "no-cache"}}}

PATHS: dict[str, dict[str, Schema]] = {
    "/v1/trucks": _operation(
        "Trucks by id with their last reading time",
        {"200": _json(_ref("schemas", "TruckPage"), "a page of trucks")},
        [_limit(100, 1000), _CURSOR], protected=True),
    "/v1/trucks/{truck_id}/sensors": _truck_operation(
        "The truck's current row",
        _json(_ref("schemas", "SensorRow"), "the current row", _ETAG),
        [{"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
          "description": "an ETag of a previous answer"}],
        **{"304": {"description": "the row still has the ETag given in If-None-Match", "headers": _ETAG}}),
    "/v1/trucks/{truck_id}/history": _truck_operation(
        "`fuel_metrics` rows in time order; the default window is the 24 h before `until`",
        _json(_ref("schemas", "MetricPage"), "a page of rows, oldest first"),
        [_SINCE, _UNTIL, _limit(500, 5000), _CURSOR]),
    "/v1/trucks/{truck_id}/dtcs": _truck_operation(
        "DTC events, newest first",
        _json(_ref("schemas", "DtcPage"), "a page of DTC events, newest first"),
        [_choices("status", STATUSES, "comma-separated; `all` (the default) cannot be combined with another"),
         _choices("severity", SEVERITIES, "comma-separated; default every severity"),
         _SINCE, _limit(100, 1000), _CURSOR]),
    "/v1/trucks/{truck_id}/refuels": _truck_operation(
        "Refuel events in a window, newest first",
        _json(_ref("schemas", "RefuelPage"), "a page of refuel events, newest first"),
        [_SINCE, _UNTIL, _limit(100, 1000), _CURSOR]),
    "/v1/alerts": _operation(
        "Fleet events the token may see (the alerts channel's REST fallback), newest first",
        {"200": _json(_ref("schemas", "EventPage"), "a page of events, newest first")},
        [_SINCE, _limit(100, 1000), _CURSOR], protected=True),
    "/healthz": _operation("Liveness: 200 while the process runs", {"200": _json(
        {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}, "alive")},
        tag="operations"),
    "/readyz": _operation("Readiness: the database answers", {
        "200": _json(_ref("schemas", "Ready"), "ready, with pool statistics"),
        "503": _ref("responses", "NotReady")}, tag="operations"),
    "/metrics": _operation("Prometheus metrics", {"200": {
        "description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        tag="operations"),
}

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "Fleet push gateway REST API",
        "version": "1",
        "description": "Live truck telemetry; the WebSocket protocol is the repository's docs/PROTOCOL.md. "
                       "Lists answer `{items, next_cursor}`; every error is "
                       "`{error: {code, message}}`. Times are ISO 8601 UTC. Unknown or repeated query "
                       "parameters are 400. The live stream is the WebSocket at `/v1/ws`.",
    },
    "tags": [{"name": "fleet"}, {"name": "operations"}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "parameters": PARAMETERS,
        "responses": RESPONSES,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "access_token": {"type": "apiKey", "in": "query", "name": "access_token",
                             "description": "the same token, for browsers that cannot set headers"},
        },
    },
}

_BODY = orjson.dumps(DOCUMENT)


async def openapi_handler(request: web.Request) -> web.Response:
    """``GET /openapi.json``: the document, encoded once."""
    return web.Response(body=_BODY, content_type="application/json")
