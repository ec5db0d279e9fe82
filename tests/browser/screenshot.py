"""Regenerate ``docs/dashboard.png`` and ``docs/dashboard-mobile.png``: the page on ``gateway demo``.

    .venv/bin/python -m tests.browser.screenshot [--out docs/dashboard.png]
        [--mobile-out docs/dashboard-mobile.png] [--truck ID]

Runs ``gateway demo`` on a throwaway embedded database (a seeded fleet, moving), opens the
page in headless Chromium at 1800x1000 (wide enough for the map, the table, the alert feed
and a truck's detail side by side), picks a truck (by default one with active DTCs and
refuels), lets live updates and a few alerts arrive, points at its history chart (the
crosshair) and saves the screenshot; then the same page on a 420 px wide phone screen.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import sqlite3
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.browser.support import launch_chromium, require_playwright, start_process

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # 127.0.0.1 only
        return json.load(response)


def pick_truck(base: str) -> str:
    """A truck with active DTCs and a refuel when there is one, so the detail shows everything."""
    # The first few dozen only: REST is rate-limited, and one of them has it all.
    trucks = [t["truck_id"] for t in _get(base + "/v1/trucks?limit=40")["items"]]
    best, best_score = trucks[0], -1
    for truck in trucks:
        dtcs = len(_get(f"{base}/v1/trucks/{truck}/dtcs?status=active")["items"])
        refuels = len(_get(f"{base}/v1/trucks/{truck}/refuels")["items"])
        sensors = _get(f"{base}/v1/trucks/{truck}/sensors")
        score = min(dtcs, 2) * 2 + min(refuels, 1) + (sensors.get("engine_state") == "driving")
        if score > best_score:
            best, best_score = truck, score
    return best


def raise_events(db: str, trucks: list[str]) -> None:
    """A few events for the feed, written as the fleet's sync worker would (the demo alone
    may take minutes to produce any): a critical and a medium DTC, a refuel."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(db, timeout=10) as conn:
        conn.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added, fuel_level_before_pct,"
                     " fuel_level_after_pct) VALUES (?, ?, 162.4, 14, 96)", (trucks[1], now))
        conn.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status,"
                     " description) VALUES (?, ?, 'P2463', 3719, 16, 'medium', 'active',"
                     " 'Diesel particulate filter soot accumulation')", (trucks[2], now))
        conn.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status,"
                     " description) VALUES (?, ?, 'P0524', 100, 1, 'critical', 'active',"
                     " 'Engine oil pressure too low')", (trucks[0], now))


async def main(out: Path, mobile_out: Path, truck: str | None, theme: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/fleet.db"
        proc, base = await start_process("demo", "--db", f"sqlite:///{db}", "--port", "0")
        try:
            truck = truck or await asyncio.to_thread(pick_truck, base)
            expect = require_playwright().expect
            async with launch_chromium() as browser:
                context = await browser.new_context(viewport={"width": 1800, "height": 1000}, color_scheme=theme)
                page = await context.new_page()
                await page.goto(base + "/")
                await page.wait_for_selector("#conn[data-state=live]")
                # A few seconds of live updates, so the table, the map and the feed move.
                await expect(page.locator("#stats")).to_have_attribute("data-diffs", re.compile(r"^\d{4,}$"),
                                                                       timeout=30_000)
                # The alert feed reads its baseline when the page subscribes; events come after it.
                others = [t["truck_id"] for t in _get(base + "/v1/trucks?limit=3")["items"] if t["truck_id"] != truck]
                await asyncio.to_thread(raise_events, db, [truck, *others])
                await page.locator("#feed-list li[data-truck]").nth(2).wait_for(timeout=30_000)
                await page.evaluate("(id) => import('/static/main.js').then(({ app }) => app.detail.open(id))", truck)
                await page.wait_for_selector("#chart path.series")
                await page.wait_for_selector("#track path.track-line")
                box = await page.locator("#chart").bounding_box()
                assert box is not None
                await page.mouse.move(box["x"] + box["width"] * 0.72, box["y"] + 70)
                out.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(out))
                await context.close()

                phone = await browser.new_context(viewport={"width": 420, "height": 900}, color_scheme=theme,
                                                  device_scale_factor=2, is_mobile=True, has_touch=True)
                page = await phone.new_page()
                await page.goto(base + "/")
                await page.wait_for_selector("#conn[data-state=live]")
                await page.locator('#feed-list li[data-truck]').nth(1).wait_for(timeout=30_000)
                await expect(page.locator("#map-marks")).to_have_attribute("aria-label", re.compile(r"Map of [1-9]"))
                await page.screenshot(path=str(mobile_out))
                await phone.close()
        finally:
            proc.terminate()
            await proc.wait()
    print(f"saved {out} (truck {truck}) and {mobile_out}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--mobile-out", type=Path, default=ROOT / "docs" / "dashboard-mobile.png")
    parser.add_argument("--truck")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.out, args.mobile_out, args.truck, args.theme)))
