"""The cluster when Redis fails: fallback to local reads, convergence when it is back, no gap."""

from __future__ import annotations

import asyncio

from tests.cluster.conftest import ClusterRun
from tests.cluster.test_processes import CH, READS, readers
from tests.support.private_redis import PrivateRedis


def contiguous(frames: list[dict]) -> bool:
    """Every diff continues its epoch by exactly one, or follows a snapshot (a visible resync)."""
    last: tuple[str, int] | None = None
    for f in frames:
        if f["type"] == "snapshot":
            last = (f["epoch"], f["seq"])
        elif f["type"] == "diff":
            if last is None or f["epoch"] != last[0] or f["seq"] != last[1] + 1:
                return False
            last = (f["epoch"], f["seq"])
    return True


async def test_redis_down_each_process_reads_for_itself_then_the_cluster_converges(cluster_run: ClusterRun, tmp_path):
    run = cluster_run
    with PrivateRedis(tmp_path) as server:
        nodes = [await run.start(broker=server.url) for _ in range(2)]
        socks = [await run.watch(node, CH) for node in nodes]
        for sock in socks:
            await sock.until(lambda sock: len(sock.data(CH)) == 1)
        assert len(await readers(run)) == 1
        server.kill()
        for node in nodes:  # each process notices and says so
            async with asyncio.timeout(10):
                while (await node.metrics(run.session)).get("gateway_broker_up") != 0:
                    await asyncio.sleep(0.1)
            ready = await run.session.get(node.base + "/readyz")
            assert ready.status == 200 and (await ready.json())["components"]["broker"] == "unavailable"
        run.update("FL-0001", speed_mph=91)
        for sock in socks:  # the database is still read, by every process for its own clients
            await sock.until(lambda sock: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == 91)
        server.start()
        for node in nodes:
            async with asyncio.timeout(15):
                while (await node.metrics(run.session)).get("gateway_broker_up") != 1:
                    await asyncio.sleep(0.1)
        async with asyncio.timeout(10):
            while len(await readers(run)) != 1:
                await asyncio.sleep(0.1)
        # Converging: every client is brought back to the cluster's epoch (a snapshot) by itself.
        async with asyncio.timeout(10):
            while len({s.data(CH)[-1]["epoch"] for s in socks}) != 1:
                await asyncio.sleep(0.05)
        run.update("FL-0001", speed_mph=92)
        for sock in socks:
            await sock.until(lambda sock: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == 92)
        assert len({s.data(CH)[-1]["epoch"] for s in socks}) == 1
        before = [(await n.metrics(run.session)).get(READS, 0) for n in nodes]
        run.update("FL-0001", speed_mph=93)
        for sock in socks:
            await sock.until(lambda sock: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == 93)
        after = [(await n.metrics(run.session)).get(READS, 0) for n in nodes]
        assert sum(a > b for a, b in zip(after, before, strict=True)) == 1  # only the reader reads
        for sock in socks:
            assert contiguous(sock.frames) and not sock.ws.closed


async def test_a_lost_pubsub_connection_leaves_no_gap(cluster_run: ClusterRun, tmp_path):
    run = cluster_run
    with PrivateRedis(tmp_path) as server:
        nodes = [await run.start(broker=server.url) for _ in range(2)]
        socks = [await run.watch(node, CH) for node in nodes]
        for sock in socks:
            await sock.until(lambda sock: len(sock.data(CH)) == 1)
        for speed in range(100, 110):
            run.update("FL-0001", speed_mph=speed)
            if speed == 104:
                with server.client() as client:
                    client.client_kill_filter(_type="pubsub")
            await asyncio.sleep(0.25)  # a write per poll interval: the cadence of the sync worker
        for sock in socks:
            await sock.until(lambda sock: sock.data(CH)[-1].get("changed", {}).get("speed_mph") == 109)
            assert contiguous(sock.frames)
