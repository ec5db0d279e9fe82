"""``--changes binlog`` in a cluster of real processes on Redis: one binlog reader for all.

Three ``gateway serve`` processes share the shared Redis (a private key prefix) and the
private binlog MariaDB. Exactly one of them holds the binlog lease: it alone has a binlog
connection on the server and it reads every watched truck, including those only other
processes' clients watch. SIGKILL of it hands the lease, and every truck, to a survivor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import aiohttp
import pymysql
import pytest

from tests.changes.gateway import insert_fresh
from tests.cluster.conftest import ClusterRun, Node, cluster_on
from tests.support.private_mariadb import PrivateMariaDB

TTL = 1.5
LEADER = "gateway_binlog_leader"


def source_of(metrics: dict[str, float]) -> str:
    """The change source a node's /metrics gives 1."""
    [source] = [name.split('"')[1] for name, value in metrics.items()
                if name.startswith("gateway_change_source{") and value == 1]
    return source


def binlog_dumps(server: PrivateMariaDB) -> int:
    """Binlog connections the server is serving now (one per following reader)."""
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


async def eventually(check, timeout: float = 10.0) -> None:
    """Retry a check that reads another process's state (no callback can announce it), bounded."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check():
                return
        except (aiohttp.ClientError, AssertionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


@pytest.fixture
async def run(binlog_server: PrivateMariaDB, db: str, store, sql: pymysql.cursors.Cursor
              ) -> AsyncIterator[ClusterRun]:
    """A cluster run on the private binlog server's test database (schema made by ``store``)."""
    async with cluster_on(db, f"mysql://root@{binlog_server.host}:{binlog_server.port}/{db}") as cluster:
        yield cluster


async def leaders(run: ClusterRun) -> list[int]:
    """Index of every live node that says it follows the binlog for the cluster."""
    out = []
    for i, node in enumerate(run.nodes):
        if node.proc.returncode is None and (await node.metrics(run.session)).get(LEADER) == 1:
            out.append(i)
    return out


async def test_one_process_follows_the_binlog_for_the_cluster_and_a_survivor_takes_over(
        run: ClusterRun, binlog_server: PrivateMariaDB, sql):
    for truck in ("BL-1", "BL-2"):
        insert_fresh(sql, truck)
    nodes: list[Node] = [await run.start("--changes", "binlog", "--poll-interval", "30", lease_ttl=TTL)
                         for _ in range(3)]
    # Each node's clients watch a truck of their own, and all of them BL-1.
    socks = [await run.watch(node, "truck:BL-1") for node in nodes]
    only_last = await run.watch(nodes[2], "truck:BL-2")
    for sock in socks:
        await sock.until(lambda s: len(s.data("truck:BL-1")) == 1)
    await only_last.until(lambda s: len(s.data("truck:BL-2")) == 1)

    async def one_leader_streaming() -> bool:
        found = await leaders(run)
        return len(found) == 1 and source_of(await nodes[found[0]].metrics(run.session)) == "binlog"

    await eventually(one_leader_streaming)
    [leader] = await leaders(run)
    metrics = [await node.metrics(run.session) for node in nodes]
    assert metrics[leader]["gateway_leases_held"] == 2  # BL-2 too, though only another node's client watches it
    for i, m in enumerate(metrics):
        if i != leader:
            assert m["gateway_leases_held"] == 0 and source_of(m) == "cluster"
    assert binlog_dumps(binlog_server) == 1  # one binlog connection for the whole cluster

    for rpm in (1001, 1002):
        sql.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id IN ('BL-1', 'BL-2')", (rpm,))
    for sock, channel in [*((s, "truck:BL-1") for s in socks), (only_last, "truck:BL-2")]:
        await sock.until(lambda s, ch=channel: s.data(ch)[-1].get("changed", {}).get("rpm") == 1002)
    diffs = [[f for f in s.data("truck:BL-1") if f["type"] == "diff"] for s in socks]
    assert diffs[0] == diffs[1] == diffs[2] and [d["changed"]["rpm"] for d in diffs[0][-2:]] == [1001, 1002]
    polled = sum(m.get('gateway_db_queries_total{kind="sensor_rows"}', 0) for m in metrics)
    after = [await node.metrics(run.session) for node in nodes]
    assert sum(m.get('gateway_db_queries_total{kind="sensor_rows"}', 0) for m in after) == polled  # pushed

    epoch = socks[0].data("truck:BL-1")[0]["epoch"]
    os.kill(nodes[leader].pid, signal.SIGKILL)
    killed = time.monotonic()
    survivors = [s for i, s in enumerate(socks) if i != leader]
    for sock in survivors:
        await sock.until(lambda s: any(f["type"] == "snapshot" and f["epoch"] != epoch for f in s.data("truck:BL-1")),
                         timeout=6 * TTL)
    took = time.monotonic() - killed
    assert took < 2 * TTL, f"the binlog's failover took {took:.2f} s"
    await eventually(one_leader_streaming)
    sql.execute("UPDATE truck_sensors_cache SET rpm = 1003 WHERE truck_id IN ('BL-1', 'BL-2')")
    watchers = [*((s, "truck:BL-1") for s in survivors)]
    if leader != 2:
        watchers.append((only_last, "truck:BL-2"))
    for sock, channel in watchers:
        await sock.until(lambda s, ch=channel: s.data(ch)[-1].get("changed", {}).get("rpm") == 1003
                         or s.data(ch)[-1].get("data", {}).get("rpm") == 1003)
        assert not sock.ws.closed
    [new_leader] = await leaders(run)
    assert new_leader != leader
