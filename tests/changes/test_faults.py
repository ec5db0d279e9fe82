"""Lost connections and lost positions: nothing missed, nothing twice, and the purge case said."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gateway.changes import current_position
from tests.changes.collect import Collector
from tests.changes.test_reader import insert_truck
from tests.support.faultproxy import FaultProxy

WRITES = 240


def write_sequence(server, db: str, truck_id: str, count: int) -> None:
    """``count`` commits, each setting the truck's rpm to the next number (runs in a thread)."""
    conn = server.connect(db)
    try:
        with conn.cursor() as cur:
            for n in range(1, count + 1):
                cur.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = %s", (n, truck_id))
    finally:
        conn.close()


def rpm_sequence(got: Collector, truck_id: str) -> list[int]:
    return [c.row["rpm"] for c in got.changes if c.key == truck_id and c.kind == "update"]


def kill(server, connection_id: int) -> None:
    admin = server.connect()
    with admin.cursor() as cur:
        cur.execute(f"KILL CONNECTION {int(connection_id)}")
    admin.close()


def dump_threads(server) -> list[int]:
    """Connection ids of the binlog dumps the server is running."""
    admin = server.connect()
    with admin.cursor() as cur:
        cur.execute("SELECT id FROM information_schema.processlist WHERE command = 'Binlog Dump'")
        found = [row[0] for row in cur.fetchall()]
    admin.close()
    return found


def kill_dump_threads(server) -> None:
    """End every binlog dump on the private server (readers of earlier tests linger until
    their next heartbeat fails, and PURGE keeps a file a dump thread still reads)."""
    for conn_id in dump_threads(server):
        kill(server, conn_id)


def purged_to(sql, log_file: str) -> bool:
    """PURGE up to ``log_file``; True once it is the only log left. MariaDB keeps a file
    until its binlog checkpoint (InnoDB made its commits durable), so this may take retries."""
    sql.execute(f"PURGE BINARY LOGS TO '{log_file}'")
    sql.execute("SHOW BINARY LOGS")
    return [row[0] for row in sql.fetchall()] == [log_file]


@pytest.mark.parametrize("use_gtid", [True, False], ids=["gtid", "file"])
async def test_killed_dump_thread_resumes_without_loss_or_repeat(
    params, db, store, sql, start_reader, binlog_server, use_gtid
):
    insert_truck(sql, "K-1", rpm=0)
    got = Collector()
    reader = start_reader(await current_position(params), got, use_gtid=use_gtid)
    await got.wait_state("streaming")
    writer = asyncio.create_task(asyncio.to_thread(write_sequence, binlog_server, db, "K-1", WRITES))
    killed_at = []
    for threshold in (WRITES // 3, 2 * WRITES // 3):
        # Kill the live stream: changes already sent may still be draining from a cut one.
        await got.wait_for(lambda t=threshold: len(rpm_sequence(got, "K-1")) >= t and reader.state == "streaming")
        killed_at.append(len(rpm_sequence(got, "K-1")))
        kill(binlog_server, reader.stream_connection_id)
        await got.wait_state("disconnected", after=len(got.states))
    await writer
    await got.wait_for(lambda: len(rpm_sequence(got, "K-1")) >= WRITES, timeout=20)
    assert all(n < WRITES for n in killed_at)  # the stream really was cut mid-way
    assert rpm_sequence(got, "K-1") == list(range(1, WRITES + 1))
    # Events the server had sent before the KILL are still read from the socket, so the
    # last reconnection may come after the last change.
    await got.wait_for(lambda: got.state_names().count("streaming") == 3)
    assert reader.counters.reconnects == 2
    assert reader.position == got.batches[-1].position


async def test_network_cut_and_silent_link_are_survived(params, db, store, sql, start_reader, binlog_server):
    insert_truck(sql, "N-1", rpm=0)
    async with FaultProxy("127.0.0.1", binlog_server.port) as proxy:
        via_proxy = dataclasses.replace(params, port=proxy.port, connect_timeout=1.0)
        got = Collector()
        reader = start_reader(await current_position(params), got, params=via_proxy, heartbeat=0.3,
                              backoff=(0.05, 0.2))
        try:
            await got.wait_state("streaming")
            # A reset link: noticed at once.
            await proxy.cut()
            await asyncio.to_thread(write_sequence, binlog_server, db, "N-1", 20)
            detail = await got.wait_state("disconnected")
            await proxy.restore()
            await got.wait_for(lambda: len(rpm_sequence(got, "N-1")) >= 20)
            # An idle link stays up on heartbeats alone, past its read timeout (3 heartbeats)...
            marks = len(got.states)
            beats = reader.counters.heartbeats
            await got.poll_until(lambda: reader.counters.heartbeats >= beats + 5)
            assert got.state_names()[marks:] == []
            # ...and a silent one (no reset, no bytes) is noticed by their absence.
            await proxy.blackhole()
            await got.wait_state("disconnected", after=marks)
            await proxy.restore()
            await asyncio.to_thread(write_sequence, binlog_server, db, "N-1", 40)
            await got.wait_for(lambda: len(rpm_sequence(got, "N-1")) >= 60)
        finally:
            await reader.stop()
    assert rpm_sequence(got, "N-1") == list(range(1, 21)) + list(range(1, 41))
    assert reader.counters.reconnects >= 2
    assert detail == "connection to the server lost"


async def test_purged_position_is_reported_and_reading_continues(
    params, db, store, sql, start_reader, binlog_server
):
    insert_truck(sql, "P-1")
    async with FaultProxy("127.0.0.1", binlog_server.port) as proxy:
        via_proxy = dataclasses.replace(params, port=proxy.port, connect_timeout=1.0)
        got = Collector()
        reader = start_reader(await current_position(params), got, params=via_proxy, heartbeat=0.5,
                              backoff=(0.05, 0.1))
        try:
            await got.wait_state("streaming")
            sql.execute("UPDATE truck_sensors_cache SET rpm = 1 WHERE truck_id = 'P-1'")
            await got.wait_changes(1)
            before = reader.position
            await proxy.cut()
            await got.wait_state("disconnected")
            kill_dump_threads(binlog_server)
            await got.poll_until(lambda: not dump_threads(binlog_server))
            sql.execute("FLUSH BINARY LOGS")
            sql.execute("UPDATE truck_sensors_cache SET rpm = 2 WHERE truck_id = 'P-1'")  # lost with the log
            sql.execute("FLUSH BINARY LOGS")
            sql.execute("SHOW MASTER STATUS")
            current_file = sql.fetchone()[0]
            await got.poll_until(lambda: purged_to(sql, current_file))
            await proxy.restore()
            detail = await got.wait_state("position_lost")
            after_loss = reader.position
            sql.execute("UPDATE truck_sensors_cache SET rpm = 3 WHERE truck_id = 'P-1'")
            await got.wait_for(lambda: [c.row["rpm"] for c in got.changes] == [1, 3])
        finally:
            await reader.stop()
    assert "purged" in detail or "Could not find" in detail
    assert after_loss.file == current_file and after_loss != before
    assert got.state_names().index("position_lost") < got.state_names().index("streaming", 1)
