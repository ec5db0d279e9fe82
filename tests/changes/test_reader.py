"""BinlogReader against a real binlog: what arrives, as what, and from where."""

from __future__ import annotations

from gateway.changes import Change, Position, current_position
from tests.changes.collect import Collector

TRUCK_COLUMNS = ("truck_id, `timestamp`, data_age_seconds, engine_state, speed_mph, rpm, fuel_level_pct, "
                 "latitude, longitude, odometer_mi, updated_at")


def insert_truck(sql, truck_id: str, rpm: int = 700, speed: str = "55.25") -> None:
    sql.execute(
        f"INSERT INTO truck_sensors_cache ({TRUCK_COLUMNS}) VALUES "
        "(%s, '2026-11-22 10:00:00.123456', 3, 'running', %s, %s, 61.50, 41.878113, -87.629799, 120345.6, "
        "'2026-11-22 10:00:01')",
        (truck_id, speed, rpm),
    )


async def test_insert_update_delete_arrive_as_the_store_reads_them(params, db, store, sql, start_reader):
    got = Collector()
    start_reader(await current_position(params), got)
    insert_truck(sql, "T-1")
    [ins] = await got.wait_changes(1)
    assert (ins.table, ins.kind, ins.key) == ("truck_sensors_cache", "insert", "T-1")
    assert ins.row == await store.fetch_sensor_row("T-1")
    assert ins.row["timestamp"] == "2026-11-22T10:00:00.123456Z"
    assert ins.row["updated_at"] == "2026-11-22T10:00:01Z"
    assert ins.row["speed_mph"] == 55.25 and ins.row["heading_deg"] is None

    sql.execute("UPDATE truck_sensors_cache SET rpm = 1500, speed_mph = 0, fuel_level_pct = NULL "
                "WHERE truck_id = 'T-1'")
    upd = (await got.wait_changes(2))[1]
    assert (upd.kind, upd.key) == ("update", "T-1")
    assert upd.row == await store.fetch_sensor_row("T-1")
    assert upd.row["rpm"] == 1500 and upd.row["fuel_level_pct"] is None

    sql.execute("DELETE FROM truck_sensors_cache WHERE truck_id = 'T-1'")
    dele = (await got.wait_changes(3))[2]
    assert dele == Change("truck_sensors_cache", "delete", "T-1", None)


async def test_several_updates_in_one_transaction_give_the_committed_row(params, db, store, sql, start_reader):
    got = Collector()
    reader = start_reader(await current_position(params), got)
    insert_truck(sql, "T-1")
    insert_truck(sql, "T-2")
    await got.wait_changes(2)
    sql.execute("BEGIN")
    for rpm in range(800, 805):
        sql.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = 'T-1'", (rpm,))
    sql.execute("UPDATE truck_sensors_cache SET rpm = 1 WHERE truck_id = 'T-2'")
    insert_truck(sql, "T-3")  # inserted then updated: one insert with the final image
    sql.execute("UPDATE truck_sensors_cache SET rpm = 3 WHERE truck_id = 'T-3'")
    insert_truck(sql, "T-4")  # inserted then deleted: never visible, never delivered
    sql.execute("DELETE FROM truck_sensors_cache WHERE truck_id = 'T-4'")
    sql.execute("COMMIT")
    await got.wait_for(lambda: len(got.batches) == 3)
    batch = got.batches[2]
    assert [(c.kind, c.key) for c in batch.changes] == [("update", "T-1"), ("update", "T-2"), ("insert", "T-3")]
    assert batch.changes[0].row == await store.fetch_sensor_row("T-1")
    assert batch.changes[0].row["rpm"] == 804
    assert batch.changes[2].row["rpm"] == 3
    assert reader.position == batch.position


async def test_rolled_back_transaction_delivers_nothing(params, db, store, sql, start_reader):
    got = Collector()
    start_reader(await current_position(params), got)
    sql.execute("BEGIN")
    insert_truck(sql, "GONE")
    sql.execute("ROLLBACK")
    insert_truck(sql, "KEPT")
    changes = await got.wait_changes(1)
    assert [c.key for c in changes] == ["KEPT"]  # batches come in commit order: GONE would be first


async def test_key_change_is_a_delete_and_an_insert(params, db, store, sql, start_reader):
    got = Collector()
    start_reader(await current_position(params), got)
    insert_truck(sql, "OLD")
    await got.wait_changes(1)
    sql.execute("UPDATE truck_sensors_cache SET truck_id = 'NEW' WHERE truck_id = 'OLD'")
    batch_changes = (await got.wait_changes(3))[1:]
    assert [(c.kind, c.key) for c in batch_changes] == [("delete", "OLD"), ("insert", "NEW")]
    assert batch_changes[1].row == await store.fetch_sensor_row("NEW")


async def test_events_start_after_the_position_and_none_between_is_missed(params, db, store, sql, start_reader):
    insert_truck(sql, "BEFORE")
    position = await current_position(params)
    insert_truck(sql, "BETWEEN")  # committed after the position, before the reader exists
    got = Collector()
    reader = start_reader(position, got)
    await got.wait_state("streaming")
    insert_truck(sql, "AFTER")
    await got.wait_changes(2)
    assert [c.key for c in got.changes] == ["BETWEEN", "AFTER"]
    assert reader.position == got.batches[-1].position


async def test_file_and_offset_resume_matches_gtid_resume(params, db, store, sql, start_reader):
    insert_truck(sql, "A")
    position = await current_position(params)
    assert position.gtid  # MariaDB: resumable both ways
    insert_truck(sql, "B")
    insert_truck(sql, "C")
    by_gtid, by_file = Collector(), Collector()
    start_reader(position, by_gtid)
    start_reader(position, by_file, use_gtid=False)
    await by_gtid.wait_changes(2)
    await by_file.wait_changes(2)
    assert [c.key for c in by_gtid.changes] == [c.key for c in by_file.changes] == ["B", "C"]
    assert by_gtid.batches[-1].position == by_file.batches[-1].position


async def test_other_databases_and_tables_are_not_delivered(params, db, store, sql, start_reader, binlog_server):
    got = Collector()
    reader = start_reader(await current_position(params), got)
    sql.execute("CREATE TABLE fuel_other (id INT PRIMARY KEY, v INT)")
    sql.execute("INSERT INTO fuel_other VALUES (1, 1)")
    sql.execute("INSERT INTO fuel_metrics (truck_id, timestamp_utc) VALUES ('T-1', '2026-01-01')")
    other = binlog_server.connect()
    with other.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}_x`")
        try:
            cur.execute(f"CREATE TABLE `{db}_x`.truck_sensors_cache LIKE `{db}`.truck_sensors_cache")
            cur.execute(f"INSERT INTO `{db}_x`.truck_sensors_cache (truck_id, `timestamp`, updated_at) "
                        "VALUES ('ELSEWHERE', NOW(), NOW())")
        finally:
            cur.execute(f"DROP DATABASE `{db}_x`")
    other.close()
    insert_truck(sql, "HERE")
    await got.wait_changes(1)
    assert [c.key for c in got.changes] == ["HERE"]
    assert reader.counters.row_events == 1
    # Every commit moved the position, followed or not (DDL, the other tables, the other db).
    assert reader.counters.transactions >= 7


async def test_dtc_and_refuel_rows_arrive_inserted_and_updated_not_deleted(params, db, store, sql, start_reader):
    got = Collector()
    start_reader(await current_position(params), got)
    sql.execute("INSERT INTO dtc_events (truck_id, timestamp_utc, dtc_code, spn, fmi, severity, status) "
                "VALUES ('T-1', '2026-11-22 10:00:00.5', 'P0217', 110, 0, 'critical', 'active')")
    dtc_id = sql.lastrowid
    sql.execute("UPDATE dtc_events SET status = 'cleared', cleared_at = '2026-11-22 11:00:00' WHERE id = %s",
                (dtc_id,))
    sql.execute("INSERT INTO refuel_events (truck_id, refuel_time, gallons_added) "
                "VALUES ('T-1', '2026-11-22 12:00:00', 80.5)")
    sql.execute("DELETE FROM dtc_events")
    insert_truck(sql, "LAST")  # a marker: everything before it has been read
    await got.wait_for(lambda: any(c.key == "LAST" for c in got.changes))
    summary = [(c.table, c.kind) for c in got.changes]
    assert summary == [("dtc_events", "insert"), ("dtc_events", "update"), ("refuel_events", "insert"),
                       ("truck_sensors_cache", "insert")]
    dtc = got.changes[1].row
    assert dtc["status"] == "cleared" and dtc["cleared_at"] == "2026-11-22T11:00:00Z"
    assert got.changes[0].row["timestamp_utc"] == "2026-11-22T10:00:00.500000Z"
    assert got.changes[2].row["gallons_added"] == 80.5


async def test_unwatched_trucks_are_skipped_before_conversion(params, db, store, sql, start_reader):
    watched = {"W-1", "W-2"}
    got = Collector()
    reader = start_reader(await current_position(params), got, wanted=watched.__contains__)
    sql.execute("BEGIN")
    for n in range(20):
        insert_truck(sql, f"U-{n}")
    insert_truck(sql, "W-1")
    sql.execute("COMMIT")
    sql.execute("UPDATE truck_sensors_cache SET rpm = rpm + 1")  # 21 rows in one statement
    sql.execute("DELETE FROM truck_sensors_cache WHERE truck_id IN ('U-1', 'U-2')")
    insert_truck(sql, "W-2")  # a watched marker: once it is here, the rows before it were read
    await got.wait_changes(3)
    # wanted() is asked when the row is read: a truck watched from now on (before its
    # snapshot, as the integrator does it) has its next change decoded.
    watched.add("U-3")
    sql.execute("UPDATE truck_sensors_cache SET rpm = 5 WHERE truck_id = 'U-3'")
    await got.wait_for(lambda: any(c.key == "U-3" for c in got.changes))
    assert [(c.kind, c.key) for c in got.changes] == [("insert", "W-1"), ("update", "W-1"), ("insert", "W-2"),
                                                      ("update", "U-3")]
    assert reader.counters.rows_decoded == 4
    assert reader.counters.rows_skipped == 20 + 20 + 2


async def test_a_watched_update_decodes_its_after_image_only(params, db, store, sql, start_reader):
    trucks = [f"F-{n}" for n in range(10)]
    got = Collector()
    reader = start_reader(await current_position(params), got, wanted={*trucks, "F-X"}.__contains__)
    sql.execute("BEGIN")
    for truck in trucks:
        insert_truck(sql, truck)
    sql.execute("COMMIT")
    await got.wait_changes(10)
    # Every row wanted (the fleet case), several rows per event, NULLs on both sides.
    sql.execute("UPDATE truck_sensors_cache SET rpm = rpm + 1, fuel_level_pct = NULL, heading_deg = 90")
    sql.execute("UPDATE truck_sensors_cache SET fuel_level_pct = 12.5 WHERE truck_id = 'F-3'")
    sql.execute("UPDATE truck_sensors_cache SET truck_id = 'F-X' WHERE truck_id = 'F-9'")  # the key moves
    changes = await got.wait_changes(10 + 10 + 1 + 2)
    updates = changes[10:20]
    assert [(c.kind, c.key) for c in updates] == [("update", t) for t in trucks]
    for change in updates:
        assert change.row["rpm"] == 701 and change.row["fuel_level_pct"] is None and change.row["heading_deg"] == 90
    assert changes[20].row == await store.fetch_sensor_row("F-3")
    assert [(c.kind, c.key) for c in changes[21:]] == [("delete", "F-9"), ("insert", "F-X")]
    assert changes[22].row == await store.fetch_sensor_row("F-X")
    # The 11 updates whose key stayed put were read from their after-image alone.
    assert reader.counters.before_images_skipped == 11
    # All but the first (checked against the library's decoding) read by the fast path.
    assert reader.counters.rows_fast == 10
    assert reader.counters.walk_mismatches == reader.counters.decode_mismatches == 0


async def test_stop_is_bounded_and_final(params, db, store, sql, start_reader):
    got = Collector()
    reader = start_reader(await current_position(params), got, heartbeat=30.0)
    await got.wait_state("streaming")
    insert_truck(sql, "READ")
    await got.wait_changes(1)
    await reader.stop(timeout=5.0)
    # The thread sat in a blocking read of an idle log (heartbeat 30 s): stop() must wake
    # it, not wait for the next heartbeat, and its detail would say if it had to give up.
    assert got.states[-1] == ("stopped", "")
    assert not reader._thread.is_alive()
    assert reader.position == got.batches[-1].position


async def test_current_position_is_the_end_of_the_log(params, sql):
    sql.execute("SELECT 1")  # nothing written: the log's end and its GTID position agree
    position = await current_position(params)
    sql.execute("SHOW MASTER STATUS")
    file, pos = sql.fetchone()[:2]
    sql.execute("SELECT @@gtid_binlog_pos")
    assert position == type(position)(file, int(pos), sql.fetchone()[0])


async def test_resume_from_a_saved_position_gives_exactly_what_came_after(params, db, store, sql, start_reader):
    first = Collector()
    reader = start_reader(await current_position(params), first)
    insert_truck(sql, "S-1")
    await first.wait_changes(1)
    await reader.stop()
    saved = reader.position.encode()  # what a process would write down before exiting
    insert_truck(sql, "S-2")  # committed while no reader runs
    sql.execute("UPDATE truck_sensors_cache SET rpm = 9 WHERE truck_id = 'S-1'")
    for use_gtid in (True, False):
        again = Collector()
        start_reader(Position.decode(saved), again, use_gtid=use_gtid)
        changes = await again.wait_changes(2)
        assert [(c.kind, c.key) for c in changes] == [("insert", "S-2"), ("update", "S-1")]


class FailsOnce(Collector):
    """A consumer whose first on_batch raises."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def on_batch(self, batch) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("consumer bug")
        super().on_batch(batch)


async def test_a_failing_consumer_does_not_stop_the_stream(params, db, store, sql, start_reader):
    got = FailsOnce()
    reader = start_reader(await current_position(params), got)
    insert_truck(sql, "F-1")
    insert_truck(sql, "F-2")
    changes = await got.wait_changes(1)
    assert [c.key for c in changes] == ["F-2"] and got.calls == 2
    assert reader.position == got.batches[-1].position
