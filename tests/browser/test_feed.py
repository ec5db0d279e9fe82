"""The alert feed: newest first, severity, truck, time with its zone, click → the truck.

Events come from the gateway's ``alerts`` channel, derived from rows the test writes to
the event tables; a second page fills its feed from GET /v1/alerts. A gateway without the
channel (an older one, played by refusing it on the way) leaves the feed saying so.
"""

from __future__ import annotations

import re

from tests.browser.pageapp import alerts_primed, expose_app, old_gateway, wait_marker
from tests.browser.test_dashboard import row, update, wait_live

ZONED = r"\d\d:\d\d:\d\d (UTC|GMT[+-]\d+|[A-Z]{3,5})"


async def test_feed_shows_events_newest_first_and_opens_the_truck(start_gateway, open_page, browser, expect):
    gw = await start_gateway(alerts_poll=0.2)
    update(gw, "CO0681", latitude=32.78, longitude=-96.80)
    page, console = await open_page(gw.url + "/")
    await wait_live(page, expect)
    await expose_app(page)
    await expect(page.locator("#feed-list li.none")).to_have_text("No alerts yet.")
    await alerts_primed(gw)
    items = page.locator("#feed-list li[data-truck]")

    gw.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added, fuel_level_before_pct,"
               " fuel_level_after_pct) VALUES ('TX-0001', UTC_TIMESTAMP(6), 151.5, 18, 97)")
    await expect(items).to_have_count(1)
    await expect(items.first).to_have_attribute("data-kind", "refuel")
    await expect(items.first.locator(".what")).to_have_text("+151.5 gal · 18 % → 97 %")

    # A critical DTC: on top, with its severity, truck, what and when (with the zone).
    gw.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status, description)"
               " VALUES ('CO0681', UTC_TIMESTAMP(6), 'P0217', 110, 0, 'critical', 'active',"
               " 'Engine coolant over temperature')")
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
    await top.click()
    await expect(page.locator("#d-title")).to_have_text("CO0681")

    # Cleared: the truck's badge goes, the feed keeps all three.
    gw.execute("UPDATE dtc_events SET status = 'cleared', cleared_at = UTC_TIMESTAMP(6) WHERE truck_id = 'CO0681'")
    await expect(items).to_have_count(3)
    await expect(items.first).to_have_attribute("data-kind", "dtc_cleared")
    await expect(row(page, "CO0681").locator(".sev")).to_have_text("")
    await wait_marker(page, "CO0681", "m && m.state === 'driving'")
    shown = [(await li.get_attribute("data-kind"), await li.get_attribute("data-truck")) for li in await items.all()]
    assert shown == [("dtc_cleared", "CO0681"), ("dtc_raised", "CO0681"), ("refuel", "TX-0001")]

    # A page opened now fills its feed from GET /v1/alerts, in the same order.
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        late = await context.new_page()
        backfills: list[str] = []
        late.on("request", lambda r: backfills.append(r.url) if "/v1/alerts" in r.url else None)
        await late.goto(gw.url + "/")
        late_items = late.locator("#feed-list li[data-truck]")
        await expect(late_items).to_have_count(3)
        assert [await li.get_attribute("data-kind") for li in await late_items.all()] == [k for k, _ in shown]
        assert backfills and backfills[0].endswith("/v1/alerts?limit=50")
    finally:
        await context.close()
    console.assert_clean()


async def test_feed_says_so_when_the_gateway_has_no_alerts(start_gateway, open_page, expect):
    gw = await start_gateway()
    requested: list[str] = []
    page, console = await open_page("about:blank", route_ws=old_gateway)
    page.on("request", lambda r: requested.append(r.url))
    await page.goto(gw.url + "/")
    await wait_live(page, expect)
    await expect(page.locator("#feed-list li.none")).to_contain_text("no alert feed")
    await expect(page.locator("#transport-note")).to_contain_text("one subscription a truck")
    assert not [u for u in requested if "/v1/alerts" in u]  # never asked: no 404 in the console
    console.assert_clean()


async def test_feed_is_polled_over_rest_on_the_rest_transport(start_gateway, open_page, expect):
    gw = await start_gateway(alerts_poll=0.2)
    page, console = await open_page(gw.url + "/?transport=rest&poll=0.3")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "rest")
    await expect(page.locator("#feed-note")).to_have_text("polled over REST")
    await alerts_primed(gw)  # the first GET /v1/alerts set the gateway's rules running
    gw.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status, description)"
               " VALUES ('TX-0001', UTC_TIMESTAMP(6), 'P0524', 100, 1, 'high', 'active', 'Engine oil pressure low')")
    item = page.locator('#feed-list li[data-truck="TX-0001"]')
    await expect(item).to_have_attribute("data-severity", "high")
    await expect(row(page, "TX-0001").locator(".sev")).to_have_text("high")
    console.assert_clean()
