"""The dashboard's ES modules: every one loads, and the protocol client runs without a DOM.

``client.js`` is meant to be copied into other pages and workers, so it (and everything it
imports) may not touch the DOM: it is imported in a Web Worker (no ``document``, no
``window``) and driven through a fake WebSocket, and its sources are checked for DOM names
on every path the worker run does not take.
"""

from __future__ import annotations

import re
from pathlib import Path

import gateway
from tests.browser.worker import run_in_worker

STATIC_DIR = Path(gateway.__file__).resolve().parent / "static"
HARNESS = Path(__file__).with_name("client_harness.js")
HARNESS_PAGE = "/__client_harness__"  # answered by the test's route, never by the gateway
# Names a DOM-free module must not use (a worker has `self`, `location` and timers, but a
# copied client must not depend on the page it came from either).
DOM_NAMES = re.compile(r"\b(document|window|location|history|localStorage|sessionStorage|navigator"
                       r"|requestAnimationFrame|getComputedStyle|HTMLElement|Element|Node)\b")
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["']\./([\w.-]+)["']""", re.MULTILINE)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


def module_graph(entry: str) -> list[str]:
    """``entry`` and every module it imports, directly or not (relative imports in static/)."""
    seen: list[str] = []
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        todo.extend(IMPORT.findall((STATIC_DIR / name).read_text()))
    return seen


def test_the_client_and_its_imports_name_no_dom():
    modules = module_graph("client.js")
    assert {"client.js", "socket.js", "subscriptions.js", "protocol.js", "poller.js", "store.js"} <= set(modules)
    for name in modules:
        code = COMMENT.sub("", (STATIC_DIR / name).read_text())
        found = sorted(set(DOM_NAMES.findall(code)))
        assert not found, f"{name} uses {found}: the protocol client must stay free of the DOM"


def test_the_dom_check_sees_the_views():
    # The check above would pass on an empty graph or a blind pattern: it must flag a view.
    modules = module_graph("main.js")
    assert set(modules) == {p.name for p in STATIC_DIR.glob("*.js")}, "a module that main.js never imports"
    assert DOM_NAMES.search(COMMENT.sub("", (STATIC_DIR / "table.js").read_text()))


async def test_every_module_loads_with_its_type_and_no_error(start_gateway, open_page, expect):
    gw = await start_gateway()
    loaded: dict[str, tuple[int, str]] = {}

    def on_response(response) -> None:
        path = response.url.removeprefix(gw.url)
        if path.startswith("/static/") and path.endswith(".js"):
            loaded[path.removeprefix("/static/")] = (response.status, response.headers.get("content-type", ""))

    page, console = await open_page("about:blank")
    page.on("response", on_response)
    await page.goto(gw.url + "/")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(page.locator('#fleet-body tr[data-truck="CO0681"] td[data-col="rpm"]')).to_have_text("1,400")
    expected = {p.name for p in STATIC_DIR.glob("*.js")}
    assert set(loaded) == expected
    assert all(v == (200, "text/javascript; charset=utf-8") for v in loaded.values()), loaded
    console.assert_clean()


async def test_client_runs_in_a_worker_without_a_dom(start_gateway, open_page):
    gw = await start_gateway()
    page, console = await open_page("about:blank")
    r = await run_in_worker(page, gw, HARNESS, HARNESS_PAGE)
    assert r["globals"] == {"document": "undefined", "window": "undefined"}
    assert r["socketUrls"] == ["ws://127.0.0.1:9/v1/ws"] * 2

    # Welcome → `fleet` and `alerts` first; refused (a gateway without them), then one
    # subscribe for both trucks in id order, nothing to resume yet. Every socket asks again.
    assert [m["channels"] for m in r["fleet"]] == [["fleet", "alerts"]] * 2
    assert all("resume" not in m for m in r["fleet"])
    first = r["sent1"][0]
    assert first["op"] == "subscribe" and first["channels"] == ["truck:CO0681", "truck:TX-0001"]
    assert "resume" not in first

    # Snapshot, then a diff applied (changed set, removed deleted); the duplicate, the gapped
    # diff and the one before the resubscribe's ack are not applied.
    co = [x for x in r["rows"] if x["id"] == "CO0681"]
    assert co[0]["row"] == {"truck_id": "CO0681", "rpm": 1400, "speed_mph": 50.5, "obsolete": 1}
    assert co[0]["old"] is None and co[0]["via"] == "ws" and (co[0]["epoch"], co[0]["seq"]) == ("e1", 41)
    assert co[1]["row"] == {"truck_id": "CO0681", "rpm": 1480, "speed_mph": 50.5} and co[1]["seq"] == 42
    assert [x["row"]["rpm"] for x in co] == [1400, 1480, 1490, 1500]
    assert r["final"] == {"truck_id": "CO0681", "rpm": 1500, "speed_mph": 61.5}

    # The gap: one resubscribe of that channel alone, resuming at its last good seq.
    resubscribes = [m for m in r["sent1"] if m["op"] == "subscribe" and "resume" in m]
    assert len(resubscribes) == 1
    assert resubscribes[0]["channels"] == ["truck:CO0681"]
    assert resubscribes[0]["resume"] == {"truck:CO0681": {"epoch": "e1", "seq": 42}}
    assert r["stats"]["gaps"] == 1 and r["stats"]["diffs"] == 3 and r["stats"]["snapshots"] == 1

    assert ["CO0681", "live", ""] in r["states"] and ["TX-0001", "live", ""] in r["states"]
    assert r["states"][-1] == ["CO0681", "degraded", "database unavailable"]

    # The reconnect resumes CO0681 where it was; TX-0001 (no row yet) subscribes plainly.
    again = r["sent2"][0]
    assert again["op"] == "subscribe" and again["channels"] == ["truck:CO0681", "truck:TX-0001"]
    assert again["resume"] == {"truck:CO0681": {"epoch": "e1", "seq": 44}}
    assert r["stats"]["reconnects"] == 1
    assert r["connections"][:2] == ["connecting", "live"] and r["connections"][-1] == "live"
    assert "reconnecting" in r["connections"]

    assert isinstance(r["stats"]["rttMs"], int)  # the ping got its pong
    assert r["closedByStop"] == 1000
    console.assert_clean()
