"""Regenerate ``docs/dashboard.png``: the page on ``gateway demo`` with a truck's detail open.

    .venv/bin/python -m tests.browser.screenshot [--out docs/dashboard.png] [--truck ID]

Runs ``gateway demo`` on a throwaway embedded database (a seeded fleet, moving), opens the
page in headless Chromium at 1400x900, picks a truck (by default one with active DTCs and
refuels), lets a few live updates arrive, and saves the screenshot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
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
    trucks = [t["truck_id"] for t in _get(base + "/v1/trucks?limit=1000")["items"]]
    best, best_score = trucks[0], -1
    for truck in trucks:
        dtcs = len(_get(f"{base}/v1/trucks/{truck}/dtcs?status=active")["items"])
        refuels = len(_get(f"{base}/v1/trucks/{truck}/refuels")["items"])
        sensors = _get(f"{base}/v1/trucks/{truck}/sensors")
        score = min(dtcs, 2) * 2 + min(refuels, 1) + (sensors.get("engine_state") == "driving")
        if score > best_score:
            best, best_score = truck, score
    return best


async def main(out: Path, truck: str | None, theme: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = await start_process("demo", "--db", f"sqlite:///{tmp}/fleet.db", "--port", "0")
        try:
            truck = truck or await asyncio.to_thread(pick_truck, base)
            expect = require_playwright().expect
            async with launch_chromium() as browser:
                context = await browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme=theme)
                page = await context.new_page()
                await page.goto(base + "/")
                await page.wait_for_selector("#conn[data-state=live]")
                await page.click(f'tr[data-truck="{truck}"]')
                await page.wait_for_selector("#chart path.series")
                # A few seconds of live updates, so the table and the chart's live tail move.
                await expect(page.locator("#stats")).to_have_attribute("data-diffs", re.compile(r"^\d{3,}$"),
                                                                       timeout=30_000)
                await page.mouse.move(0, 899)
                out.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(out))
                await context.close()
        finally:
            proc.terminate()
            await proc.wait()
    print(f"saved {out} (truck {truck})")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--truck")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.out, args.truck, args.theme)))
