"""The live push path against MariaDB: snapshot, diffs, fan-out, resume (docs/PROTOCOL.md)."""

from __future__ import annotations

import asyncio

import orjson

from gateway.core.diff import Diff, apply
from tests.server.conftest import recv
from tests.server.test_metrics import scrape


async def test_welcome_then_ack_then_snapshot_equal_to_row(start_gateway):
    gw = await start_gateway()
    ws = await gw.session.ws_connect(gw.url + "/v1/ws")
    welcome = await recv(ws)
    assert welcome["type"] == "welcome" and welcome["protocol"] == 1
    assert welcome["limits"]["max_frame_bytes"] == 4096 and welcome["heartbeat_s"] == 30
    ack = await gw.subscribe(ws, "truck:FL-0208")
    assert ack == {"type": "ack", "id": 1, "op": "subscribe", "ok": ["truck:FL-0208"], "errors": []}
    snap = await recv(ws)
    assert snap["type"] == "snapshot" and snap["channel"] == "truck:FL-0208" and snap["seq"] == 0
    assert snap["data"] == await gw.store.fetch_sensor_row("FL-0208")
    await ws.close()


async def test_update_by_another_connection_arrives_as_one_diff(start_gateway):
    gw = await start_gateway(gated=True)
    ws = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(ws, "truck:FL-0208"))
    await gw.gated.step()  # the poller's first read
    await subscribing
    snap = await recv(ws)

    # Two writes between two polls: one diff carrying both.
    gw.execute("UPDATE truck_sensors_cache SET speed_mph = 61.5 WHERE truck_id = 'FL-0208'")
    gw.execute("UPDATE truck_sensors_cache SET rpm = 1480 WHERE truck_id = 'FL-0208'")
    await gw.gated.step()
    diff = await recv(ws)
    assert diff["type"] == "diff" and diff["epoch"] == snap["epoch"] and diff["seq"] == snap["seq"] + 1
    assert diff["changed"] == {"speed_mph": 61.5, "rpm": 1480} and diff["removed"] == []
    assert isinstance(diff["ts"], int) and diff["ts"] >= snap["ts"]

    # A poll that finds nothing new sends nothing: the next frame is the pong.
    await gw.gated.step()
    await ws.send_str('{"op": "ping", "id": 9}')
    assert await recv(ws) == {"type": "pong", "id": 9}

    # Applying the diffs to the snapshot gives exactly the row the database has.
    gw.execute("UPDATE truck_sensors_cache SET engine_state = NULL, fuel_level_pct = 12.5 WHERE truck_id = 'FL-0208'")
    await gw.gated.step()
    diff2 = await recv(ws)
    assert diff2["seq"] == diff["seq"] + 1
    row = snap["data"]
    for d in (diff, diff2):
        row = apply(row, Diff(d["changed"], tuple(d["removed"])))
    assert row == await gw.store.fetch_sensor_row("FL-0208")
    await ws.close()


async def test_many_clients_one_poller_one_read_per_tick_same_bytes(start_gateway):
    gw = await start_gateway(gated=True)
    clients = await asyncio.gather(*(gw.connect() for _ in range(200)))
    subscribing = [asyncio.create_task(gw.subscribe(ws, "truck:CO0681")) for ws in clients]
    await gw.gated.step()
    await asyncio.gather(*subscribing)
    snapshots = await asyncio.gather(*(recv(ws) for ws in clients))
    assert {s["epoch"] for s in snapshots} == {snapshots[0]["epoch"]}
    assert len(gw.hub.watches) == 1

    reads_before = gw.store.queries["sensor_rows"]
    broadcasts_before = gw.hub.counters.broadcasts
    for speed in (10.0, 20.0, 30.0):
        gw.execute("UPDATE truck_sensors_cache SET speed_mph = %s WHERE truck_id = 'CO0681'", (speed,))
        await gw.gated.step()
        raw = [await ws.receive(timeout=5) for ws in clients]
        assert len({m.data for m in raw}) == 1  # every client got the same frame
        assert orjson.loads(raw[0].data)["changed"] == {"speed_mph": speed}
    assert gw.store.queries["sensor_rows"] - reads_before == 3  # one read per tick, not per client
    assert gw.hub.counters.broadcasts - broadcasts_before == 3  # one encoding per change
    await asyncio.gather(*(ws.close() for ws in clients))


async def test_poller_stops_after_linger_and_resubscribe_within_linger_reuses_it(start_gateway):
    gw = await start_gateway(linger=0.2)
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:FL-0208")
    first = await recv(ws)
    await ws.send_str('{"op": "unsubscribe", "id": 2, "channels": ["truck:FL-0208"]}')
    assert (await recv(ws))["ok"] == ["truck:FL-0208"]
    await gw.subscribe(ws, "truck:FL-0208", msg_id=3)  # within the linger
    again = await recv(ws)
    assert again["type"] == "snapshot" and again["epoch"] == first["epoch"]
    poller = gw.hub.watches["FL-0208"].poller
    await ws.send_str('{"op": "unsubscribe", "id": 4, "channels": ["truck:FL-0208"]}')
    await recv(ws)
    done, _ = await asyncio.wait({poller.task}, timeout=5)  # linger ends: the poller is cancelled
    assert done and poller.task.cancelled()
    assert "FL-0208" not in gw.hub.watches
    await gw.subscribe(ws, "truck:FL-0208", msg_id=5)
    fresh = await recv(ws)
    assert fresh["type"] == "snapshot" and fresh["epoch"] != first["epoch"] and fresh["seq"] == 0
    await ws.close()


async def test_resume_replays_within_ring_and_snapshots_otherwise(start_gateway):
    gw = await start_gateway(gated=True, ring_size=4)
    ws = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(ws, "truck:TX-0001"))
    await gw.gated.step()
    await subscribing
    snap = await recv(ws)
    await ws.close()  # the client drops; the poller lingers and keeps the ring

    for rpm in (1001, 1002, 1003):
        gw.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'TX-0001'", (rpm,))
        await gw.gated.step()

    ws = await gw.connect()
    await gw.subscribe(ws, "truck:TX-0001", resume={"truck:TX-0001": {"epoch": snap["epoch"], "seq": 1}})
    replayed = [await recv(ws) for _ in range(2)]
    assert [(f["type"], f["seq"], f["changed"]["rpm"]) for f in replayed] == [("diff", 2, 1002), ("diff", 3, 1003)]
    await ws.close()

    # Epoch of another life: a snapshot, not a replay.
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:TX-0001", resume={"truck:TX-0001": {"epoch": "0000", "seq": 1}})
    frame = await recv(ws)
    assert frame["type"] == "snapshot" and frame["seq"] == 3 and frame["data"]["rpm"] == 1003
    await ws.close()

    # Too far behind for the ring (4 diffs kept): a snapshot.
    for rpm in range(2000, 2006):
        gw.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'TX-0001'", (rpm,))
        await gw.gated.step()
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:TX-0001", resume={"truck:TX-0001": {"epoch": snap["epoch"], "seq": 3}})
    frame = await recv(ws)
    assert frame["type"] == "snapshot" and frame["seq"] == 9
    await ws.close()


async def test_stale_row_gives_stale_status_once_then_live(start_gateway):
    gw = await start_gateway(gated=True, stale_after=60)
    gw.execute("UPDATE truck_sensors_cache SET `timestamp` = NOW(6) - INTERVAL 2 HOUR WHERE truck_id = 'CO0681'")
    ws = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(ws, "truck:CO0681"))
    await gw.gated.step()
    await subscribing
    assert (await recv(ws))["type"] == "snapshot"
    status = await recv(ws)
    assert status["type"] == "status" and status["state"] == "stale" and status["channel"] == "truck:CO0681"
    # A status frame is no change read from the database: it adds no push-latency sample.
    assert (await scrape(gw))[("gateway_push_latency_seconds_count", ())] == 0
    await gw.gated.step(2)  # still stale: no second status
    await ws.send_str('{"op": "ping", "id": 1}')
    assert (await recv(ws))["type"] == "pong"
    gw.execute("UPDATE truck_sensors_cache SET `timestamp` = UTC_TIMESTAMP(6) WHERE truck_id = 'CO0681'")
    await gw.gated.step()
    frames = [await recv(ws), await recv(ws)]
    assert frames[0]["type"] == "diff" and "timestamp" in frames[0]["changed"]
    assert frames[1]["type"] == "status" and frames[1]["state"] == "live"
    await ws.close()


async def test_late_subscriber_gets_the_cached_snapshot_without_a_read(start_gateway):
    gw = await start_gateway(gated=True)
    first = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(first, "truck:FL-0208"))
    await gw.gated.step()
    await subscribing
    snap = await recv(first)
    reads = gw.store.queries["sensor_rows"]
    late = await gw.connect()
    await gw.subscribe(late, "truck:FL-0208")  # no permit given: a database read would hang here
    late_snap = await recv(late)
    assert late_snap == snap and gw.store.queries["sensor_rows"] == reads
    await first.close()
    await late.close()


async def test_resubscribing_a_held_channel_gets_a_fresh_snapshot(start_gateway):
    gw = await start_gateway(gated=True)
    ws = await gw.connect()
    subscribing = asyncio.create_task(gw.subscribe(ws, "truck:TX-0001"))
    await gw.gated.step()
    await subscribing
    first = await recv(ws)
    gw.execute("UPDATE truck_sensors_cache SET rpm = 1111 WHERE truck_id = 'TX-0001'")
    await gw.gated.step()
    await recv(ws)
    ack = await gw.subscribe(ws, "truck:TX-0001", msg_id=2)
    assert ack["ok"] == ["truck:TX-0001"]
    again = await recv(ws)
    assert again["type"] == "snapshot" and again["epoch"] == first["epoch"] and again["seq"] == 1
    assert again["data"]["rpm"] == 1111 and gw.hub.subscription_count == 1
    await ws.close()
