"""Every REST and poller query uses its index on MariaDB (EXPLAIN), so none degrades to a scan."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.store import open_store, sql
from gateway.store.mysql import MySQLStore
from tests.conftest import admin_connection

T0 = dt.datetime(2026, 11, 22)
TRUCKS = [f"T{i:03d}" for i in range(60)]


@pytest.fixture
async def filled_db(mysql_url, mysql_db):
    store = open_store(mysql_url, pool_min=1, pool_max=2)
    await store.create_schema()
    await store.upsert_sensor_rows([{"truck_id": t, "timestamp": T0, "updated_at": T0} for t in TRUCKS])
    await store.insert_rows("fuel_metrics", [
        {"truck_id": t, "timestamp_utc": T0 + dt.timedelta(minutes=m)} for t in TRUCKS for m in range(80)])
    await store.insert_rows("dtc_events", [
        {"truck_id": t, "timestamp_utc": T0 + dt.timedelta(minutes=m), "dtc_code": "P0217", "spn": 100 + m % 7,
         "fmi": 0, "severity": ("critical", "high", "medium", "low")[m % 4], "status": ("active", "cleared")[m % 2]}
        for t in TRUCKS for m in range(20)])
    await store.insert_rows("refuel_events", [
        {"truck_id": t, "refuel_time": T0 + dt.timedelta(hours=h), "gallons_added": 80}
        for t in TRUCKS for h in range(20)])
    await store.close()
    conn = admin_connection(mysql_db)
    with conn.cursor() as cur:
        for table in ("truck_sensors_cache", "fuel_metrics", "dtc_events", "refuel_events"):
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()
    yield conn
    conn.close()


def explain(conn, query: str, params: tuple) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute("EXPLAIN " + query, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


T1 = T0 + dt.timedelta(days=1)
CASES = [
    ("sensor row", sql.SENSOR_ROW, ("T007",), "PRIMARY"),
    ("many sensor rows", sql.sensor_rows(3), ("T001", "T002", "T003"), "PRIMARY"),
    ("truck exists", sql.TRUCK_EXISTS, ("T007",), "PRIMARY"),
    ("list trucks", sql.list_trucks(None), ("T010", 10), "PRIMARY"),
    ("list granted trucks", sql.list_trucks(2, MySQLStore.exact_truck_id), ("T010", "T020", "T030", "T020", "T030", 10),
     "PRIMARY"),
    ("history", sql.HISTORY, ("T007", T0, T1, T0, 0, 500), "idx_fuel_metrics_truck_time"),
    ("history page 2", sql.HISTORY, ("T007", T0 + dt.timedelta(minutes=30), T1, T0 + dt.timedelta(minutes=30), 99, 500),
     "idx_fuel_metrics_truck_time"),
    ("dtcs all", sql.dtc_events(0, 0, False, False), ("T007", 100), "idx_dtc_events_truck_status_severity"),
    ("dtcs filtered", sql.dtc_events(1, 2, True, True),
     ("T007", "active", "critical", "high", T0, T1, T1, 10**9, 100), "idx_dtc_events_truck_status_severity"),
    ("refuels", sql.REFUELS, ("T007", T0, T1, T1, 0, 100), "idx_refuel_events_truck_time"),
]


@pytest.mark.parametrize(("name", "query", "params", "index"), CASES, ids=[c[0] for c in CASES])
def test_query_uses_its_index(filled_db, name, query, params, index):
    plan = explain(filled_db, query, params)
    assert len(plan) == 1, plan
    step = plan[0]
    assert step["key"] == index, f"{name}: {step}"
    assert step["type"] in ("const", "eq_ref", "ref", "range"), f"{name} scans: {step}"
