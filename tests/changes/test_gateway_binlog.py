"""``serve --changes binlog`` end to end: committed changes pushed to subscribers, no polling.

Every gateway here polls every 30 s (``start_gateway``), so a change that arrives within a
test's few seconds came from the binary log, not from a poll.
"""

from __future__ import annotations

import asyncio
import uuid

from gateway.store import open_store
from gateway.store.url import parse_db_url
from tests.changes.gateway import insert_fresh, ping, recv, replay, until


async def test_a_committed_update_reaches_a_subscriber_without_a_poll(start_gateway, sql):
    insert_fresh(sql, "B-1")
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    snap = await gw.subscribe(ws, "truck:B-1")
    assert snap["data"]["rpm"] == 700
    await until(lambda: gw.hub.watches["B-1"].poller.joined is not None)
    reads = gw.sensor_reads()

    sql.execute("UPDATE truck_sensors_cache SET rpm = 1500, speed_mph = 61.5 WHERE truck_id = 'B-1'")
    diff = await recv(ws)
    assert diff["type"] == "diff" and diff["epoch"] == snap["epoch"] and diff["seq"] == snap["seq"] + 1
    assert diff["changed"] == {"rpm": 1500, "speed_mph": 61.5} and diff["removed"] == []
    assert gw.sensor_reads() == reads  # pushed, not read
    assert replay(snap, [diff]) == await gw.store.fetch_sensor_row("B-1")

    ready = await gw.readyz()
    assert ready["components"]["change_source"] == "binlog"
    m = await gw.metrics()
    assert m[("gateway_change_source", (("source", "binlog"),))] == 1
    assert m[("gateway_change_source", (("source", "poll"),))] == 0
    assert m[("gateway_binlog_rows_decoded_total", ())] >= 1
    assert m[("gateway_binlog_events_total", ())] > 0
    assert m[("gateway_binlog_decode_mismatches_total", ())] == 0
    await ws.close()


async def test_every_change_in_order_without_a_gap_and_no_select_in_steady_state(start_gateway, sql):
    insert_fresh(sql, "B-2", rpm=0)
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    clients = [await gw.connect() for _ in range(3)]
    snaps = [await gw.subscribe(ws, "truck:B-2") for ws in clients]
    await until(lambda: gw.hub.watches["B-2"].poller.joined is not None)
    reads = gw.sensor_reads()
    updates = 150
    for n in range(1, updates + 1):  # one commit each (autocommit)
        sql.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'B-2'", (n,))
    for ws, snap in zip(clients, snaps, strict=True):
        diffs = [await recv(ws) for _ in range(updates)]
        assert [d["changed"] for d in diffs] == [{"rpm": n} for n in range(1, updates + 1)]
        assert replay(snap, diffs) == await gw.store.fetch_sensor_row("B-2")
    assert gw.sensor_reads() == reads  # 150 changes, not one SELECT of truck rows
    m = await gw.metrics()
    assert m[("gateway_db_queries_total", (("kind", "sensor_rows"),))] == reads
    for ws in clients:
        await ws.close()


async def test_a_transaction_updating_a_row_several_times_gives_one_diff_as_committed(start_gateway, sql):
    insert_fresh(sql, "B-3")
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    snap = await gw.subscribe(ws, "truck:B-3")
    await until(lambda: gw.hub.watches["B-3"].poller.joined is not None)
    sql.execute("BEGIN")
    for rpm in range(800, 806):
        sql.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'B-3'", (rpm,))
    sql.execute("UPDATE truck_sensors_cache SET speed_mph = 12.5 WHERE truck_id = 'B-3'")
    sql.execute("UPDATE truck_sensors_cache SET speed_mph = 13.5 WHERE truck_id = 'B-3'")
    sql.execute("COMMIT")
    diff = await recv(ws)
    assert diff["seq"] == snap["seq"] + 1 and diff["changed"] == {"rpm": 805, "speed_mph": 13.5}
    # A rolled-back transaction sends nothing at all.
    sql.execute("BEGIN")
    sql.execute("UPDATE truck_sensors_cache SET rpm = 1 WHERE truck_id = 'B-3'")
    sql.execute("ROLLBACK")
    sql.execute("UPDATE truck_sensors_cache SET rpm = 2 WHERE truck_id = 'B-3'")
    nxt = await recv(ws)
    assert nxt["seq"] == diff["seq"] + 1 and nxt["changed"] == {"rpm": 2}
    assert await ping(ws) == []
    await ws.close()


async def test_a_column_added_at_run_time_appears_in_a_diff(start_gateway, sql):
    insert_fresh(sql, "B-4")
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    snap = await gw.subscribe(ws, "truck:B-4")
    await until(lambda: gw.hub.watches["B-4"].poller.joined is not None)
    sql.execute("ALTER TABLE truck_sensors_cache ADD COLUMN tire_psi DECIMAL(5,1) UNSIGNED NULL")
    sql.execute("UPDATE truck_sensors_cache SET tire_psi = 32.5, rpm = 901 WHERE truck_id = 'B-4'")
    diff = await recv(ws)
    assert diff["changed"] == {"tire_psi": 32.5, "rpm": 901}
    sql.execute("ALTER TABLE truck_sensors_cache DROP COLUMN data_age_seconds")
    sql.execute("UPDATE truck_sensors_cache SET rpm = 902 WHERE truck_id = 'B-4'")
    diff2 = await recv(ws)
    assert diff2["changed"] == {"rpm": 902} and diff2["removed"] == ["data_age_seconds"]
    assert replay(snap, [diff, diff2]) == await gw.store.fetch_sensor_row("B-4")
    await ws.close()


async def test_rows_of_unwatched_trucks_are_not_decoded(start_gateway, sql):
    trucks = [f"U-{n:02d}" for n in range(40)]
    for truck in trucks:
        insert_fresh(sql, truck)
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:U-07")
    await until(lambda: gw.hub.watches["U-07"].poller.joined is not None)
    before = gw.feed.reader_counters()
    rounds = 5
    for n in range(rounds):  # each statement changes all 40 rows in one event
        sql.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id LIKE 'U-%%'", (1000 + n,))
    for n in range(rounds):
        assert (await recv(ws))["changed"] == {"rpm": 1000 + n}
    after = gw.feed.reader_counters()
    assert after.rows_decoded - before.rows_decoded == rounds
    assert after.rows_skipped - before.rows_skipped == rounds * (len(trucks) - 1)
    assert gw.feed.counters.rows_unwatched == 0
    await ws.close()


async def test_a_deleted_row_is_degraded_and_its_return_is_live_again(start_gateway, sql):
    insert_fresh(sql, "B-5")
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    await gw.subscribe(ws, "truck:B-5")
    await until(lambda: gw.hub.watches["B-5"].poller.joined is not None)
    sql.execute("DELETE FROM truck_sensors_cache WHERE truck_id = 'B-5'")
    gone = await recv(ws)
    assert (gone["type"], gone["state"], gone["reason"]) == ("status", "degraded", "truck row missing")
    insert_fresh(sql, "B-5", rpm=777)
    back = await recv(ws)
    assert (back["type"], back["state"]) == ("status", "live")
    diff = await recv(ws)
    assert diff["type"] == "diff" and diff["changed"]["rpm"] == 777
    await ws.close()


async def test_pollers_joining_busy_trucks_miss_nothing(start_gateway, sql, binlog_server, db):
    """Writes run while trucks get their first subscriber (the poller's join: position, then
    read): each client's snapshot plus its diffs ends at the committed row, never going back."""
    trucks = [f"J-{n:02d}" for n in range(12)]
    for truck in trucks:
        insert_fresh(sql, truck, rpm=0)
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    rounds = 60

    def writes() -> None:
        conn = binlog_server.connect(db)
        with conn.cursor() as cur:
            for n in range(1, rounds + 1):
                for truck in trucks:
                    cur.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = %s", (n, truck))
        conn.close()

    writer = asyncio.create_task(asyncio.to_thread(writes))
    clients = []
    for k, truck in enumerate(trucks):
        ws = await gw.connect()
        clients.append((truck, ws, await gw.subscribe(ws, f"truck:{truck}")))
        # The next truck joins after a few more commits of the first one: joins spread over the writes.
        first = gw.hub.watches[trucks[0]].poller
        await until(lambda k=k, p=first: p.pushes >= 4 * (k + 1) or writer.done())
    await writer
    joined_mid_stream = 0
    for truck, ws, snap in clients:
        diffs: list[dict] = []
        row = snap["data"]
        while row["rpm"] != rounds:
            diffs.append(await recv(ws))
            row = replay(snap, diffs)
        values = [snap["data"]["rpm"]] + [d["changed"]["rpm"] for d in diffs]
        assert values == sorted(set(values)), (truck, values)  # never back, never twice
        assert row == await gw.store.fetch_sensor_row(truck)
        joined_mid_stream += 0 < snap["data"]["rpm"] < rounds
        await ws.close()
    assert joined_mid_stream >= len(trucks) // 2  # the joins really raced the writes


async def test_in_a_cluster_one_node_follows_the_binlog_and_every_node_gets_the_same_frames(
        start_gateway, sql, binlog_server, db):
    insert_fresh(sql, "C-1")
    second_store = open_store(parse_db_url(f"mysql://root:@{binlog_server.host}:{binlog_server.port}/{db}"),
                              pool_min=1, pool_max=2, query_timeout=5.0)
    cluster = {"broker": f"memory://{uuid.uuid4().hex}", "lease_ttl": 0.6}
    nodes = [await start_gateway(**cluster), await start_gateway(store_=second_store, **cluster)]
    await until(lambda: any(gw.feed.streaming for gw in nodes))
    [leader] = [gw for gw in nodes if gw.hub.cluster.binlog_leader]
    [other] = [gw for gw in nodes if gw is not leader]
    assert leader.feed.streaming and other.feed.reader is None  # one binlog connection for the cluster
    assert (await leader.readyz())["components"] | {"database": None} == {
        "database": None, "broker": "up", "change_source": "binlog", "binlog_reader": "this process"}
    assert (await other.readyz())["components"]["change_source"] == "cluster"
    assert (await other.readyz())["components"]["binlog_reader"] == "another process"
    clients = [await gw.connect() for gw in nodes]
    snaps = [await gw.subscribe(ws, "truck:C-1") for gw, ws in zip(nodes, clients, strict=True)]
    assert snaps[0]["epoch"] == snaps[1]["epoch"]
    readers = [r for gw in nodes for r in gw.hub.cluster.readers.values()]
    assert len(readers) == 1 and readers == list(leader.hub.cluster.readers.values())  # the binlog's node reads
    await until(lambda: readers[0].poller.joined is not None)
    reads = sum(gw.sensor_reads() for gw in nodes)
    for rpm in (1, 2, 3):
        sql.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'C-1'", (rpm,))
    got = [[await recv(ws) for _ in range(3)] for ws in clients]
    assert got[0] == got[1]  # the same frames on both nodes
    assert [d["changed"] for d in got[0]] == [{"rpm": 1}, {"rpm": 2}, {"rpm": 3}]
    assert sum(gw.sensor_reads() for gw in nodes) == reads  # pushed by the binlog, not polled
    for ws in clients:
        await ws.close()


async def test_dtc_and_refuel_rows_reach_the_alerts_channel_from_the_binlog_not_from_reads(start_gateway, sql):
    insert_fresh(sql, "A-1")
    gw = await start_gateway(alerts_poll=30.0)  # a read of the event tables would take 30 s
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    await ws.send_str('{"op": "subscribe", "id": 1, "channels": ["alerts"]}')
    assert (await recv(ws))["ok"] == ["alerts"]
    alerts = gw.hub.feeds.alerts
    await until(lambda: alerts.pushed)  # baseline read, then one read that caught up with the stream
    reads = gw.store.queries["alerts"]

    sql.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status, description) "
                "VALUES ('A-1', UTC_TIMESTAMP(6), 'P0524', 100, 1, 'critical', 'active', 'oil pressure')")
    sql.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added) VALUES ('A-1', UTC_TIMESTAMP(6), 80)")
    sql.execute("UPDATE dtc_events SET status = 'cleared', cleared_at = UTC_TIMESTAMP(6) WHERE truck_id = 'A-1'")
    got = [await recv(ws) for _ in range(3)]
    assert [(f["type"], f["kind"], f["truck_id"]) for f in got] == [
        ("event", "dtc_raised", "A-1"), ("event", "refuel", "A-1"), ("event", "dtc_cleared", "A-1")]
    assert [f["seq"] for f in got] == [1, 2, 3]
    assert gw.store.queries["alerts"] == reads  # pushed from the binlog, not read
    assert alerts.rows_pushed == 3
    m = await gw.metrics()
    assert m[("gateway_binlog_event_rows_total", ())] >= 3
    await ws.close()


async def test_event_rows_committed_before_the_stream_caught_up_are_read_once(start_gateway, sql):
    insert_fresh(sql, "A-2")
    gw = await start_gateway(alerts_poll=30.0)
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    await ws.send_str('{"op": "subscribe", "id": 1, "channels": ["alerts"]}')
    assert (await recv(ws))["ok"] == ["alerts"]
    alerts = gw.hub.feeds.alerts
    await until(lambda: alerts.pushed)
    # The stream is lost and comes back (a new generation): rows committed meanwhile are
    # pushed before any read caught up with the new stream, so a read must deliver them.
    gw.feed._bump()
    assert not alerts.pushed
    sql.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added) VALUES ('A-2', UTC_TIMESTAMP(6), 55)")
    got = await recv(ws)
    assert (got["kind"], got["truck_id"], got["seq"]) == ("refuel", "A-2", 1)
    await until(lambda: alerts.pushed)
    sql.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added) VALUES ('A-2', UTC_TIMESTAMP(6), 20)")
    got = await recv(ws)
    assert (got["kind"], got["seq"]) == ("refuel", 2)
    assert alerts.rows_pushed == 1  # the first came from the catch-up read, the second pushed
    assert await ping(ws) == []  # and nothing twice
    await ws.close()


async def test_a_node_that_loses_the_binlog_lease_stops_its_feed_and_hands_its_trucks_over(
        start_gateway, sql, binlog_server, db):
    insert_fresh(sql, "C-2")
    second_store = open_store(parse_db_url(f"mysql://root:@{binlog_server.host}:{binlog_server.port}/{db}"),
                              pool_min=1, pool_max=2, query_timeout=5.0)
    cluster = {"broker": f"memory://{uuid.uuid4().hex}", "lease_ttl": 0.6}
    nodes = [await start_gateway(**cluster), await start_gateway(store_=second_store, **cluster)]
    await until(lambda: any(gw.feed.streaming for gw in nodes))
    [leader] = [gw for gw in nodes if gw.hub.cluster.binlog_leader]
    [other] = [gw for gw in nodes if gw is not leader]
    ws = await other.connect()
    snap = await other.subscribe(ws, "truck:C-2")
    await until(lambda: "C-2" in leader.hub.cluster.readers)
    # The lease runs out under the leader (as after a pause longer than the TTL) and the
    # other node takes it: the old leader must stop following the binlog and give its
    # trucks to the new one, which reads them from its own binlog connection.
    lost = leader.hub.cluster
    await lost.broker.release({"_binlog": lost.binlog_token})
    await other.hub.cluster._tick()  # the other node's tick comes first and takes the free lease
    await until(lambda: other.hub.cluster.binlog_leader and other.feed.streaming)
    await until(lambda: not lost.binlog_leader and not lost.readers and not leader.feed.running)
    await until(lambda: "C-2" in other.hub.cluster.readers)
    await until(lambda: other.hub.cluster.readers["C-2"].poller.joined is not None)
    sql.execute("UPDATE truck_sensors_cache SET rpm = 4242 WHERE truck_id = 'C-2'")
    while (frame := await recv(ws)).get("changed", frame.get("data", {})).get("rpm") != 4242:
        pass  # the takeover's snapshot (a new epoch) comes first
    assert frame["epoch"] != snap["epoch"]
    assert leader.feed.reader is None  # one binlog connection again
    await ws.close()
