"""Looking inside the dashboard page: its parts (``main.js`` exports ``app``) and the fleet map's markers.

The map is a canvas: its markers are read from the map view (``app.map.markerOf``), in
CSS pixels of the map, which is where a pointer has to go to hover or click one.
"""

from __future__ import annotations

import datetime as dt
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
