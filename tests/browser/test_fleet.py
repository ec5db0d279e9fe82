"""The dashboard on the gateway's ``fleet`` and ``alerts`` channels, end to end.

A thousand trucks over one subscription with no REST polling of sensors; a DTC inserted
in the database reaching the feed and the truck; a reconnect that resumes the fleet from
its last position instead of sending every snapshot again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from tests.browser.pageapp import alerts_primed, expose_app, wait_marker
from tests.browser.test_dashboard import row, update, wait_live

FLEET = 1000


def seed_fleet(gw, count: int) -> list[str]:
    """Trucks NE-0000… so that the fleet has ``count`` trucks in all, spread over the lower 48."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ids = [f"NE-{i:04d}" for i in range(count - 3)]
    rows = [(truck, now, now, 55.0, 1400, 60.0, "driving", 1, 30.0 + (i % 17), -120.0 + (i * 7 % 44))
            for i, truck in enumerate(ids)]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    gw.execute("INSERT INTO truck_sensors_cache (truck_id, timestamp, updated_at, speed_mph, rpm, fuel_level_pct,"
               " engine_state, data_age_seconds, latitude, longitude) VALUES " + values,
               tuple(v for r in rows for v in r))
    return ids


async def fleet_mode(page, expect) -> None:
    """The page asked for `fleet`; fails at once (no waiting out a timeout) when it was refused."""
    note = page.locator("#transport-note")
    await page.wait_for_function("() => ['fleet', 'trucks'].includes(document.querySelector('#transport-note')"
                                 ".dataset.fleet)")
    await expect(note).to_have_attribute("data-fleet", "fleet", timeout=1)


async def test_a_thousand_trucks_over_fleet_with_no_sensor_polling(start_gateway, open_page, expect):
    gw = await start_gateway(poll_interval=0.5)
    ids = seed_fleet(gw, FLEET)
    sensors: list[str] = []
    page, console = await open_page("about:blank")
    page.on("request", lambda r: sensors.append(r.url) if "/sensors" in r.url else None)
    await page.goto(gw.url + "/")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await fleet_mode(page, expect)
    await expose_app(page)
    await expect(page.locator("#summary [data-kind=total] b")).to_have_text(str(FLEET))
    await expect(page.locator("#summary [data-kind=driving] b")).to_have_text(str(FLEET), timeout=30_000)
    await expect(page.locator("#map-marks")).to_have_attribute("aria-label", f"Map of {FLEET - 3} trucks",
                                                               timeout=30_000)  # the 3 seeded have no position
    await expect(page.locator("#transport-note")).to_contain_text("the whole fleet on one subscription")

    # Markers move when rows change.
    before = await wait_marker(page, ids[500])
    gw.execute("UPDATE truck_sensors_cache SET longitude = longitude + 3, timestamp = UTC_TIMESTAMP(6)"
               " WHERE truck_id = %s", (ids[500],))
    await wait_marker(page, ids[500], f"m && m.x > {before['x'] + 5}")

    # A truck that appears later arrives with its snapshot, on the map too.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    gw.execute("INSERT INTO truck_sensors_cache (truck_id, timestamp, updated_at, rpm, engine_state, latitude,"
               " longitude) VALUES ('AZ-NEW1', %s, %s, 1234, 'idle', 33.45, -112.07)", (now, now))
    await wait_marker(page, "AZ-NEW1", "m && m.state === 'idle'")
    await expect(page.locator("#summary [data-kind=total] b")).to_have_text(str(FLEET + 1))
    assert sensors == [], f"{len(sensors)} REST reads of sensors while the socket was up"
    console.assert_clean()


async def test_a_critical_dtc_reaches_the_feed_and_the_truck(start_gateway, open_page, expect):
    gw = await start_gateway(alerts_poll=0.2)
    update(gw, "CO0681", latitude=32.78, longitude=-96.80)
    page, console = await open_page(gw.url + "/")
    await wait_live(page, expect)
    await fleet_mode(page, expect)
    await expose_app(page)
    await alerts_primed(gw)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    gw.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status, description)"
               " VALUES ('CO0681', %s, 'P0524', 100, 1, 'critical', 'active', 'Engine oil pressure too low')", (now,))
    item = page.locator('#feed-list li[data-kind="dtc_raised"][data-truck="CO0681"]')
    await expect(item).to_have_count(1, timeout=15_000)
    await expect(item.locator(".sev")).to_have_text("critical")
    await expect(item.locator(".what")).to_contain_text("P0524")
    await expect(row(page, "CO0681").locator(".sev")).to_have_text("critical")
    await wait_marker(page, "CO0681", "m && m.state === 'alert'")
    await item.click()
    await expect(page.locator("#d-title")).to_have_text("CO0681")
    await expect(page.locator("#dtc-list li")).to_contain_text("P0524")
    console.assert_clean()


async def test_a_reconnect_resumes_the_fleet_without_every_snapshot(start_gateway, open_page, expect):
    gw = await start_gateway()
    sent: list[dict] = []
    positions: list[dict] = []
    routes: list = []

    async def route(ws) -> None:
        server = ws.connect_to_server()
        routes.append(ws)

        def to_server(message):
            sent.append(json.loads(message))
            server.send(message)

        def to_page(message):
            frame = json.loads(message)
            if frame.get("type") == "position":
                positions.append(frame)
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    page, console = await open_page(gw.url + "/", route_ws=route)
    await wait_live(page, expect)
    await fleet_mode(page, expect)
    await expose_app(page)
    update(gw, "FL-0208", rpm=1501)
    await expect(row(page, "FL-0208").locator('td[data-col="rpm"]')).to_have_text("1,501")
    for _ in range(100):
        if positions:
            break
        await asyncio.sleep(0.05)  # a position frame follows the batch that carried the diff
    assert positions, "no position frame from the fleet channel"
    snapshots = await page.evaluate("() => window.__app.client.stats.snapshots")
    assert snapshots == 3

    sent.clear()
    last = positions[-1]
    await routes[0].close(code=1012, reason="test restart")
    update(gw, "CO0681", rpm=1666)
    await expect(page.locator("#stats")).to_have_attribute("data-reconnects", "1")
    await expect(row(page, "CO0681").locator('td[data-col="rpm"]')).to_have_text("1,666")
    subscribe = next(m for m in sent if m.get("op") == "subscribe")
    assert subscribe["channels"] == ["fleet", "alerts"]
    assert subscribe["resume"]["fleet"]["epoch"] == last["epoch"]
    assert subscribe["resume"]["fleet"]["seq"] >= last["seq"]
    # Only what changed came again: not one snapshot a truck.
    assert await page.evaluate("() => window.__app.client.stats.snapshots") == snapshots
    console.assert_clean()
