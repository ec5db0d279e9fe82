"""The fleet and alerts channels over real sockets, on MariaDB rows changed by another client."""

from __future__ import annotations

import asyncio

import orjson

from tests.server.conftest import TRUCKS, fresh_row, recv


async def frames_until(ws, done, timeout: float = 10.0) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while not done(got):
            got.append(await recv(ws, timeout))
    return got


def events(frames: list[dict]) -> set[tuple[str, str]]:
    return {(f["kind"], f["truck_id"]) for f in frames if f["type"] == "event"}


async def test_fleet_over_more_trucks_than_the_subscription_limit(start_gateway, seeded_store):
    more = [f"BULK-{i:03d}" for i in range(40)]
    await seeded_store.upsert_sensor_rows([fresh_row(t) for t in more])
    gw = await start_gateway(max_subscriptions=5, fleet_refresh=0.2)
    ws = await gw.connect()
    ack = await gw.subscribe(ws, "fleet")
    assert ack["ok"] == ["fleet"]
    first = await frames_until(ws, lambda fs: fs and fs[-1]["type"] == "position")
    snapshots = {f["channel"] for f in first if f["type"] == "snapshot"}
    assert snapshots == {f"truck:{t}" for t in (*TRUCKS, *more)}
    gw.execute("UPDATE truck_sensors_cache SET speed_mph = 77.5 WHERE truck_id = 'BULK-007'")
    got = await frames_until(ws, lambda fs: any(f["type"] == "diff" for f in fs))
    assert [(f["channel"], f["changed"]) for f in got if f["type"] == "diff"] == [
        ("truck:BULK-007", {"speed_mph": 77.5})]
    await seeded_store.upsert_sensor_rows([fresh_row("LATE-1")])  # a truck that appears later
    got = await frames_until(ws, lambda fs: any(f.get("channel") == "truck:LATE-1" for f in fs))
    assert next(f for f in got if f.get("channel") == "truck:LATE-1")["type"] == "snapshot"
    await ws.close()


async def test_alerts_from_real_rows_dtc_refuel_low_fuel_stale(start_gateway, seeded_store):
    gw = await start_gateway(alerts_poll=0.1, stale_after=60, low_fuel_pct=15)
    ws = await gw.connect()
    assert (await gw.subscribe(ws, "alerts"))["ok"] == ["alerts"]
    truck = TRUCKS[0]
    # Give the feed its baseline (first rows, primed tables) before anything happens.
    async with asyncio.timeout(5):
        while gw.store.queries["alerts"] < 4:
            await asyncio.sleep(0.02)
    gw.execute("UPDATE truck_sensors_cache SET fuel_level_pct = 9.5 WHERE truck_id = %s", (truck,))
    gw.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status, description) "
               "VALUES (%s, UTC_TIMESTAMP(6), 'P0524', 100, 1, 'critical', 'active', 'oil pressure')", (truck,))
    gw.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added) VALUES (%s, UTC_TIMESTAMP(6), 80)",
               (TRUCKS[1],))
    gw.execute("UPDATE truck_sensors_cache SET `timestamp` = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR WHERE truck_id = %s",
               (TRUCKS[2],))
    want = {("fuel_low", truck), ("dtc_raised", truck), ("refuel", TRUCKS[1]), ("truck_stale", TRUCKS[2])}
    got = await frames_until(ws, lambda fs: events(fs) >= want)
    gw.execute("UPDATE dtc_events SET status = 'cleared', cleared_at = UTC_TIMESTAMP(6) WHERE truck_id = %s", (truck,))
    gw.execute("UPDATE truck_sensors_cache SET `timestamp` = UTC_TIMESTAMP(6) WHERE truck_id = %s", (TRUCKS[2],))
    got += await frames_until(ws, lambda fs: events(fs) >= {("dtc_cleared", truck), ("truck_reporting", TRUCKS[2])})
    seqs = [f["seq"] for f in got if f["type"] == "event"]
    assert seqs == list(range(1, len(seqs) + 1))
    # The REST fallback lists the same events, newest first, in pages.
    async with gw.session.get(gw.url + "/v1/alerts?limit=2") as resp:
        page = await resp.json()
    assert [e["seq"] for e in page["items"]] == [seqs[-1], seqs[-2]] and page["next_cursor"]
    async with gw.session.get(gw.url + "/v1/alerts", params={"limit": "1000", "cursor": page["next_cursor"]}) as resp:
        rest = await resp.json()
    assert [e["seq"] for e in rest["items"]] == seqs[-3::-1] and rest["next_cursor"] is None
    async with gw.session.get(gw.url + "/v1/alerts?limit=0") as resp:
        assert resp.status == 400
    await ws.close()


async def test_fleet_resume_after_a_short_disconnect_sends_only_the_changes(start_gateway):
    gw = await start_gateway()
    ws = await gw.connect()
    await gw.subscribe(ws, "fleet")
    first = await frames_until(ws, lambda fs: fs and fs[-1]["type"] == "position")
    position = first[-1]
    await ws.close()
    gw.execute("UPDATE truck_sensors_cache SET rpm = 2222 WHERE truck_id = %s", (TRUCKS[1],))
    async with asyncio.timeout(5):  # the change is read (and logged) while nobody is connected
        while gw.hub.feeds.fanout.log.position == position["seq"]:
            await asyncio.sleep(0.02)
    again = await gw.connect()
    await gw.subscribe(again, "fleet", resume={"fleet": {"epoch": position["epoch"], "seq": position["seq"]}})
    got = await frames_until(again, lambda fs: fs and fs[-1]["type"] == "position")
    data = [f for f in got if f["type"] in ("snapshot", "diff")]
    assert [(f["type"], f["channel"], f["changed"]) for f in data] == [("diff", f"truck:{TRUCKS[1]}", {"rpm": 2222})]
    await again.close()


async def test_metrics_count_the_fleet_and_the_alerts(start_gateway):
    gw = await start_gateway(alerts_poll=0.1)
    ws = await gw.connect()
    await gw.subscribe(ws, "fleet", "alerts")
    await frames_until(ws, lambda fs: fs and fs[-1]["type"] == "position")
    gw.execute("UPDATE truck_sensors_cache SET fuel_level_pct = 5 WHERE truck_id = %s", (TRUCKS[0],))
    await frames_until(ws, lambda fs: ("fuel_low", TRUCKS[0]) in events(fs))
    async with gw.session.get(gw.url + "/metrics") as resp:
        text = await resp.text()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert lines["gateway_fleet_subscribers"] == "1.0" and lines["gateway_alerts_subscribers"] == "1.0"
    assert float(lines["gateway_fleet_trucks"]) == len(TRUCKS)
    assert float(lines["gateway_fleet_writes_total"]) >= 1
    assert float(lines['gateway_alert_events_total{kind="fuel_low"}']) == 1
    await ws.close()


async def test_a_slow_fleet_subscriber_is_resynced_per_truck_and_ends_consistent(start_gateway):
    from gateway.core.diff import Diff, apply
    from tests.server.test_ws_faults import BIG, host_port
    from tests.support.rawws import RawWebSocket

    # The bound holds every truck's snapshot (3 x 40 kB) but not a backlog of their diffs.
    gw = await start_gateway(send_buffer_bytes=256 * 1024, send_timeout=60)
    gw.execute("ALTER TABLE truck_sensors_cache ADD COLUMN notes MEDIUMTEXT NULL")
    raw = await RawWebSocket.connect(*host_port(gw.url), rcvbuf=4096)
    await raw.recv()  # welcome
    raw.send(orjson.dumps({"op": "subscribe", "id": 1, "channels": ["fleet"]}))
    rows: dict[str, dict] = {}
    seqs: dict[str, int] = {}
    while True:  # ack, every snapshot, a position
        frame = orjson.loads((await raw.recv())[1])
        if frame["type"] == "snapshot":
            rows[frame["channel"]], seqs[frame["channel"]] = frame["data"], frame["seq"]
        if frame["type"] == "position":
            break
    raw.pause()
    updates = 0
    while gw.hub.counters.slow_consumers["resync"] == 0:
        updates += 1
        assert updates < 400, "the stalled fleet subscriber was never resynced"
        for truck in TRUCKS:
            gw.execute("UPDATE truck_sensors_cache SET notes = %s, rpm = %s WHERE truck_id = %s",
                       (str(updates % 10) * BIG, 1000 + updates, truck))
        async with asyncio.timeout(5):  # one poll reads the change
            while gw.hub.watches[TRUCKS[0]].poller.stream.row.get("rpm") != 1000 + updates:
                await asyncio.sleep(0.01)
    assert gw.hub.counters.slow_consumers["close"] == 0
    raw.resume()
    final = await gw.store.fetch_sensor_rows(list(TRUCKS))
    async with asyncio.timeout(10):
        while any(rows.get(f"truck:{t}") != final[t] for t in TRUCKS):
            frame = orjson.loads((await raw.recv())[1])
            channel = frame.get("channel")
            if frame["type"] == "snapshot":
                rows[channel], seqs[channel] = frame["data"], frame["seq"]
            elif frame["type"] == "diff":
                assert frame["seq"] == seqs[channel] + 1, "a truck's diff was lost without a snapshot"
                rows[channel] = apply(rows[channel], Diff(frame["changed"], tuple(frame["removed"])))
                seqs[channel] = frame["seq"]
    await raw.close()


async def test_a_dashboard_that_only_listens_to_the_fleet_is_not_idle(start_gateway):
    gw = await start_gateway(idle_timeout=1)
    listener = await gw.connect()
    await gw.subscribe(listener, "fleet")
    await frames_until(listener, lambda fs: fs and fs[-1]["type"] == "position")
    silent = await gw.connect()  # subscribes to nothing: closed as idle
    closing = await silent.receive(timeout=10)
    assert closing.type.name == "CLOSE" and closing.data == 4002
    gw.execute("UPDATE truck_sensors_cache SET rpm = 1234 WHERE truck_id = %s", (TRUCKS[0],))
    got = await frames_until(listener, lambda fs: any(f["type"] == "diff" for f in fs))
    assert any(f.get("changed") == {"rpm": 1234} for f in got) and not listener.closed
    await listener.close()
