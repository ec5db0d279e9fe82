"""MySQL-only behaviour: isolation, schema parity with SQLite, indexes."""

from __future__ import annotations

import datetime as dt
import sqlite3

from gateway.store import open_store
from gateway.store.sql import schema_statements
from tests.conftest import admin_connection

SPEC_INDEXES = {
    ("fuel_metrics", "idx_fuel_metrics_truck_time"): ["truck_id", "timestamp_utc"],
    ("dtc_events", "idx_dtc_events_truck_status_severity"): ["truck_id", "status", "severity"],
    ("dtc_events", "idx_dtc_events_severity"): ["severity"],
    ("dtc_events", "idx_dtc_events_status"): ["status"],
    ("dtc_events", "idx_dtc_events_spn"): ["spn"],
    ("refuel_events", "idx_refuel_events_truck_time"): ["truck_id", "refuel_time"],
}


def mysql_indexes(database: str) -> dict[tuple[str, str], list[str]]:
    conn = admin_connection(database)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, index_name, column_name FROM information_schema.statistics "
            "WHERE table_schema = %s AND index_name <> 'PRIMARY' ORDER BY table_name, index_name, seq_in_index",
            (database,),
        )
        found: dict[tuple[str, str], list[str]] = {}
        for table, index, column in cur.fetchall():
            found.setdefault((table, index), []).append(column)
    conn.close()
    return found


async def test_poller_read_sees_change_made_by_another_connection(mysql_url, mysql_db):
    # One pooled connection, reused for both reads: with autocommit off, InnoDB's
    # REPEATABLE READ would keep returning the first snapshot and the change never shows.
    st = open_store(mysql_url, pool_min=1, pool_max=1)
    await st.create_schema()
    await st.upsert_sensor_rows([{"truck_id": "RR-1", "timestamp": dt.datetime(2026, 1, 1),
                                  "rpm": 700, "updated_at": dt.datetime(2026, 1, 1)}])
    assert (await st.fetch_sensor_row("RR-1"))["rpm"] == 700
    other = admin_connection(mysql_db)
    with other.cursor() as cur:
        cur.execute("UPDATE truck_sensors_cache SET rpm = 1500 WHERE truck_id = 'RR-1'")
    other.close()
    assert (await st.fetch_sensor_row("RR-1"))["rpm"] == 1500
    await st.close()


async def test_schema_twice_keeps_every_spec_index(mysql_url, mysql_db):
    st = open_store(mysql_url, pool_min=1, pool_max=2)
    await st.create_schema()
    await st.create_schema()
    await st.close()
    found = mysql_indexes(mysql_db)
    for key, columns in SPEC_INDEXES.items():
        assert found.get(key) == columns, key


async def test_mysql_and_sqlite_schemas_define_the_same_columns(mysql_url, mysql_db):
    st = open_store(mysql_url, pool_min=1, pool_max=2)
    await st.create_schema()
    await st.close()
    conn = admin_connection(mysql_db)
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = %s ORDER BY table_name, ordinal_position", (mysql_db,))
        mysql_columns: dict[str, list[str]] = {}
        for table, column in cur.fetchall():
            mysql_columns.setdefault(table, []).append(column)
    conn.close()
    lite = sqlite3.connect(":memory:")
    lite.executescript(";\n".join(schema_statements("sqlite")) + ";")
    sqlite_columns = {
        table: [r[1] for r in lite.execute(f"PRAGMA table_info({table})")] for table in mysql_columns
    }
    lite_indexes = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert len(mysql_columns) == 4
    assert sqlite_columns == mysql_columns
    assert {name for _, name in SPEC_INDEXES} <= lite_indexes
