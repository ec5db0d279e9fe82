"""The alert feed's view: newest first, severity, truck, time with its zone, click → the truck.

The gateway's ``alerts`` channel is being built in parallel: here the page talks to the
real gateway, and the test grants ``alerts`` in the ack on the way to the page and adds
``event`` frames to the stream (``page.route_web_socket``, as test_dashboard's gap test
drops a diff), and answers the page's GET /v1/alerts backfill. test_fleet.py holds the
real channel end to end.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from tests.browser.pageapp import expose_app, wait_marker
from tests.browser.test_dashboard import row, update, wait_live

ZONED = r"\d\d:\d\d:\d\d (UTC|GMT[+-]\d+|[A-Z]{3,5})"


def event(kind: str, truck: str, seq: int, ts: int, **data) -> dict:
    return {"type": "event", "channel": "alerts", "epoch": "a1", "seq": seq, "kind": kind, "truck_id": truck,
            "ts": ts, "data": data}


async def test_feed_shows_events_newest_first_and_opens_the_truck(start_gateway, open_page, expect):
    gw = await start_gateway()
    update(gw, "CO0681", latitude=32.78, longitude=-96.80)
    sockets: list = []
    ready = asyncio.Event()
    backfills: list[str] = []
    now = int(time.time() * 1000)
    older = event("refuel", "TX-0001", 3, now - 3_600_000, gallons_added=151.5, fuel_level_before_pct=18,
                  fuel_level_after_pct=97, refuel_time="2026-01-01T00:00:00Z")

    async def route(ws) -> None:
        server = ws.connect_to_server()
        sockets.append(ws)

        def to_page(message):
            frame = json.loads(message)
            if frame.get("type") == "ack" and any(e.get("channel") == "alerts" for e in frame.get("errors", [])):
                # This gateway has no alerts channel yet: grant it here, leave `fleet` refused.
                frame["ok"] = [*frame["ok"], "alerts"]
                frame["errors"] = [e for e in frame["errors"] if e["channel"] != "alerts"]
                ws.send(json.dumps(frame))
                ready.set()
                return
            ws.send(message)

        ws.on_message(lambda message: server.send(message))
        server.on_message(to_page)

    async def alerts_api(api_route) -> None:
        backfills.append(api_route.request.url)
        body = {"items": [{k: v for k, v in older.items() if k not in ("type", "channel")}], "next_cursor": None}
        await api_route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page, console = await open_page("about:blank")
    await page.route(re.compile(r".*/v1/alerts\?.*"), alerts_api)
    await page.route_web_socket("**/v1/ws*", route)
    await page.goto(gw.url + "/")
    await wait_live(page, expect)
    await asyncio.wait_for(ready.wait(), 10)
    await expose_app(page)
    items = page.locator("#feed-list li[data-truck]")
    await expect(items).to_have_count(1)  # the backfill, read when the channel was granted
    assert backfills and backfills[0].endswith("/v1/alerts?limit=50")
    await expect(items.first).to_have_attribute("data-kind", "refuel")
    await expect(items.first).to_contain_text("+151.5 gal · 18 % → 97 %")

    # A critical DTC arrives live: on top, with its severity, truck and time (with the zone).
    sockets[0].send(json.dumps(event("dtc_raised", "CO0681", 5, now, id=901, dtc_code="P0217", spn=110, fmi=0,
                                     severity="critical", description="Engine coolant over temperature",
                                     timestamp_utc="2026-01-01T00:00:00Z")))
    await expect(items).to_have_count(2)
    top = items.first
    await expect(top).to_have_attribute("data-severity", "critical")
    await expect(top.locator(".sev")).to_have_text("critical")
    await expect(top.locator(".truck")).to_have_text("CO0681")
    await expect(top.locator(".what")).to_have_text("P0217 Engine coolant over temperature")
    await expect(top.locator("time")).to_have_text(re.compile("^" + ZONED + "$"))
    # … and on the truck: its row carries the severity, its marker turns to alert.
    await expect(row(page, "CO0681").locator(".sev")).to_have_text("critical")
    await expect(row(page, "CO0681").locator('td[data-col="dtc"]')).to_have_text("1")
    await wait_marker(page, "CO0681", "m && m.state === 'alert'")
    await expect(page.locator("#summary [data-kind=dtc] b")).to_have_text("1")

    # The same event again (a replay) is shown once; a click opens the truck.
    sockets[0].send(json.dumps(event("dtc_raised", "CO0681", 5, now, id=901, severity="critical")))
    await top.click()
    await expect(page.locator("#d-title")).to_have_text("CO0681")
    await expect(items).to_have_count(2)

    # Cleared: the truck's badge goes, the feed keeps both.
    sockets[0].send(json.dumps(event("dtc_cleared", "CO0681", 6, now + 1000, id=901, dtc_code="P0217",
                                     severity="critical", cleared_at="2026-01-01T00:00:01Z")))
    await expect(items).to_have_count(3)
    await expect(items.first).to_have_attribute("data-kind", "dtc_cleared")
    await expect(row(page, "CO0681").locator(".sev")).to_have_text("")
    await wait_marker(page, "CO0681", "m && m.state === 'driving'")
    console.assert_clean()


async def test_feed_says_so_when_the_gateway_has_no_alerts(start_gateway, open_page, expect):
    gw = await start_gateway()
    requested: list[str] = []
    page, console = await open_page("about:blank")
    page.on("request", lambda r: requested.append(r.url))
    await page.goto(gw.url + "/")
    await wait_live(page, expect)
    await expect(page.locator("#feed-list li.none")).to_contain_text("no alert feed")
    assert not [u for u in requested if "/v1/alerts" in u]  # never asked: no 404 in the console
    console.assert_clean()
