"""Run a harness script as a module Web Worker on a page of the gateway's origin.

The worker's source is ``CLIENT_URL`` (the gateway's ``client.js``), then the shared fake
WebSocket (``fake_socket.js``), then the harness; the harness posts ``{ok, result|error}``.
The page is a bare one served by the test's route (never by the gateway), so the
dashboard's CSP, which allows no blob: worker, does not apply while the worker may still
import the gateway's modules.
"""

from __future__ import annotations

from pathlib import Path

FAKE_SOCKET = Path(__file__).with_name("fake_socket.js")


async def run_in_worker(page, gw, harness: Path, page_path: str) -> dict:
    """The harness's result; fails the test with the worker's error when it reports one."""

    async def harness_page(route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=f"<!doctype html><title>{harness.stem}</title>")

    await page.route(gw.url + page_path, harness_page)
    await page.goto(gw.url + page_path)
    source = (f"const CLIENT_URL = {gw.url + '/static/client.js'!r};\n" + FAKE_SOCKET.read_text() + "\n"
              + harness.read_text())
    outcome = await page.evaluate("""(source) => new Promise((resolve, reject) => {
        const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
        const worker = new Worker(url, { type: "module" });
        worker.onmessage = (ev) => resolve(ev.data);
        worker.onerror = (ev) => reject(new Error("worker: " + ev.message));
    })""", source)
    assert outcome["ok"], outcome.get("error")
    return outcome["result"]
