"""Alert derivation (gateway.core.alerts), driven by plain calls with rows and a clock."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.core.alerts import (
    DTC_CLEARED,
    DTC_RAISED,
    FUEL_LOW,
    FUEL_RECOVERED,
    REFUEL,
    TRUCK_REPORTING,
    TRUCK_STALE,
    AlertConfig,
    AlertDeriver,
    Event,
)
from gateway.core.alerts.dtc import DtcTracker
from gateway.core.alerts.events import now_us
from gateway.core.rows import format_utc
from gateway.core.stream import reading_age_seconds

T0 = dt.datetime(2026, 11, 22, 10, 0, 0)
T0_MS = 1795341600000


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def reading(level: float | None, seconds: float = 0.0, gallons: float | None = None) -> dict[str, Any]:
    """A cache row as the stores give it (JSON-safe), read ``seconds`` after T0."""
    return {"truck_id": "T1", "timestamp": format_utc(at(seconds)), "fuel_level_pct": level,
            "estimated_gallons": gallons, "speed_mph": 50.0}


def dtc(dtc_id: int, status: str, truck_id: str = "T1", code: str = "P0217") -> dict[str, Any]:
    return {"id": dtc_id, "truck_id": truck_id, "timestamp_utc": "2026-11-22T09:59:00Z", "dtc_code": code,
            "spn": 110, "fmi": 0, "severity": "critical", "status": status, "description": "coolant hot",
            "cleared_at": "2026-11-22T10:00:30Z" if status == "cleared" else None}


def refuel_row(refuel_id: int, seconds: float, truck_id: str = "T1") -> dict[str, Any]:
    return {"id": refuel_id, "truck_id": truck_id, "refuel_time": format_utc(at(seconds)), "gallons_added": 120.5,
            "fuel_level_before_pct": 18.0, "fuel_level_after_pct": 95.0}


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def feed_levels(deriver: AlertDeriver, levels: list[float], truck_id: str = "T1") -> list[Event]:
    """Feed consecutive readings one second apart, the first one as the baseline."""
    events: list[Event] = []
    prev = None
    for i, level in enumerate(levels):
        row = reading(level, i)
        events += deriver.sensor(truck_id, prev, row, at(i))
        prev = row
    return events


# --- DTCs ------------------------------------------------------------------------------


def test_dtc_raised_then_cleared_each_once_across_re_reads() -> None:
    d = AlertDeriver()
    raised = d.dtc_rows([dtc(7, "active")], at(1))
    assert kinds(raised) == [DTC_RAISED]
    event = raised[0]
    assert (event.truck_id, event.ts) == ("T1", T0_MS + 1000)
    assert event.data == {"dtc_id": 7, "status": "active", "dtc_code": "P0217", "spn": 110, "fmi": 0,
                          "severity": "critical", "description": "coolant hot",
                          "timestamp_utc": "2026-11-22T09:59:00Z", "cleared_at": None}
    assert d.dtc_rows([dtc(7, "active")], at(2)) == []
    cleared = d.dtc_rows([dtc(7, "cleared"), dtc(8, "active", "T2")], at(3))
    assert [(e.kind, e.truck_id) for e in cleared] == [(DTC_CLEARED, "T1"), (DTC_RAISED, "T2")]
    assert cleared[0].data["cleared_at"] == "2026-11-22T10:00:30Z"
    assert d.dtc_rows([dtc(7, "cleared"), dtc(8, "active", "T2")], at(4)) == []


def test_dtc_raised_and_cleared_between_two_reads_gives_both_in_order() -> None:
    d = AlertDeriver()
    d.prime([dtc(1, "active")], [], at(0))
    assert kinds(d.dtc_rows([dtc(2, "cleared")], at(1))) == [DTC_RAISED, DTC_CLEARED]
    assert d.dtc_rows([dtc(2, "cleared")], at(2)) == []


def test_primed_history_is_not_news_but_its_later_clear_is() -> None:
    d = AlertDeriver()
    d.prime([dtc(1, "cleared"), dtc(2, "active")], [], at(0))
    assert d.dtc_rows([dtc(1, "cleared"), dtc(2, "active")], at(1)) == []
    assert kinds(d.dtc_rows([dtc(2, "cleared")], at(2))) == [DTC_CLEARED]


def test_dtc_raw_database_values_become_json_safe() -> None:
    row = {**dtc(3, "active"), "timestamp_utc": dt.datetime(2026, 11, 22, 9, 59, 0, 500), "spn": Decimal("110")}
    [event] = AlertDeriver().dtc_rows([row], at(0))
    assert event.data["timestamp_utc"] == "2026-11-22T09:59:00.000500Z"
    assert orjson.loads(orjson.dumps(event.data))["spn"] == 110


def test_dtc_rows_without_usable_id_truck_or_status_are_skipped() -> None:
    rows = [{**dtc(1, "active"), "id": "1"}, {**dtc(2, "active"), "truck_id": None},
            {**dtc(3, "active"), "status": "pending"}, {**dtc(4, "active"), "id": True}]
    assert AlertDeriver().dtc_rows(rows, at(0)) == []


def test_cleared_dtcs_are_forgotten_after_retention_and_never_repeat() -> None:
    tracker = DtcTracker(retain_us=60_000_000)
    tracker.observe([dtc(1, "active"), dtc(2, "active")], now_us(at(0)))
    tracker.observe([dtc(1, "cleared")], now_us(at(1)))
    tracker.observe([], now_us(at(200)))
    assert len(tracker) == 1  # only the still-active id 2 is kept
    assert tracker.observe([dtc(1, "cleared"), dtc(2, "active")], now_us(at(201))) == []
    assert kinds(tracker.observe([dtc(2, "cleared")], now_us(at(202)))) == [DTC_CLEARED]


# --- refuels ---------------------------------------------------------------------------


def test_refuel_row_reported_once() -> None:
    d = AlertDeriver()
    [event] = d.refuel_rows([refuel_row(5, 0)], at(1))
    assert event.kind == REFUEL
    assert event.data == {"source": "refuel_events", "refuel_id": 5, "refuel_time": "2026-11-22T10:00:00Z",
                          "gallons_added": 120.5, "fuel_level_before_pct": 18.0, "fuel_level_after_pct": 95.0}
    assert d.refuel_rows([refuel_row(5, 0)], at(2)) == []


def test_level_jump_is_a_refuel_only_above_the_configured_rise() -> None:
    d = AlertDeriver(AlertConfig(refuel_jump_pct=10))
    assert d.sensor("T1", reading(40, 0), reading(50, 1), at(1)) == []  # +10 is not more than 10
    [event] = d.sensor("T1", reading(50, 1, 60.0), reading(90, 2, 108.25), at(2))
    assert event.kind == REFUEL
    assert event.data == {"source": "fuel_level", "refuel_id": None, "refuel_time": "2026-11-22T10:00:02Z",
                          "gallons_added": 48.25, "fuel_level_before_pct": 50.0, "fuel_level_after_pct": 90.0}


def test_row_then_jump_of_the_same_refuel_is_reported_once() -> None:
    d = AlertDeriver()
    assert kinds(d.refuel_rows([refuel_row(1, 0)], at(5))) == [REFUEL]
    assert d.sensor("T1", reading(18, -30), reading(95, 60), at(60)) == []


def test_jump_then_row_of_the_same_refuel_is_reported_once() -> None:
    d = AlertDeriver()
    assert kinds(d.sensor("T1", reading(18, 0), reading(95, 10), at(10))) == [REFUEL]
    assert d.refuel_rows([refuel_row(1, 0)], at(70)) == []


def test_fill_seen_over_several_readings_and_its_row_is_one_refuel() -> None:
    d = AlertDeriver()
    events = feed_levels(d, [18, 40, 65, 90])
    assert kinds(events) == [REFUEL]
    assert d.refuel_rows([refuel_row(1, 1)], at(30)) == []


def test_distinct_refuels_are_each_reported() -> None:
    d = AlertDeriver(AlertConfig(refuel_merge_s=600))
    assert kinds(d.sensor("T1", reading(18, 0), reading(95, 10), at(10))) == [REFUEL]
    # A second fill logged a minute later: the jump absorbs only one row.
    assert kinds(d.refuel_rows([refuel_row(1, 10), refuel_row(2, 70)], at(80))) == [REFUEL]
    # Another truck, and the same truck outside the window, are other refuels.
    assert kinds(d.sensor("T2", reading(18, 0), reading(95, 10), at(90))) == [REFUEL]
    assert kinds(d.sensor("T1", reading(30, 700), reading(95, 701), at(701))) == [REFUEL]


def test_primed_refuel_row_absorbs_a_jump_seen_after_start() -> None:
    d = AlertDeriver()
    d.prime([], [refuel_row(1, 0)], at(0))
    assert d.refuel_rows([refuel_row(1, 0)], at(1)) == []
    assert d.sensor("T1", reading(18, 0), reading(95, 5), at(5)) == []


# --- fuel low with hysteresis ----------------------------------------------------------


def test_level_wobbling_at_the_threshold_does_not_flap() -> None:
    events = feed_levels(AlertDeriver(), [40, 14.9, 15.1, 14.8, 16, 19.9, 20.1, 14])
    assert [(e.kind, e.data["fuel_level_pct"]) for e in events] == [
        (FUEL_LOW, 14.9), (FUEL_RECOVERED, 20.1), (FUEL_LOW, 14.0)]
    assert events[0].data == {"fuel_level_pct": 14.9, "threshold_pct": 15.0}
    assert events[1].data["rearm_pct"] == 20.0


def test_threshold_and_rearm_are_strict() -> None:
    assert feed_levels(AlertDeriver(), [40, 15.0, 15.0]) == []
    assert kinds(feed_levels(AlertDeriver(), [40, 14, 20.0, 14])) == [FUEL_LOW]


def test_recovered_kind_can_be_turned_off_and_thresholds_configured() -> None:
    d = AlertDeriver(AlertConfig(low_fuel_pct=25, low_fuel_margin=2, fuel_recovered=False))
    events = feed_levels(d, [40, 24.9, 26.9, 27.1, 24])
    assert [(e.kind, e.data["fuel_level_pct"]) for e in events] == [(FUEL_LOW, 24.9), (FUEL_LOW, 24.0)]


def test_first_reading_and_null_levels_only_set_or_keep_the_baseline() -> None:
    d = AlertDeriver()
    assert d.sensor("T1", None, reading(10, 0), at(0)) == []  # already low at start: no news
    assert d.sensor("T1", reading(10, 0), reading(None, 1), at(1)) == []
    assert d.sensor("T1", reading(None, 1), reading(12, 2), at(2)) == []
    assert kinds(d.sensor("T1", reading(12, 2), reading(21, 3), at(3))) == [FUEL_RECOVERED]


def test_refill_from_low_gives_refuel_then_recovered() -> None:
    assert kinds(feed_levels(AlertDeriver(), [20, 14, 95])) == [FUEL_LOW, REFUEL, FUEL_RECOVERED]


# --- staleness -------------------------------------------------------------------------


def test_truck_goes_stale_with_time_and_reports_again_once() -> None:
    d = AlertDeriver(AlertConfig(stale_after_s=120))
    row = reading(50, 0)
    assert d.sensor("T1", None, row, at(1)) == []
    assert d.tick(at(120)) == []
    [stale] = d.tick(at(120.000001))
    assert stale.kind == TRUCK_STALE
    assert stale.data == {"timestamp": "2026-11-22T10:00:00Z", "age_s": 120.0, "stale_after_s": 120}
    assert d.tick(at(500)) == []
    assert d.sensor("T1", row, {**row, "speed_mph": 0.0}, at(501)) == []  # a change, still the old reading
    fresh = reading(50, 600)
    [back] = d.sensor("T1", row, fresh, at(601))
    assert (back.kind, back.data["timestamp"], back.data["age_s"]) == (TRUCK_REPORTING, fresh["timestamp"], 1.0)
    assert d.tick(at(602)) == []


@pytest.mark.parametrize("age_us", [119_999_999, 120_000_000, 120_000_001])
def test_staleness_is_the_pollers_rule(age_us: int) -> None:
    d = AlertDeriver(AlertConfig(stale_after_s=120))
    row = reading(50, 0)
    d.sensor("T1", None, row, at(0))
    now = T0 + dt.timedelta(microseconds=age_us)
    age = reading_age_seconds(row, now)
    assert age is not None
    assert bool(d.tick(now)) == (age > 120)


def test_stale_at_first_sight_is_baseline_and_its_return_is_reported() -> None:
    d = AlertDeriver()
    assert d.sensor("T1", None, reading(50, 0), at(1000)) == []
    assert kinds(d.sensor("T1", reading(50, 0), reading(50, 999), at(1000))) == [TRUCK_REPORTING]


def test_tick_checks_only_the_named_trucks_and_forget_drops_state() -> None:
    d = AlertDeriver()
    d.sensor("T1", None, reading(50, 0), at(0))
    d.sensor("T2", None, reading(50, 0), at(0))
    assert [e.truck_id for e in d.tick(at(200), ["T2", "unknown"])] == ["T2"]
    d.forget("T1")
    assert d.tick(at(300)) == []


def test_counts_tally_events_by_kind() -> None:
    d = AlertDeriver()
    feed_levels(d, [40, 14, 21, 14])
    d.dtc_rows([dtc(1, "active")], at(5))
    assert d.counts == {FUEL_LOW: 2, FUEL_RECOVERED: 1, DTC_RAISED: 1}


@pytest.mark.parametrize("bad", [{"low_fuel_margin": -1}, {"refuel_jump_pct": 0}, {"stale_after_s": 0},
                                 {"refuel_merge_s": -1}, {"retain_s": 60, "refuel_merge_s": 61}])
def test_config_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AlertConfig(**bad)


def test_alert_modules_import_no_io() -> None:
    code = ("import sys, gateway.core.alerts; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'asyncio', 'aiohttp', 'aiomysql', 'pymysql', 'sqlite3', 'aiosqlite', 'redis', 'socket'}))")
    root = Path(__file__).resolve().parents[2]  # this checkout, not an installed copy
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
