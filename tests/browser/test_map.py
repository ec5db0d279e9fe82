"""The dashboard's map, chips, chart and small-screen layout, in headless Chromium on a live gateway.

These hold with or without the gateway's ``fleet`` channel (the page falls back to one
subscription a truck): the map, the chips and the chart read the same trucks either way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.browser.pageapp import expose_app, marker, point_at, seed_track, wait_marker
from tests.browser.test_dashboard import cell, row, seed_detail, update, wait_live

REFERENCE = Path(__file__).with_name("us_albers_reference.json")
# Denver, Dallas, Chicago.
PLACES = {"FL-0208": (39.74, -104.99), "CO0681": (32.78, -96.80), "TX-0001": (41.88, -87.63)}
ZONED = r"\d\d:\d\d:\d\d (UTC|GMT[+-]\d+|[A-Z]{3,5})"


def place_all(gw) -> None:
    for truck, (lat, lon) in PLACES.items():
        update(gw, truck, latitude=lat, longitude=lon)


async def test_projection_draws_the_outline_where_d3_albers_usa_does(start_gateway, open_page):
    gw = await start_gateway()
    page, console = await open_page(gw.url + "/")
    reference = json.loads(REFERENCE.read_text())
    boxes = await page.evaluate("""async (ref) => {
        const { albersUsa, decodeStates, projectRings } = await import("/static/projection.js");
        const doc = await (await fetch("/static/us-states.json")).json();
        const project = albersUsa(ref.scale, ref.translate[0], ref.translate[1]);
        const out = {};
        for (const state of decodeStates(doc)) {
          const b = [Infinity, Infinity, -Infinity, -Infinity];
          for (const { panel, points } of projectRings([state], project)) {
            const clip = project.boxes[panel];  // d3 clips each panel to its box
            for (let i = 0; i < points.length; i += 2) {
              const x = Math.min(Math.max(points[i], clip[0]), clip[2]);
              const y = Math.min(Math.max(points[i + 1], clip[1]), clip[3]);
              b[0] = Math.min(b[0], x); b[1] = Math.min(b[1], y); b[2] = Math.max(b[2], x); b[3] = Math.max(b[3], y);
            }
          }
          out[state.id] = b;
        }
        return { out, denver: project(-104.99, 39.74), nowhere: project(2.35, 48.85) };
    }""", reference)
    # The 50 states and DC, each within a pixel and a half of us-atlas's own projected file.
    assert set(boxes["out"]) == set(reference["boxes"])
    for state, want in reference["boxes"].items():
        got = boxes["out"][state]
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1.5, (state, got, want)
    colorado = reference["boxes"]["08"]
    x, y = boxes["denver"]
    assert colorado[0] < x < colorado[2] and colorado[1] < y < colorado[3]
    assert boxes["nowhere"] is None  # Paris is on none of the three panels
    console.assert_clean()


async def test_markers_move_name_the_truck_and_open_its_track(start_gateway, open_page, expect):
    gw = await start_gateway()
    place_all(gw)
    seed_track(gw, "FL-0208", start=(39.0, -104.0), step=(0.02, 0.03))
    page, console = await open_page(gw.url + "/")
    await wait_live(page, expect)
    await expose_app(page)
    denver = await wait_marker(page, "FL-0208")
    dallas = await wait_marker(page, "CO0681")
    chicago = await wait_marker(page, "TX-0001")
    assert denver["x"] < dallas["x"] < chicago["x"]       # west to east
    assert chicago["y"] < denver["y"] < dallas["y"]       # north to south
    assert {denver["state"], dallas["state"], chicago["state"]} == {"driving"}
    await expect(page.locator("#map-marks")).to_have_attribute("aria-label", "Map of 3 trucks")

    # A new position moves the marker (east and north); a state recolours it.
    update(gw, "FL-0208", latitude=40.5, longitude=-103.0)
    moved = await wait_marker(page, "FL-0208", f"m && m.x > {denver['x'] + 5} && m.y < {denver['y'] - 5}")
    update(gw, "CO0681", engine_state="idle", speed_mph=0)
    await wait_marker(page, "CO0681", "m && m.state === 'idle'")
    update(gw, "TX-0001", active_dtc_count=2)
    await wait_marker(page, "TX-0001", "m && m.state === 'alert'")

    # Hover names the truck; a click opens it, with its recent track from history.
    await page.mouse.move(*await point_at(page, moved))
    tip = page.locator("#map-tip")
    await expect(tip).to_be_visible()
    await expect(tip).to_contain_text("FL-0208")
    await expect(tip).to_contain_text("driving")
    await page.mouse.click(*await point_at(page, moved))
    await expect(page.locator("#d-title")).to_have_text("FL-0208")
    line = page.locator("#track path.track-line")
    await expect(line).to_have_attribute("data-points", "31")  # 30 from history and where it is now
    await expect(page.locator("#track-note")).to_have_text("31 positions")
    assert await page.evaluate("() => window.__app.map.trackXY.length") == 31
    await page.mouse.move(5, 5)
    await expect(tip).to_be_hidden()
    console.assert_clean()


async def test_chips_filter_the_table_and_the_map(start_gateway, open_page, expect):
    gw = await start_gateway()
    place_all(gw)
    update(gw, "CO0681", engine_state="idle", speed_mph=0)
    update(gw, "TX-0001", engine_state="parked", speed_mph=0, fuel_level_pct=12.0)
    page, console = await open_page(gw.url + "/")
    await wait_live(page, expect)
    await expose_app(page)
    for truck in PLACES:
        await wait_marker(page, truck)
    chips = page.locator("#summary")
    rows = page.locator("#fleet-body tr[data-truck]")
    await expect(chips.locator("[data-kind=idle] b")).to_have_text("1")
    await expect(chips.locator("[data-kind=lowfuel] b")).to_have_text("1")

    idle = chips.locator("button[data-kind=idle]")
    await idle.click()
    await expect(idle).to_have_attribute("aria-pressed", "true")
    await expect(rows).to_have_count(1)
    await expect(row(page, "CO0681")).to_be_visible()
    await wait_marker(page, "FL-0208", "m && !m.shown")
    assert (await marker(page, "CO0681"))["shown"] and not (await marker(page, "TX-0001"))["shown"]
    await expect(page.locator("#map-marks")).to_have_attribute("aria-label", "Map of 1 trucks")

    # A truck that starts idling joins the filtered view by itself.
    update(gw, "FL-0208", engine_state="idle", speed_mph=0)
    await expect(rows).to_have_count(2)
    await wait_marker(page, "FL-0208", "m && m.shown")

    # One chip at a time: low fuel replaces idle; clicking it again shows everyone.
    lowfuel = chips.locator("button[data-kind=lowfuel]")
    await lowfuel.click()
    await expect(idle).to_have_attribute("aria-pressed", "false")
    await expect(rows).to_have_count(1)
    await expect(row(page, "TX-0001")).to_be_visible()
    await lowfuel.click()
    await expect(rows).to_have_count(3)
    await wait_marker(page, "CO0681", "m && m.shown")

    # Trucks with DTCs; and the text filter narrows the map too.
    update(gw, "CO0681", active_dtc_count=1)
    await chips.locator("button[data-kind=dtc]").click()
    await expect(rows).to_have_count(1)
    await expect(row(page, "CO0681")).to_be_visible()
    await chips.locator("button[data-kind=dtc]").click()
    await page.locator("#filter").fill("tx-")
    await expect(rows).to_have_count(1)
    await wait_marker(page, "FL-0208", "m && !m.shown")
    assert (await marker(page, "TX-0001"))["shown"]
    console.assert_clean()


async def test_chart_has_ticks_a_crosshair_and_event_markers(start_gateway, open_page, expect):
    gw = await start_gateway()
    seed_detail(gw, "FL-0208")
    page, console = await open_page(gw.url + "/")
    await wait_live(page, expect)
    await row(page, "FL-0208").click()
    chart = page.locator("#chart")
    await expect(chart.locator("path.series")).to_have_count(4)
    for lane in ("speed", "fuel", "coolant"):
        ticks = chart.locator(f"text.tick-y[data-lane={lane}]")
        assert await ticks.count() >= 3
        values = [float(t) for t in await ticks.all_text_contents()]
        assert values == sorted(values, reverse=True) or values == sorted(values)  # a scale, top to bottom
    assert [float(t) for t in await chart.locator("text.tick-y[data-lane=fuel]").all_text_contents()] == [0, 50, 100]
    await expect(chart.locator("text.zone")).to_have_text(re.compile(r"^(UTC|GMT[+-]\d+|[A-Z]{3,5})$"))

    # The active DTC raised 20 minutes ago is in the 1 h window; the rest only in 6 h.
    await expect(chart.locator("g.mark-dtc")).to_have_count(1)
    await expect(chart.locator("g.mark-dtc title")).to_contain_text("P0217")
    await expect(chart.locator("g.mark-refuel")).to_have_count(0)
    await page.locator('#h-ranges button[data-range="6h"]').click()
    await expect(chart.locator("g.mark-dtc")).to_have_count(2)
    await expect(chart.locator("g.mark-dtc-cleared")).to_have_count(1)
    await expect(chart.locator("g.mark-refuel")).to_have_count(1)
    await expect(chart.locator("g.mark-refuel title")).to_contain_text("+151.5 gal")

    # The crosshair: the reading nearest the pointer, its values and its time with the zone.
    box = await chart.bounding_box()
    assert box is not None
    readout = page.locator("#chart-readout")
    await expect(readout).to_be_hidden()
    await page.mouse.move(box["x"] + box["width"] - 20, box["y"] + 60)
    await expect(readout).to_be_visible()
    await expect(readout).to_have_text(re.compile("^" + ZONED + r" · Speed \d+(\.\d)? mph · Fuel [\d.]+ % · Coolant"))
    await expect(chart.locator("g.xhair circle")).to_have_count(4)
    first_t = int(await readout.get_attribute("data-t"))
    await page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + 60)
    await expect(readout).not_to_have_attribute("data-t", str(first_t))
    assert int(await readout.get_attribute("data-t")) < first_t  # further left is earlier
    await page.mouse.move(box["x"] - 30, box["y"] - 30)
    await expect(readout).to_be_hidden()
    console.assert_clean()


async def test_a_420px_screen_shows_chips_map_feed_and_the_columns_that_matter(start_gateway, browser, expect):
    gw = await start_gateway()
    place_all(gw)
    # A phone in Chicago: times say their zone (not UTC, the machine's).
    context = await browser.new_context(viewport={"width": 420, "height": 860}, color_scheme="dark",
                                        timezone_id="America/Chicago")
    try:
        page = await context.new_page()
        await page.goto(gw.url + "/")
        await wait_live(page, expect)
        # Nothing wider than the screen: no sideways scrolling of the page.
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 420
        for kind in ("driving", "idle", "dtc", "lowfuel", "stale"):
            chip = page.locator(f"#summary button[data-kind={kind}]")
            await expect(chip).to_be_visible()
            box = await chip.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 420, kind
        map_box = await page.locator("#map").bounding_box()
        assert map_box is not None and map_box["width"] >= 400 and map_box["height"] >= 200
        await expect(page.locator("#feed")).to_be_visible()
        for column in ("status", "truck", "engine", "speed", "fuel", "dtc", "age"):
            td = cell(page, "FL-0208", column)
            await expect(td).to_be_visible()
            box = await td.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 420, column
        for column in ("rpm", "coolant", "oil", "battery"):
            await expect(cell(page, "FL-0208", column)).to_be_hidden()

        # The chips still filter; a truck's detail covers the screen, and closes.
        await page.locator("#summary button[data-kind=driving]").click()
        await expect(page.locator("#fleet-body tr[data-truck]")).to_have_count(3)
        await row(page, "CO0681").click()
        detail = await page.locator("#detail").bounding_box()
        assert detail is not None and detail["width"] == 420 and detail["x"] == 0
        await expect(page.locator("#d-title")).to_have_text("CO0681")
        await expect(page.locator('#d-kpis dd[data-kpi="reading"] .v')).to_have_text(
            re.compile(r" ago · \d\d:\d\d:\d\d (CST|CDT|GMT-[56])$"))
        await page.locator("#d-close").click()
        await expect(page.locator("#detail")).to_be_hidden()
    finally:
        await context.close()
