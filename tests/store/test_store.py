"""One suite, both stores: every test runs against SQLite and the real MariaDB."""

from __future__ import annotations

import datetime as dt
import socket
from decimal import Decimal

import pytest

from gateway.store import StoreUnavailable, open_store
from gateway.store.url import parse_db_url

T0 = dt.datetime(2026, 11, 22, 10, 0, 0)


def sensor_row(truck_id: str, **overrides) -> dict:
    row = {
        "truck_id": truck_id,
        "timestamp": T0 + dt.timedelta(microseconds=123456),
        "data_age_seconds": 2,
        "engine_state": "driving",
        "speed_mph": Decimal("61.50"),
        "rpm": 1480,
        "fuel_level_pct": Decimal("55.25"),
        "estimated_gallons": Decimal("110.50"),
        "latitude": Decimal("39.739236"),
        "longitude": Decimal("-104.990251"),
        "active_dtc_count": 0,
        "updated_at": T0,
    }
    row.update(overrides)
    return row


async def test_schema_is_idempotent(store):
    await store.create_schema()
    await store.create_schema()
    assert await store.list_trucks(None, 10) == []


async def test_sensor_row_round_trips_as_json_safe_values(store):
    await store.upsert_sensor_rows([sensor_row("FL-0208")])
    row = await store.fetch_sensor_row("FL-0208")
    assert row["truck_id"] == "FL-0208"
    assert row["timestamp"] == "2026-11-22T10:00:00.123456Z"
    assert row["updated_at"] == "2026-11-22T10:00:00Z"
    assert row["speed_mph"] == 61.5 and isinstance(row["speed_mph"], float)
    assert row["rpm"] == 1480
    assert row["latitude"] == pytest.approx(39.739236)
    assert row["oil_pressure_psi"] is None
    # The whole row comes back, not a hard-coded list of telemetry fields.
    assert {"coolant_temp_f", "odometer_mi", "engine_hours", "battery_voltage"} <= set(row)


async def test_missing_truck_reads_none(store):
    assert await store.fetch_sensor_row("NOPE-1") is None
    assert await store.fetch_sensor_rows([]) == {}


async def test_upsert_replaces_and_many_rows_read_in_one_query(store):
    await store.upsert_sensor_rows([sensor_row("A1"), sensor_row("B2")])
    await store.upsert_sensor_rows([sensor_row("A1", rpm=900)])
    before = store.queries["sensor_rows"]
    rows = await store.fetch_sensor_rows(["A1", "B2", "C3"])
    assert store.queries["sensor_rows"] == before + 1
    assert set(rows) == {"A1", "B2"}
    assert rows["A1"]["rpm"] == 900 and rows["B2"]["rpm"] == 1480


async def test_list_trucks_pages_by_id(store):
    ids = [f"T{i:03d}" for i in range(7)]
    await store.upsert_sensor_rows([sensor_row(i) for i in ids])
    first = await store.list_trucks(None, 3)
    assert [r["truck_id"] for r in first] == ids[:3]
    assert set(first[0]) == {"truck_id", "timestamp"}
    rest = await store.list_trucks(first[-1]["truck_id"], 10)
    assert [r["truck_id"] for r in rest] == ids[3:]


async def test_history_keyset_paging_returns_every_row_once_in_time_order(store):
    # Ties on timestamp_utc are the case a naive "timestamp > cursor" loses rows on.
    rows = []
    for i in range(25):
        rows.append({"truck_id": "H1", "timestamp_utc": T0 + dt.timedelta(seconds=i // 3), "rpm": i})
    rows.append({"truck_id": "OTHER", "timestamp_utc": T0, "rpm": 999})
    await store.insert_rows("fuel_metrics", rows)
    seen, after = [], None
    while True:
        page = await store.history("H1", T0, T0 + dt.timedelta(hours=1), after, 4)
        seen.extend(page)
        if len(page) < 4:
            break
        last = page[-1]
        after = (dt.datetime.fromisoformat(last["timestamp_utc"].rstrip("Z")), last["id"])
    assert [r["rpm"] for r in seen] == list(range(25))
    assert len({r["id"] for r in seen}) == 25


async def test_history_window_is_half_open(store):
    await store.insert_rows("fuel_metrics", [
        {"truck_id": "H2", "timestamp_utc": T0 + dt.timedelta(minutes=m), "rpm": m} for m in range(10)
    ])
    page = await store.history("H2", T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=5), None, 100)
    assert [r["rpm"] for r in page] == [2, 3, 4]


async def test_dtc_events_filter_by_status_severity_since_newest_first(store):
    def dtc(minute, severity, status, code):
        return {"truck_id": "D1", "timestamp_utc": T0 + dt.timedelta(minutes=minute), "dtc_code": code,
                "spn": 110, "fmi": 0, "severity": severity, "status": status}

    await store.insert_rows("dtc_events", [
        dtc(1, "critical", "active", "P0217"), dtc(2, "low", "active", "P0128"),
        dtc(3, "critical", "cleared", "P0300"), dtc(4, "high", "active", "P0521"),
    ])
    active = await store.dtc_events("D1", ["active"], None, None, 10)
    assert [r["dtc_code"] for r in active] == ["P0521", "P0128", "P0217"]
    critical = await store.dtc_events("D1", None, ["critical"], None, 10)
    assert [r["dtc_code"] for r in critical] == ["P0300", "P0217"]
    recent = await store.dtc_events("D1", ["active", "cleared"], ["critical", "high"], T0 + dt.timedelta(minutes=2), 10)
    assert [r["dtc_code"] for r in recent] == ["P0521", "P0300"]
    assert len(await store.dtc_events("D1", None, None, None, 2)) == 2
    await store.clear_dtcs([active[0]["id"]], T0 + dt.timedelta(hours=1))
    still_active = await store.dtc_events("D1", ["active"], None, None, 10)
    assert [r["dtc_code"] for r in still_active] == ["P0128", "P0217"]


async def test_refuel_events_window_newest_first(store):
    await store.insert_rows("refuel_events", [
        {"truck_id": "R1", "refuel_time": T0 + dt.timedelta(hours=h), "gallons_added": Decimal("80.25")}
        for h in range(5)
    ])
    rows = await store.refuel_events("R1", T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=4), 10)
    assert [r["refuel_time"] for r in rows] == [
        "2026-11-22T13:00:00Z", "2026-11-22T12:00:00Z", "2026-11-22T11:00:00Z"]
    assert rows[0]["gallons_added"] == 80.25


async def test_bytes_parameter_is_bound(store):
    # aiomysql 0.3.2 with PyMySQL 1.2 breaks on bytes parameters (aiomysql issue 1080).
    await store.insert_rows("dtc_events", [{
        "truck_id": "B1", "timestamp_utc": T0, "dtc_code": "P0217", "spn": 110, "fmi": 0,
        "severity": "high", "status": "active", "description": "coolant 240 \u00b0F".encode(),
    }])
    rows = await store.dtc_events("B1", None, None, None, 1)
    assert rows[0]["description"] == "coolant 240 \u00b0F"


async def test_unknown_columns_and_tables_are_refused_before_sql(store):
    with pytest.raises(ValueError):
        await store.insert_rows("users; DROP TABLE x", [{"a": 1}])
    with pytest.raises(ValueError):
        await store.upsert_sensor_rows([{"truck_id": "X", "evil`col": 1}])


async def test_stats_answers(store):
    stats = await store.stats()
    assert stats["store"] == store.kind


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_mysql_down_raises_store_unavailable_not_driver_errors():
    url = parse_db_url(f"mysql://root@127.0.0.1:{_closed_port()}/nothing")
    st = open_store(url, pool_min=1, pool_max=2, query_timeout=2.0)
    await st.open()  # must not raise: the gateway starts with the database down
    with pytest.raises(StoreUnavailable):
        await st.fetch_sensor_row("FL-1")
    with pytest.raises(StoreUnavailable):
        await st.stats()
    await st.close()
