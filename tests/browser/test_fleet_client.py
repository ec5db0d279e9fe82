"""The protocol client's `fleet` and `alerts` path, in a Web Worker with no DOM.

``fleet_harness.js`` plays a gateway with those channels (docs/PROTOCOL.md §17-18) through
a fake WebSocket and a fake fetch, as ``client_harness.js`` does for the per-truck path, so
every exchange is exact; the end-to-end tests against the real gateway are in
``test_fleet.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.browser.worker import run_in_worker

HARNESS = Path(__file__).with_name("fleet_harness.js")
HARNESS_PAGE = "/__fleet_harness__"  # answered by the test's route, never by the gateway


async def test_fleet_channel_carries_the_whole_fleet_and_resumes(start_gateway, open_page):
    gw = await start_gateway()
    page, console = await open_page("about:blank")
    r = await run_in_worker(page, gw, HARNESS, HARNESS_PAGE)

    # One subscribe for both channels, nothing to resume on the first socket.
    assert r["first"]["channels"] == ["fleet", "alerts"] and "resume" not in r["first"]
    assert r["modeAfterAck"] == "fleet"

    trucks = r["trucks"]
    # Snapshots and diffs of the fleet's trucks apply as per-truck ones; a repeated diff and
    # an older replayed snapshot do not; a truck the list did not name joined the fleet and
    # stays when a list without it comes (the stream says which trucks there are).
    assert trucks["CO0681"] == {"rpm": 1490, "seq": 43, "state": "live"}
    assert trucks["TX-0001"]["state"] == "live" and trucks["TX-0001"]["rpm"] == 900
    assert trucks["NE-0001"]["rpm"] == 700
    assert r["afterFollow"] == ["CO0681", "NE-0001", "TX-0001"]

    # A gap on one truck of the fleet: that truck alone is resubscribed by name, resuming.
    gap = r["gapResubscribe"]
    assert gap["channels"] == ["truck:NE-0001"] and gap["resume"] == {"truck:NE-0001": {"epoch": "e3", "seq": 0}}

    # The reconnect resumes the fleet from its last position frame and the alerts from the last event.
    assert r["resume"]["channels"] == ["fleet", "alerts"]
    assert r["resume"]["resume"] == {"fleet": {"epoch": "f1", "seq": 10}, "alerts": {"epoch": "a1", "seq": 5}}

    # Alerts: the live event once (sent twice, and again by the backfill), the older one
    # from GET /v1/alerts; newest first; the critical DTC is active on its truck.
    assert r["alerts"] == [["dtc_raised", "NE-0001", 5], ["refuel", "CO0681", 3]]
    assert r["feed"] == [["dtc_raised", "NE-0001"], ["refuel", "CO0681"]]
    assert r["worstNE"] == "critical"
    assert r["alertsState"] == "live"
    assert r["stats"]["events"] == 2  # frames counted as they came, duplicates included

    # Nothing polled: no /sensors, no overflow; REST only for the alerts backfill, once a socket.
    assert r["fetched"] == ["/v1/alerts?limit=50"] * 2
    assert r["polling"] is False and r["overflow"] == 0
    console.assert_clean()
