"""Cluster mode with real processes on Redis and MariaDB: one reader, same frames, failover."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from tests.cluster.conftest import ClusterRun
from tests.conftest import admin_connection

CH = "truck:FL-0001"
READS = 'gateway_db_queries_total{kind="sensor_rows"}'


async def readers(run: ClusterRun) -> list[int]:
    """Index of every live node holding a lease, by its metrics."""
    held = []
    for i, node in enumerate(run.nodes):
        if node.proc.returncode is None and (await node.metrics(run.session)).get("gateway_leases_held", 0) > 0:
            held.append(i)
    return held


async def test_three_processes_read_once_and_send_the_same_frames(cluster_run: ClusterRun):
    run = cluster_run
    nodes = [await run.start() for _ in range(3)]
    socks = [await run.watch(node, CH) for node in nodes]
    for sock in socks:
        await sock.until(lambda sock: len(sock.data(CH)) == 1)
    for speed in (61, 62, 63):
        run.update("FL-0001", speed_mph=speed)
        for sock in socks:
            await sock.until(lambda sock, s=speed: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == s)
    diffs = [[raw for raw, f in zip(s.raw, s.frames, strict=True) if f["type"] == "diff"] for s in socks]
    assert diffs[0] == diffs[1] == diffs[2] and len(diffs[0]) >= 3  # the same bytes on every process
    assert len({s.data(CH)[0]["epoch"] for s in socks}) == 1
    # One process reads the truck for the cluster; the others never query its row.
    reads = [(await n.metrics(run.session)).get(READS, 0) for n in nodes]
    assert sorted(r > 0 for r in reads) == [False, False, True], reads
    assert await readers(run) == [reads.index(max(reads))]


async def test_sigkill_of_the_reader_fails_over_within_two_ttls_and_keeps_sockets(cluster_run: ClusterRun):
    run = cluster_run
    ttl = 1.5
    nodes = [await run.start(lease_ttl=ttl) for _ in range(3)]
    socks = [await run.watch(node, CH) for node in nodes]
    for sock in socks:
        await sock.until(lambda sock: len(sock.data(CH)) == 1)
    [holder] = await readers(run)
    epoch = socks[0].data(CH)[0]["epoch"]
    os.kill(nodes[holder].pid, signal.SIGKILL)
    killed = time.monotonic()
    survivors = [s for i, s in enumerate(socks) if i != holder]
    for sock in survivors:
        await sock.until(lambda sock: any(f["type"] == "snapshot" and f["epoch"] != epoch for f in sock.data(CH)),
                            timeout=4 * ttl)
    took = time.monotonic() - killed
    assert took < 2 * ttl, f"failover took {took:.2f} s"
    run.update("FL-0001", speed_mph=88)
    for sock in survivors:
        await sock.until(lambda sock: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == 88)
        assert not sock.ws.closed
    assert len(await readers(run)) == 1


async def test_a_stalled_reader_cannot_publish_with_its_old_lease(cluster_run: ClusterRun):
    run = cluster_run
    ttl = 1.0
    nodes = [await run.start(lease_ttl=ttl) for _ in range(2)]
    socks = [await run.watch(node, CH) for node in nodes]
    for sock in socks:
        await sock.until(lambda sock: len(sock.data(CH)) == 1)
    [holder] = await readers(run)
    other = socks[1 - holder]
    old_epoch = other.data(CH)[0]["epoch"]
    os.kill(nodes[holder].pid, signal.SIGSTOP)
    try:
        await other.wait_for(lambda fs: any(f["epoch"] != old_epoch for f in other.data(CH)), timeout=6 * ttl)
        run.update("FL-0001", speed_mph=70)  # the stalled process's poller will read this when it wakes
    finally:
        os.kill(nodes[holder].pid, signal.SIGCONT)
    run.update("FL-0001", speed_mph=71)
    for sock in socks:
        await sock.until(lambda sock: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == 71, timeout=10)
    new_epoch = other.data(CH)[-1]["epoch"]
    # After the takeover no frame of the old epoch reached anyone: the stale holder was fenced off.
    takeover = next(i for i, f in enumerate(other.data(CH)) if f["epoch"] == new_epoch)
    assert all(f["epoch"] == new_epoch for f in other.data(CH)[takeover:])
    stalled = socks[holder]
    assert stalled.data(CH)[-1]["epoch"] == new_epoch and not stalled.ws.closed


async def test_resume_on_another_process_replays_the_missed_diffs(cluster_run: ClusterRun):
    run = cluster_run
    a, b = await run.start(), await run.start()
    first = await run.watch(a, CH)
    await first.wait_for(lambda fs: len(first.data(CH)) == 1)
    snap = first.data(CH)[0]
    for speed in (10, 20, 30):
        run.update("FL-0001", speed_mph=speed)
        await first.wait_for(lambda fs, s=speed: first.data(CH)[-1].get("changed", {}).get("speed_mph") == s)
    seqs = [f["seq"] for f in first.data(CH)]
    ws = await run.session.ws_connect(b.base + "/v1/ws")
    await ws.receive(timeout=5)
    await ws.send_json({"op": "subscribe", "id": 1, "channels": [CH],
                        "resume": {CH: {"epoch": snap["epoch"], "seq": seqs[1]}}})
    got = [await ws.receive_json(timeout=5) for _ in range(1 + len(seqs) - 2)]
    await ws.close()
    assert got[0]["type"] == "ack"
    assert [(f["type"], f["seq"]) for f in got[1:]] == [("diff", s) for s in seqs[2:]]


async def test_alerts_one_event_per_change_whichever_process(cluster_run: ClusterRun):
    run = cluster_run
    nodes = [await run.start("--alerts-poll", "0.2") for _ in range(2)]
    socks = [await run.watch(node, "alerts") for node in nodes]
    async with asyncio.timeout(10):  # one process derives (its tables primed), the other follows
        while True:
            states = [await n.metrics(run.session) for n in nodes]
            deriving = [m.get("gateway_alerts_deriving") for m in states]
            primed = [m.get('gateway_db_queries_total{kind="alerts"}', 0) >= 4 for m in states]
            if sorted(deriving) == [0, 1] and primed[deriving.index(1)]:
                break
            await asyncio.sleep(0.1)
    with admin_connection(run.database) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status) "
                    "VALUES ('FL-0002', UTC_TIMESTAMP(6), 'P0524', 100, 1, 'critical', 'active')")
    seen = []
    for sock in socks:
        await sock.until(lambda sock: any(f.get("kind") == "dtc_raised" for f in sock.frames))
        seen.append([(f["epoch"], f["seq"]) for f in sock.frames if f.get("kind") == "dtc_raised"])
    assert seen[0] == seen[1] and len(seen[0]) == 1


async def test_rest_sensors_of_a_truck_read_elsewhere_come_from_the_broker(cluster_run: ClusterRun):
    run = cluster_run
    a, b = await run.start(), await run.start()
    sock = await run.watch(a, CH)
    await sock.until(lambda sock: len(sock.data(CH)) == 1)
    run.update("FL-0001", speed_mph=66)
    await sock.until(lambda sock: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == 66)
    async with run.session.get(b.base + "/v1/trucks/FL-0001/sensors") as resp:
        row = await resp.json()
    assert resp.status == 200 and row["speed_mph"] == 66
    metrics = await b.metrics(run.session)
    assert metrics.get('gateway_db_queries_total{kind="sensor_row"}', 0) == 0  # not read from the database
