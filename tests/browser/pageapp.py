"""Looking inside the dashboard page: its parts (``main.js`` exports ``app``) and the fleet map's markers.

The map is a canvas: its markers are read from the map view (``app.map.markerOf``), in
CSS pixels of the map, which is where a pointer has to go to hover or click one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

EXPOSE = "async () => { window.__app = (await import('/static/main.js')).app; }"


async def expose_app(page) -> None:
    """Make the page's ``app`` reachable as ``window.__app`` (the module the page itself runs)."""
    await page.evaluate(EXPOSE)


async def marker(page, truck: str) -> dict[str, Any] | None:
    """The truck's marker {x, y, state, shown}, or None when it has none."""
    return await page.evaluate("(id) => window.__app.map.markerOf(id)", truck)


async def wait_marker(page, truck: str, condition: str = "m && Number.isFinite(m.x)") -> dict[str, Any]:
    """Wait until the truck's marker ``m`` satisfies a JavaScript condition; returns it."""
    predicate = f"(id) => {{ const m = window.__app.map.markerOf(id); return {condition}; }}"
    await page.wait_for_function(predicate, arg=truck)
    return await marker(page, truck)


async def point_at(page, m: dict[str, Any]) -> tuple[float, float]:
    """Page coordinates of a marker (to move the mouse there)."""
    box = await page.locator("#map-marks").bounding_box()
    assert box is not None
    return box["x"] + m["x"], box["y"] + m["y"]


def seed_track(gw, truck: str, start: tuple[float, float], step: tuple[float, float], count: int = 30) -> None:
    """``count`` history rows of ``truck`` over the last hour, moving ``step`` degrees per row."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for i in range(count):
        at = now - dt.timedelta(minutes=58) + dt.timedelta(minutes=2 * i)
        rows.append((truck, at, "driving", 50 + i % 10, 1300, 70 - i * 0.2, 196, 206,
                     start[0] + step[0] * i, start[1] + step[1] * i))
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    gw.execute("INSERT INTO fuel_metrics (truck_id, timestamp_utc, engine_state, speed_mph, rpm, fuel_level_pct,"
               " coolant_temp_f, oil_temp_f, latitude, longitude) VALUES " + values, tuple(v for r in rows for v in r))


def refuse_fleet(ws, message: str) -> bool:
    """Play a gateway that predates ``fleet`` and ``alerts`` (``invalid_channel``) for a page's
    subscribe to them: answers the page and returns True, or False for any other message."""
    msg = json.loads(message)
    if msg.get("op") != "subscribe" or not {"fleet", "alerts"} & set(msg.get("channels", [])):
        return False
    ws.send(json.dumps({"type": "ack", "id": msg["id"], "op": "subscribe", "ok": [], "errors": [
        {"channel": c, "code": "invalid_channel", "message": "channel must be 'truck:' followed by a truck id"}
        for c in msg["channels"]]}))
    return True


async def old_gateway(ws) -> None:
    """A ``route_web_socket`` handler: the real gateway, but without ``fleet`` and ``alerts``."""
    server = ws.connect_to_server()
    ws.on_message(lambda message: None if refuse_fleet(ws, message) else server.send(message))
    server.on_message(ws.send)


async def alerts_primed(gw) -> None:
    """Wait until the gateway's alert feed has read its baseline: event rows that exist
    before it are never announced, so a test writes its rows only after this."""
    feed = gw.hub.feeds.alerts
    async with asyncio.timeout(10):
        while not feed._primed:
            await asyncio.sleep(0.02)
