"""A column added or dropped while the reader runs: after-images follow the table."""

from __future__ import annotations

from gateway.changes import current_position
from tests.changes.collect import Collector
from tests.changes.test_reader import insert_truck


async def test_added_and_dropped_columns_show_in_after_images(params, db, store, sql, start_reader):
    start = await current_position(params)
    got = Collector()
    start_reader(start, got)
    insert_truck(sql, "T-1")
    [first] = await got.wait_changes(1)
    assert "trailer_temp_f" not in first.row

    sql.execute("ALTER TABLE truck_sensors_cache ADD COLUMN trailer_temp_f DECIMAL(5,1) NULL DEFAULT 38.5")
    sql.execute("UPDATE truck_sensors_cache SET rpm = 901 WHERE truck_id = 'T-1'")
    second = (await got.wait_changes(2))[1]
    assert second.row["trailer_temp_f"] == 38.5
    assert second.row == await store.fetch_sensor_row("T-1")

    sql.execute("ALTER TABLE truck_sensors_cache DROP COLUMN data_age_seconds, "
                "ADD COLUMN reefer_mode VARCHAR(8) NOT NULL DEFAULT 'cool' AFTER truck_id")
    sql.execute("UPDATE truck_sensors_cache SET rpm = 902 WHERE truck_id = 'T-1'")
    third = (await got.wait_changes(3))[2]
    assert "data_age_seconds" not in third.row and third.row["reefer_mode"] == "cool"
    assert list(third.row) == list(await store.fetch_sensor_row("T-1"))  # column order too
    assert third.row == await store.fetch_sensor_row("T-1")

    # Replaying from before the ALTERs names each image's columns as they were then: the
    # names travel in the binlog (binlog_row_metadata=FULL), not from today's schema.
    replay = Collector()
    start_reader(start, replay)
    images = [c.row for c in await replay.wait_changes(3)]
    assert [("trailer_temp_f" in r, "data_age_seconds" in r) for r in images] == [
        (False, True), (True, True), (True, False)]
    assert images == [first.row, second.row, third.row]
