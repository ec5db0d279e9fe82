"""The dashboard page in headless Chromium, on a live gateway backed by MariaDB.

Each test opens the page, changes the database as the fleet's sync worker would, and
waits (Playwright's ``expect``, never a sleep) for the page to show it. No test may leave
a console error or an uncaught exception behind; the two tests that provoke a refused
request on purpose (a 403 upgrade, a 401) allow exactly Chromium's report of it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

from gateway.server.auth import mint
from gateway.store import open_store
from gateway.store.url import parse_db_url
from tests.browser.pageapp import old_gateway
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.support.faultproxy import FaultProxy


def row(page, truck: str):
    return page.locator(f'#fleet-body tr[data-truck="{truck}"]')


def cell(page, truck: str, column: str):
    return row(page, truck).locator(f'td[data-col="{column}"]')


async def wait_live(page, expect, trucks: tuple[str, ...] = ("FL-0208", "CO0681", "TX-0001")) -> None:
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    for truck in trucks:
        await expect(cell(page, truck, "status")).to_have_text("live")
        await expect(cell(page, truck, "rpm")).to_have_text("1,400")


def update(gw, truck: str, **values) -> None:
    """A new reading of one truck, written by another client (with a fresh reading time)."""
    sets = ", ".join(f"{k} = %s" for k in values)
    gw.execute(f"UPDATE truck_sensors_cache SET {sets}, timestamp = UTC_TIMESTAMP(6) WHERE truck_id = %s",
               (*values.values(), truck))


def seed_detail(gw, truck: str) -> None:
    """History, an active DTC and a refuel for the detail view."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for i in range(30):
        gw.execute("INSERT INTO fuel_metrics (truck_id, timestamp_utc, engine_state, speed_mph, rpm, fuel_level_pct,"
                   " coolant_temp_f, oil_temp_f) VALUES (%s, %s, 'driving', %s, %s, %s, %s, %s)",
                   (truck, now - dt.timedelta(minutes=58 - 2 * i), 40 + i, 1200 + 10 * i, 80 - i * 0.5,
                    195 + i % 5, 205 + i % 7))
    gw.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status, description)"
               " VALUES (%s, %s, 'P0217', 110, 0, 'high', 'active', 'Engine coolant over temperature condition')",
               (truck, now - dt.timedelta(minutes=20)))
    gw.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status, cleared_at)"
               " VALUES (%s, %s, 'P0562', 168, 1, 'low', 'cleared', %s)",
               (truck, now - dt.timedelta(hours=3), now - dt.timedelta(hours=2)))
    gw.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added, fuel_level_before_pct,"
               " fuel_level_after_pct) VALUES (%s, %s, 151.5, 18, 97)", (truck, now - dt.timedelta(hours=5)))


async def test_live_table_and_detail_follow_the_database(start_gateway, open_page, expect):
    gw = await start_gateway()
    seed_detail(gw, "FL-0208")
    page, console = await open_page(gw.url + "/")
    await wait_live(page, expect)
    await expect(page.locator("#summary [data-kind=total] b")).to_have_text("3")
    await expect(page.locator("#transport-note")).to_contain_text("WebSocket")

    update(gw, "FL-0208", rpm=1777, speed_mph=61.5, fuel_level_pct=12.5, coolant_temp_f=238.0)
    await expect(cell(page, "FL-0208", "rpm")).to_have_text("1,777")
    await expect(cell(page, "FL-0208", "speed")).to_have_text("61.5")
    await expect(cell(page, "FL-0208", "fuel")).to_have_text("12.5%")
    await expect(cell(page, "FL-0208", "fuel")).to_have_class("warn")
    await expect(cell(page, "FL-0208", "coolant")).to_have_class(re.compile(r"\bcrit\b"))
    await expect(cell(page, "CO0681", "rpm")).to_have_text("1,400")  # the others are untouched

    # The detail view: live values, the history chart, active DTCs (not cleared ones), refuels.
    await row(page, "FL-0208").click()
    detail = page.locator("#detail")
    await expect(detail).to_be_visible()
    await expect(page.locator("#d-title")).to_have_text("FL-0208")
    await expect(page.locator('#d-kpis dd[data-kpi="rpm"] .v')).to_have_text("1,777")
    await expect(page.locator("#chart svg path.series")).to_have_count(4)  # speed, fuel, coolant, oil
    await expect(page.locator("#h-note")).to_have_text(re.compile(r"^3\d readings$"))
    await expect(page.locator("#dtc-list li")).to_have_count(1)
    await expect(page.locator("#dtc-list li")).to_contain_text("P0217")
    await expect(page.locator("#dtc-list li .sev")).to_have_text("high")
    await expect(page.locator("#refuel-list tr")).to_contain_text("151.5")
    assert "#truck=FL-0208" in page.url

    update(gw, "FL-0208", rpm=1888)
    await expect(page.locator('#d-kpis dd[data-kpi="rpm"] .v')).to_have_text("1,888")
    await expect(cell(page, "FL-0208", "rpm")).to_have_text("1,888")
    await page.keyboard.press("Escape")
    await expect(detail).to_be_hidden()

    # A truck that stops reporting turns stale (the gateway's --stale-after, 120 s), then live again.
    gw.execute("UPDATE truck_sensors_cache SET timestamp = UTC_TIMESTAMP(6) - INTERVAL 1 HOUR"
               " WHERE truck_id = 'CO0681'")
    await expect(cell(page, "CO0681", "status")).to_have_text("stale")
    await expect(row(page, "CO0681")).to_have_attribute("data-state", "stale")
    await expect(cell(page, "CO0681", "age")).to_have_text("1 h 00 min")
    await expect(page.locator("#summary [data-kind=stale] b")).to_have_text("1")
    update(gw, "CO0681", rpm=1401)
    await expect(cell(page, "CO0681", "status")).to_have_text("live")
    await expect(cell(page, "CO0681", "rpm")).to_have_text("1,401")
    console.assert_clean()


async def test_database_outage_shows_degraded_then_live_again(start_gateway, open_page, mysql_db, expect):
    proxy = FaultProxy(MYSQL_HOST, MYSQL_PORT)
    await proxy.start()
    store = open_store(parse_db_url(f"mysql://root@127.0.0.1:{proxy.port}/{mysql_db}"),
                       pool_min=1, pool_max=4, query_timeout=1.0)
    try:
        gw = await start_gateway(store=store, poll_interval=0.05, backoff_max=0.2)
        page, console = await open_page(gw.url + "/")
        await wait_live(page, expect)

        await proxy.cut()
        for truck in ("FL-0208", "CO0681", "TX-0001"):
            await expect(cell(page, truck, "status")).to_have_text("degraded")
            await expect(row(page, truck)).to_have_attribute("data-state", "degraded")
        await expect(page.locator("#banner")).to_be_visible()
        await expect(page.locator("#banner")).to_contain_text("database")
        await expect(page.locator("#summary [data-kind=degraded] b")).to_have_text("3")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")  # the socket stays up

        update(gw, "FL-0208", rpm=2222)  # written during the outage, straight to MariaDB
        await proxy.restore()
        for truck in ("FL-0208", "CO0681", "TX-0001"):
            await expect(cell(page, truck, "status")).to_have_text("live")
        await expect(cell(page, "FL-0208", "rpm")).to_have_text("2,222")
        await expect(page.locator("#banner")).to_be_hidden()
        await expect(page.locator("#stats")).to_have_attribute("data-reconnects", "0")
        console.assert_clean()
    finally:
        await proxy.stop()


async def test_rest_transport_polls_with_if_none_match(start_gateway, open_page, expect):
    gw = await start_gateway()
    sockets: list[str] = []
    statuses: list[int] = []
    page, console = await open_page(gw.url + "/?transport=rest&poll=0.3")
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("response", lambda r: statuses.append(r.status) if "/sensors" in r.url else None)

    await expect(page.locator("#conn")).to_have_attribute("data-state", "rest")
    await expect(page.locator("#conn-label")).to_have_text("REST polling")
    await expect(page.locator("#transport-note")).to_contain_text("REST polling every 0.3 s")
    await expect(cell(page, "TX-0001", "rpm")).to_have_text("1,400")
    await expect(cell(page, "TX-0001", "status")).to_have_text("live")
    # Unchanged rows come back as 304 (the page sends If-None-Match with the last ETag).
    await expect(page.locator("#stats")).to_contain_text(re.compile(r"polls \d+ \([1-9]\d* unchanged\)"))

    update(gw, "TX-0001", rpm=1999, speed_mph=12.5)
    await expect(cell(page, "TX-0001", "rpm")).to_have_text("1,999")
    await expect(cell(page, "TX-0001", "speed")).to_have_text("12.5")
    assert 304 in statuses and 200 in statuses
    assert sockets == [], "no WebSocket may be opened with ?transport=rest"
    console.assert_clean()


async def test_falls_back_to_rest_when_the_socket_cannot_open(start_gateway, open_page, expect):
    # The gateway is at its connection limit (503 on the upgrade), while REST still answers.
    gw = await start_gateway(max_connections=1)
    occupant = await gw.connect()
    page, console = await open_page(gw.url + "/?poll=0.3")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "rest")
    await expect(page.locator("#transport-note")).to_contain_text("the WebSocket cannot open")
    await expect(cell(page, "CO0681", "status")).to_have_text("live")
    update(gw, "CO0681", rpm=1313)
    await expect(cell(page, "CO0681", "rpm")).to_have_text("1,313")
    # The only errors are Chromium's own reports of the refused handshakes this test provokes.
    unexpected = [e for e in console.errors if "WebSocket connection to" not in e]
    assert console.errors and not unexpected, console.errors
    await occupant.close()


async def test_trucks_past_the_subscription_limit_are_polled(start_gateway, open_page, expect):
    # A gateway without the fleet channel: one subscription a truck, and REST past the limit.
    gw = await start_gateway(max_subscriptions=2)
    page, console = await open_page(gw.url + "/?poll=0.3", route_ws=old_gateway)
    await wait_live(page, expect)
    await expect(row(page, "TX-0001").locator(".via")).to_have_text("REST")  # the third in id order
    await expect(row(page, "CO0681").locator(".via")).to_have_text("")
    await expect(page.locator("#transport-note")).to_contain_text("1 trucks past the socket's subscription limit")
    update(gw, "TX-0001", rpm=1717)
    update(gw, "CO0681", rpm=1718)
    await expect(cell(page, "TX-0001", "rpm")).to_have_text("1,717")
    await expect(cell(page, "CO0681", "rpm")).to_have_text("1,718")
    console.assert_clean()


async def test_gap_resubscribes_and_reconnect_resumes(start_gateway, open_page, expect):
    """Drop one diff between gateway and page: the page (on ``fleet``) sees the seq jump and
    resubscribes that truck by name with ``resume``; then cut the socket: the page reconnects
    and resumes the fleet from its last position."""
    gw = await start_gateway()
    sent: list[dict] = []
    routes: list = []
    dropped: list[dict] = []
    lost = asyncio.Event()

    async def route(ws) -> None:
        server = ws.connect_to_server()
        routes.append(ws)

        def to_server(message):
            sent.append(json.loads(message))
            server.send(message)

        def to_page(message):
            frame = json.loads(message)
            if (frame.get("type") == "diff" and frame["channel"] == "truck:CO0681" and not dropped
                    and frame["changed"].get("rpm") == 1501):
                dropped.append(frame)  # lost on the way: the page must notice
                lost.set()
                return
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    page, console = await open_page(gw.url + "/", route_ws=route)
    await wait_live(page, expect)
    update(gw, "CO0681", rpm=1501)
    await asyncio.wait_for(lost.wait(), 10)  # that diff went out (and was dropped) before the next change
    update(gw, "CO0681", rpm=1502, speed_mph=33.5)
    await expect(cell(page, "CO0681", "rpm")).to_have_text("1,502")
    await expect(cell(page, "CO0681", "speed")).to_have_text("33.5")
    await expect(page.locator("#stats")).to_have_attribute("data-resyncs", "1")
    resubscribe = [m for m in sent if m.get("op") == "subscribe" and "truck:CO0681" in m.get("resume", {})]
    assert resubscribe and resubscribe[0]["resume"]["truck:CO0681"]["seq"] == dropped[0]["seq"] - 1

    # The socket dies; a change happens meanwhile; the page reconnects with resume.
    sent.clear()
    await routes[0].close(code=1012, reason="test restart")
    update(gw, "FL-0208", rpm=1666)
    await expect(page.locator("#stats")).to_have_attribute("data-reconnects", "1")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(cell(page, "FL-0208", "rpm")).to_have_text("1,666")
    subscribe = next(m for m in sent if m.get("op") == "subscribe")
    assert subscribe["channels"] == ["fleet", "alerts"] and set(subscribe["resume"]) >= {"fleet"}
    assert not [m for m in sent if m.get("op") == "subscribe" and m is not subscribe]  # nothing by name
    update(gw, "CO0681", rpm=1503)
    await expect(cell(page, "CO0681", "rpm")).to_have_text("1,503")
    console.assert_clean()


async def test_auth_token_from_the_url(start_gateway, open_page, expect):
    secret = "browser-test-secret-0123456789abcdef"
    gw = await start_gateway(jwt_secret=secret)
    token = mint(secret, "HS256", "dashboard-test", ["FL-0208", "CO0681"], 600)
    page, console = await open_page(gw.url + "/?access_token=" + token)
    await wait_live(page, expect, ("FL-0208", "CO0681"))
    await expect(page.locator("#fleet-body tr")).to_have_count(2)  # only the granted trucks
    assert "access_token" not in page.url  # kept out of the address bar
    update(gw, "CO0681", rpm=1234)
    await expect(cell(page, "CO0681", "rpm")).to_have_text("1,234")
    await row(page, "CO0681").click()
    await expect(page.locator("#dtc-list li")).to_have_text("No active trouble codes")
    await expect(page.locator("#chart")).to_contain_text("No readings in this window")
    console.assert_clean()


async def test_auth_prompts_for_a_token_on_401(start_gateway, open_page, expect):
    secret = "browser-test-secret-0123456789abcdef"
    gw = await start_gateway(jwt_secret=secret)
    page, console = await open_page(gw.url + "/")
    await expect(page.locator("#auth")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "auth")
    await page.locator("#auth-token").fill(mint(secret, "HS256", "dashboard-test", ["*"], 600))
    await page.locator("#auth-form button[type=submit]").click()
    await expect(page.locator("#auth")).to_be_hidden()
    await wait_live(page, expect)
    update(gw, "TX-0001", rpm=1444)
    await expect(cell(page, "TX-0001", "rpm")).to_have_text("1,444")
    # The only error is Chromium's report of the 401 that makes the page ask.
    unexpected = [e for e in console.errors if "status of 401" not in e]
    assert not unexpected, console.errors
