"""``--changes binlog`` when things go wrong: a killed binlog connection, a purged position,
a binlog that is off or misconfigured. Frames stay those of polling: same epoch, seq +1."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pymysql
import pytest

from gateway.store import open_store
from gateway.store.url import parse_db_url
from tests.changes.gateway import insert_fresh, ping, recv, replay, until
from tests.changes.test_faults import dump_threads, kill, kill_dump_threads, purged_to
from tests.conftest import MYSQL_HOST, MYSQL_PORT, admin_connection
from tests.support.faultproxy import FaultProxy


def rpm_writes(server, db: str, truck_id: str, first: int, last: int) -> None:
    """Commits setting the truck's rpm to first..last, one each (runs in a thread)."""
    conn = server.connect(db)
    with conn.cursor() as cur:
        for n in range(first, last + 1):
            cur.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = %s", (n, truck_id))
    conn.close()


async def test_killed_dump_thread_mid_stream_misses_nothing_and_repeats_nothing(
        start_gateway, sql, binlog_server, db):
    insert_fresh(sql, "K-1", rpm=0)
    gw = await start_gateway()
    await until(lambda: gw.feed.streaming)
    ws = await gw.connect()
    snap = await gw.subscribe(ws, "truck:K-1")
    poller = gw.hub.watches["K-1"].poller
    await until(lambda: poller.joined is not None)
    reads = gw.sensor_reads()
    total = 200
    writer = asyncio.create_task(asyncio.to_thread(rpm_writes, binlog_server, db, "K-1", 1, total))
    diffs: list[dict] = []
    row = snap["data"]
    kills = 0
    while row["rpm"] != total:
        diffs.append(await recv(ws))
        row = replay(snap, diffs)
        stream = gw.feed.reader.stream_connection_id
        if kills < 2 and row["rpm"] >= 40 * (kills + 1) and gw.feed.streaming and stream:
            with contextlib.suppress(pymysql.err.OperationalError):  # 1094: it ended just now by itself
                kill(binlog_server, stream)  # while commits stream in
                kills += 1
    await writer
    values = [d["changed"]["rpm"] for d in diffs]
    assert values == sorted(set(values))  # in order, nothing twice
    assert row == await gw.store.fetch_sensor_row("K-1")
    assert kills == 2
    await until(lambda: gw.feed.reader_counters().reconnects == 2 and poller.joined is not None)
    # Each reconnection cost the poller one read (its re-join), whose diff held only what changed.
    assert gw.sensor_reads() - reads == 2
    # Streaming again: every commit is its own diff once more, and still no SELECT.
    await asyncio.to_thread(rpm_writes, binlog_server, db, "K-1", total + 1, total + 50)
    more = [await recv(ws) for _ in range(50)]
    assert [d["changed"] for d in more] == [{"rpm": n} for n in range(total + 1, total + 51)]
    assert replay(snap, diffs + more) == await gw.store.fetch_sensor_row("K-1")
    assert gw.sensor_reads() - reads == 2
    await ws.close()


async def test_a_purged_position_while_disconnected_rereads_and_sends_only_real_changes(
        start_gateway, sql, binlog_server):
    insert_fresh(sql, "P-1")
    async with FaultProxy("127.0.0.1", binlog_server.port) as proxy:
        gw = await start_gateway(binlog_port=proxy.port)
        await until(lambda: gw.feed.streaming)
        ws = await gw.connect()
        snap = await gw.subscribe(ws, "truck:P-1")
        poller = gw.hub.watches["P-1"].poller
        await until(lambda: poller.joined is not None)
        sql.execute("UPDATE truck_sensors_cache SET rpm = 1 WHERE truck_id = 'P-1'")
        first = await recv(ws)
        assert first["changed"] == {"rpm": 1}

        await proxy.cut()  # the gateway's binlog link only: its store talks to the server directly
        await until(lambda: not gw.feed.streaming)
        kill_dump_threads(binlog_server)
        await until(lambda: not dump_threads(binlog_server))
        sql.execute("FLUSH BINARY LOGS")
        sql.execute("UPDATE truck_sensors_cache SET rpm = 2 WHERE truck_id = 'P-1'")  # lost with the log
        sql.execute("FLUSH BINARY LOGS")
        sql.execute("SHOW MASTER STATUS")
        current_file = sql.fetchone()[0]
        await until(lambda: purged_to(sql, current_file))
        assert await ping(ws) == []  # polling every 30 s: nothing yet
        await proxy.restore()

        # The reader cannot resume; the poller re-reads its row: one diff, just the real change.
        second = await recv(ws, timeout=10)
        assert second["seq"] == first["seq"] + 1 and second["epoch"] == snap["epoch"]
        assert second["changed"] == {"rpm": 2} and second["removed"] == []
        assert gw.feed.counters.positions_lost == 1
        await until(lambda: gw.feed.streaming and poller.joined is not None)
        sql.execute("UPDATE truck_sensors_cache SET rpm = 3 WHERE truck_id = 'P-1'")
        third = await recv(ws)
        assert third["seq"] == second["seq"] + 1 and third["changed"] == {"rpm": 3}
        assert await ping(ws) == []
        await ws.close()


async def test_binlog_off_logs_one_line_and_polls(start_gateway, mysql_db, caplog):
    """The shared MariaDB has log_bin=OFF: the gateway says so once and polls."""
    conn = admin_connection(mysql_db)
    url = parse_db_url(f"mysql://root:@{MYSQL_HOST}:{MYSQL_PORT}/{mysql_db}")
    shared = open_store(url, pool_min=1, pool_max=2, query_timeout=5.0)
    await shared.create_schema()
    insert_fresh(conn.cursor(), "F-1")
    caplog.set_level(logging.INFO, logger="gateway")
    gw = await start_gateway(db=url, store_=shared, poll_interval=0.1, binlog_retry=0.1)
    try:
        ws = await gw.connect()
        snap = await gw.subscribe(ws, "truck:F-1")
        conn.cursor().execute("UPDATE truck_sensors_cache SET rpm = 1234 WHERE truck_id = 'F-1'")
        diff = await recv(ws)  # by polling
        assert diff["seq"] == snap["seq"] + 1 and diff["changed"] == {"rpm": 1234}
        await until(lambda: gw.feed.counters.checks_failed >= 3)  # retried, quietly
        lines = [r.getMessage() for r in caplog.records if "binlog unusable" in r.getMessage()]
        assert lines == ["binlog unusable (the binary log is off (log_bin=OFF): start the server with --log-bin): "
                         "polling instead; retrying every 0.1 s at most"]
        assert (await gw.readyz())["components"]["change_source"] == "poll"
        m = await gw.metrics()
        assert m[("gateway_change_source", (("source", "poll"),))] == 1
        assert m[("gateway_change_source", (("source", "binlog"),))] == 0
        assert not gw.feed.streaming and gw.feed.reader is None
        await ws.close()
    finally:
        await shared.close()
        conn.close()


@pytest.fixture
def row_metadata(binlog_server):
    """Set the private server's binlog_row_metadata for one test, and put FULL back."""
    admin = binlog_server.connect()

    def set_to(value: str) -> None:
        with admin.cursor() as cur:
            cur.execute(f"SET GLOBAL binlog_row_metadata = {value}")

    try:
        yield set_to
    finally:
        set_to("FULL")
        admin.close()


async def test_a_binlog_that_becomes_usable_is_joined_without_a_new_epoch(start_gateway, sql, row_metadata):
    row_metadata("MINIMAL")
    insert_fresh(sql, "R-1")
    gw = await start_gateway(poll_interval=0.1, binlog_retry=0.2)
    await until(lambda: gw.feed.counters.checks_failed >= 1)
    assert "binlog_row_metadata is MINIMAL" in gw.feed.problem
    ws = await gw.connect()
    snap = await gw.subscribe(ws, "truck:R-1")
    sql.execute("UPDATE truck_sensors_cache SET rpm = 1 WHERE truck_id = 'R-1'")
    polled = await recv(ws)
    assert polled["changed"] == {"rpm": 1}
    assert (await gw.readyz())["components"]["change_source"] == "poll"

    row_metadata("FULL")
    poller = gw.hub.watches["R-1"].poller
    await until(lambda: gw.feed.streaming and poller.joined is not None)
    assert (await gw.readyz())["components"]["change_source"] == "binlog"
    reads = gw.sensor_reads()
    for rpm in (2, 3, 4):
        sql.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'R-1'", (rpm,))
    pushed = [await recv(ws) for _ in range(3)]
    assert [d["changed"] for d in pushed] == [{"rpm": 2}, {"rpm": 3}, {"rpm": 4}]
    assert replay(snap, [polled, *pushed]) == await gw.store.fetch_sensor_row("R-1")  # same epoch, no gap
    assert gw.sensor_reads() == reads  # polling every 0.1 s stopped
    await ws.close()


async def test_a_binlog_made_unusable_while_streaming_falls_back_to_polling(start_gateway, sql, row_metadata):
    insert_fresh(sql, "R-2")
    gw = await start_gateway(poll_interval=0.1, binlog_retry=0.2)
    await until(lambda: gw.feed.streaming)
    gw.feed.recheck = 0.2  # the periodic re-check while streaming (30 s), made quick for the test
    ws = await gw.connect()
    snap = await gw.subscribe(ws, "truck:R-2")
    row_metadata("MINIMAL")
    await until(lambda: not gw.feed.streaming and gw.feed.problem is not None)
    assert (await gw.readyz())["components"]["change_source"] == "poll"
    sql.execute("UPDATE truck_sensors_cache SET rpm = 5 WHERE truck_id = 'R-2'")
    diff = await recv(ws)  # polled
    assert diff["seq"] == snap["seq"] + 1 and diff["changed"] == {"rpm": 5}
    await ws.close()
