"""The pure fleet model: determinism, physical consistency, refuels, and fit to the schema."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pytest

from gateway.core.channels import is_valid_truck_id
from gateway.sim.fleet import ENGINE_STATES, SEVERITIES, Fleet, FleetStep
from gateway.store.sql import schema_text

T0 = dt.datetime(2026, 11, 22, 0, 0, 0)


def run(fleet: Fleet, steps: int, dt_s: float, start: dt.datetime = T0) -> list[FleetStep]:
    return [fleet.step(start + dt.timedelta(seconds=dt_s * k), dt_s) for k in range(1, steps + 1)]


def mysql_columns() -> dict[str, dict[str, tuple[str, int, int]]]:
    """Column name -> (type, precision, scale), per table, from the shipped MySQL DDL."""
    text = schema_text("mysql")
    tables: dict[str, dict[str, str]] = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\) ENGINE", text, re.S):
        tables[name] = {
            m.group(1): (m.group(2), int(m.group(3) or 0), int(m.group(4) or 0))
            for m in re.finditer(r"^\s*`?(\w+)`?\s+(\w+)(?:\((\d+)(?:,(\d+))?\))?", body, re.M)
            if m.group(1) not in ("PRIMARY", "KEY")
        }
    return tables


@pytest.fixture(scope="module")
def long_run() -> tuple[Fleet, list[FleetStep]]:
    """A dozen trucks over a day and a half, shared by the consistency tests."""
    fleet = Fleet(Fleet.make_ids(12), seed=7, start=T0)
    return fleet, run(fleet, 36 * 30, 120)


def test_ids_are_valid_distinct_and_stable():
    ids = Fleet.make_ids(300)
    assert all(is_valid_truck_id(i) for i in ids)
    assert len(set(ids)) == 300
    assert Fleet.make_ids(20) == ids[:20]
    assert any(i.startswith("FL-") for i in ids) and any(re.fullmatch(r"CO\d{4}", i) for i in ids)
    assert not set(Fleet.make_ids(10, exclude=ids[:10])) & set(ids[:10])
    with pytest.raises(ValueError):
        Fleet(["bad id!"], start=T0)


def test_same_seed_gives_the_same_fleet():
    ids = Fleet.make_ids(8)
    a = run(Fleet(ids, seed=3, start=T0), 60, 60)
    b = run(Fleet(ids, seed=3, start=T0), 60, 60)
    c = run(Fleet(ids, seed=4, start=T0), 60, 60)
    assert [s.sensor_rows for s in a] == [s.sensor_rows for s in b]
    assert [s.fuel_metrics for s in a] == [s.fuel_metrics for s in b]
    assert [s.sensor_rows for s in a] != [s.sensor_rows for s in c]
    # A truck's path does not depend on which other trucks share the fleet.
    alone = run(Fleet(ids[:1], seed=3, start=T0), 60, 60)
    assert [s.sensor_rows[0] for s in alone] == [s.sensor_rows[0] for s in a]


def test_gauges_follow_the_engine_state(long_run):
    _, steps = long_run
    seen = set()
    for step in steps:
        for row in step.sensor_rows:
            state = row["engine_state"]
            seen.add(state)
            if state == "parked":
                assert (row["speed_mph"], row["rpm"], row["engine_load_pct"], row["oil_pressure_psi"]) == (0, 0, 0, 0)
                assert 12.2 <= row["battery_voltage"] <= 12.7
            else:
                assert 13.8 <= row["battery_voltage"] <= 14.2
                assert row["oil_pressure_psi"] > 15
            if state == "idle":
                assert row["speed_mph"] == 0 and 580 <= row["rpm"] <= 770
            if state == "driving":
                assert 0 <= row["speed_mph"] <= 75 and 580 <= row["rpm"] <= 2100
    assert seen == set(ENGINE_STATES)


def test_speed_changes_smoothly_and_position_follows_speed():
    fleet = Fleet(Fleet.make_ids(6), seed=1, start=T0)
    previous: dict[str, dict] = {}
    for step in run(fleet, 900, 1):
        for row in step.sensor_rows:
            before = previous.get(row["truck_id"])
            if before is not None:
                assert abs(row["speed_mph"] - before["speed_mph"]) <= 4.5
                assert row["odometer_mi"] >= before["odometer_mi"]
                assert row["engine_hours"] >= before["engine_hours"]
                if row["speed_mph"] == 0 and before["speed_mph"] == 0:
                    assert (row["latitude"], row["longitude"]) == (before["latitude"], before["longitude"])
            assert 24 < row["latitude"] < 50 and -125 < row["longitude"] < -66
            previous[row["truck_id"]] = row


def test_fuel_burns_while_driving_then_a_parked_truck_refuels():
    fleet = Fleet([], seed=0, start=T0)
    truck = fleet.restore({"truck_id": "FL-0001", "engine_state": "driving", "speed_mph": 60.0,
                           "fuel_level_pct": 21.0, "estimated_gallons": 42.0})
    assert truck.tank_gal == pytest.approx(200.0)
    last = 21.0
    refuel = None
    for step in run(fleet, 24 * 60, 60):
        (row,) = step.sensor_rows
        if step.refuel_events:
            (refuel,) = step.refuel_events
            assert row["engine_state"] == "parked"
            assert row["fuel_level_pct"] == refuel["fuel_level_after_pct"]
            break
        if row["engine_state"] == "driving":
            assert row["fuel_level_pct"] < last
        assert row["fuel_level_pct"] <= last
        last = row["fuel_level_pct"]
    assert refuel is not None, "a low truck must refuel within a day"
    assert refuel["fuel_level_before_pct"] < 20 <= 90 <= refuel["fuel_level_after_pct"]
    jump = (refuel["fuel_level_after_pct"] - refuel["fuel_level_before_pct"]) / 100 * truck.tank_gal
    assert refuel["gallons_added"] == pytest.approx(jump, abs=0.05)


def test_rows_fit_the_schema_columns_and_scales(long_run):
    fleet, steps = long_run
    schema = mysql_columns()
    tables = {"truck_sensors_cache": [], "fuel_metrics": [], "dtc_events": [], "refuel_events": []}
    for step in steps:
        tables["truck_sensors_cache"] += step.sensor_rows
        tables["fuel_metrics"] += step.fuel_metrics
        tables["dtc_events"] += step.dtc_events
        tables["refuel_events"] += step.refuel_events
    assert tables["dtc_events"] and tables["refuel_events"], "a day and a half of a dozen trucks has events"
    for table, rows in tables.items():
        columns = schema[table]
        for row in rows:
            assert set(row) <= set(columns), table
            for name, value in row.items():
                kind, precision, scale = columns[name]
                if kind == "DECIMAL":
                    assert isinstance(value, float) and round(value, scale) == value, (name, value)
                    assert abs(value) < 10 ** (precision - scale), (name, value)
                elif kind == "INT":
                    assert isinstance(value, int), (name, value)
                elif kind == "DATETIME":
                    assert value is None or isinstance(value, dt.datetime)
    for row in tables["truck_sensors_cache"]:
        tank = fleet.trucks[row["truck_id"]].tank_gal
        assert 0 <= row["fuel_level_pct"] <= 100 and 0 <= row["data_age_seconds"] <= 3
        assert row["estimated_gallons"] == pytest.approx(row["fuel_level_pct"] * tank / 100, abs=0.03)
        assert row["updated_at"] >= row["timestamp"] and 0 <= row["heading_deg"] < 360
    for row in tables["dtc_events"]:
        assert row["severity"] in SEVERITIES and row["status"] == "active" and row["description"]


def test_active_dtc_count_matches_raises_and_clears(long_run):
    _, steps = long_run
    active: dict[str, set[str]] = defaultdict(set)
    cleared = 0
    for step in steps:
        for truck_id, code in step.dtc_clears:
            active[truck_id].remove(code)
            cleared += 1
        for event in step.dtc_events:
            assert event["dtc_code"] not in active[event["truck_id"]]
            active[event["truck_id"]].add(event["dtc_code"])
        for row in step.sensor_rows:
            assert row["active_dtc_count"] == len(active[row["truck_id"]])
    assert cleared > 0


def test_history_rows_come_once_per_interval_and_rows_are_never_written_ahead_of_time():
    ids = Fleet.make_ids(4)
    fleet = Fleet(ids, seed=2, start=T0, history_interval_s=60)
    history = 0
    for second in range(1, 181):
        now = T0 + dt.timedelta(seconds=second)
        step = fleet.step(now, 1.0)
        history += len(step.fuel_metrics)
        for row in step.sensor_rows:
            assert row["updated_at"] == now  # the write's own time, never ahead of it
            assert row["timestamp"] == now - dt.timedelta(seconds=row["data_age_seconds"])
    assert history == 3 * len(ids)  # seconds 1, 61 and 121: one a minute per truck
