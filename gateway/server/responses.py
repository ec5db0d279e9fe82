"""JSON responses through orjson, and the one error shape of the REST API."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Encode ``body`` with orjson."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str) -> web.Response:
    """``{"error": {"code": …, "message": …}}`` with the given status."""
    return json_response({"error": {"code": code, "message": message}}, status=status)


PAGE_SLICE = 500  # rows encoded between two yields to the event loop


async def json_page(items: list[Any], next_cursor: str | None) -> web.Response:
    """``{"items": [...], "next_cursor": ...}``, encoded a slice of rows at a time.

    A 5,000-row history page is megabytes of JSON; encoded in one call it holds the event
    loop for as long, and with a few such pages in flight every subscriber's diffs wait.
    Between slices the loop runs whatever is ready (the pollers' fan-out first of all).
    The bytes are the same as one ``orjson.dumps`` of the whole body.
    """
    if len(items) <= PAGE_SLICE:
        return json_response({"items": items, "next_cursor": next_cursor})
    parts = [b'{"items":[']
    for start in range(0, len(items), PAGE_SLICE):
        if start:
            parts.append(b",")
            await asyncio.sleep(0)
        parts.append(orjson.dumps(items[start:start + PAGE_SLICE])[1:-1])
    parts.append(b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}")
    return web.Response(body=b"".join(parts), content_type="application/json")
