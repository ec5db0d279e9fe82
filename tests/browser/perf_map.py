"""Measure the dashboard with a big fleet: frames per second and the page's CPU in headless Chromium.

    .venv/bin/python -m tests.browser.perf_map [--trucks 1000] [--seconds 20] [--viewport 1400x900]

Runs ``gateway demo`` on a throwaway embedded database (``--trucks`` trucks, each updated
once a second), opens the page, waits until every truck is on the map, then watches for
``--seconds``: animation frames delivered (a page that keeps up gets them at the display's
rate; a busy main thread drops them), frames slower than 50 ms, the main thread's busy
time (CDP ``Performance.getMetrics``: tasks, script, layout, style), the renderer
process's CPU time (CDP ``SystemInfo.getProcessInfo``), diffs applied and map redraws.

The CPU is measured twice: first without the frame counter (a requestAnimationFrame loop
keeps the browser producing frames, which costs CPU of its own), then with it.

The page takes the whole fleet over the ``fleet`` channel (``fleet_mode`` in the output
says so). The gateway runs with ``--max-subscriptions`` above the fleet size, so that a
gateway without that channel gives the same figures with one subscription a truck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time

from tests.browser.support import launch_chromium, require_playwright, start_process

FRAME_COUNTER = """() => {
  const s = { frames: 0, long: 0, worst: 0, last: performance.now() };
  const step = (now) => {
    const dt = now - s.last;
    s.last = now;
    s.frames += 1;
    if (dt > 50) s.long += 1;
    if (dt > s.worst) s.worst = dt;
    if (!s.stop) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
  window.__perf = s;
}"""

READ_APP = """async () => {
  const { app } = await import("/static/main.js");
  const m = app.map.stats;
  return { diffs: app.client.stats.diffs, draws: m.draws, drawMs: m.drawMs, markers: m.markersDrawn,
           trucks: app.client.trucks.size, mode: app.client.fleetMode };
}"""


async def renderer_cpu(cdp) -> float:
    """Seconds of CPU the renderer processes have used (all tabs: there is one)."""
    info = await cdp.send("SystemInfo.getProcessInfo")
    return sum(p["cpuTime"] for p in info["processInfo"] if p["type"] == "renderer")


def metrics_of(result: dict) -> dict[str, float]:
    return {m["name"]: m["value"] for m in result["metrics"]}


async def measure(base: str, trucks: int, seconds: float, viewport: tuple[int, int]) -> dict:
    expect = require_playwright().expect
    async with launch_chromium() as browser:
        context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme="dark")
        page = await context.new_page()
        await page.goto(base + "/")
        await page.wait_for_selector("#conn[data-state=live]", timeout=60_000)
        await expect(page.locator("#map-marks")).to_have_attribute("aria-label", f"Map of {trucks} trucks",
                                                                  timeout=120_000)
        tab = await context.new_cdp_session(page)
        await tab.send("Performance.enable")
        system = await browser.new_browser_cdp_session()
        # Without the frame counter: what the page alone costs.
        q0 = metrics_of(await tab.send("Performance.getMetrics"))
        c0 = await renderer_cpu(system)
        s0 = time.monotonic()
        await asyncio.sleep(seconds / 2)
        quiet_wall = time.monotonic() - s0
        quiet = {
            "main_thread_busy_pct": round(100 * (metrics_of(await tab.send("Performance.getMetrics"))["TaskDuration"]
                                                 - q0["TaskDuration"]) / quiet_wall, 1),
            "renderer_cpu_pct": round(100 * (await renderer_cpu(system) - c0) / quiet_wall, 1),
        }
        await page.evaluate(FRAME_COUNTER)
        app0 = await page.evaluate(READ_APP)
        m0 = metrics_of(await tab.send("Performance.getMetrics"))
        cpu0 = await renderer_cpu(system)
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        cpu1 = await renderer_cpu(system)
        m1 = metrics_of(await tab.send("Performance.getMetrics"))
        app1 = await page.evaluate(READ_APP)
        frames = await page.evaluate("() => { window.__perf.stop = true; return window.__perf; }")
        await context.close()

    def busy(name: str) -> float:
        return round(100 * (m1.get(name, 0) - m0.get(name, 0)) / wall, 1)

    draws = app1["draws"] - app0["draws"]
    return {
        "trucks": app1["trucks"], "fleet_mode": app1["mode"], "seconds": round(wall, 1),
        "diffs_per_s": round((app1["diffs"] - app0["diffs"]) / wall),
        "fps": round(frames["frames"] / wall, 1), "frames_over_50ms": frames["long"],
        "worst_frame_ms": round(frames["worst"], 1),
        "main_thread_busy_pct": busy("TaskDuration"), "script_pct": busy("ScriptDuration"),
        "layout_pct": busy("LayoutDuration"), "style_pct": busy("RecalcStyleDuration"),
        "renderer_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 1),
        "map_draws_per_s": round(draws / wall, 1),
        "map_draw_ms_avg": round((app1["drawMs"] - app0["drawMs"]) / max(1, draws), 2),
        "markers_drawn": app1["markers"],
        "without_frame_counter": quiet,
    }


async def main(trucks: int, seconds: float, viewport: tuple[int, int]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = await start_process(
            "demo", "--db", f"sqlite:///{tmp}/fleet.db", "--port", "0", "--trucks", str(trucks), "--rate", "1",
            "--max-subscriptions", str(trucks + 10), "--log-level", "WARNING")
        try:
            result = await measure(base, trucks, seconds, viewport)
        finally:
            proc.terminate()
            await proc.wait()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trucks", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--viewport", default="1400x900")
    args = parser.parse_args()
    w, h = (int(v) for v in args.viewport.split("x"))
    sys.exit(asyncio.run(main(args.trucks, args.seconds, (w, h))))
