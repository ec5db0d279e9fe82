"""Sample data and the live simulator, written through the real embedded (SQLite) store."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from gateway.core.rows import format_utc, parse_utc
from gateway.sim.fleet import Fleet
from gateway.sim.writer import run_simulation, seed_sample_fleet
from gateway.store import Store, StoreUnavailable, open_store
from gateway.store.url import parse_db_url

NOW = dt.datetime(2026, 11, 22, 10, 0, 0)
DAY = dt.timedelta(hours=24)


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    st = open_store(parse_db_url(f"sqlite:///{tmp_path}/f.db"))
    await st.open()
    await st.create_schema()
    try:
        yield st
    finally:
        await st.close()


class FlakyStore:
    """The real store, except that the next ``failures`` cache upserts fail as if the database were down."""

    def __init__(self, inner: Store, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def upsert_sensor_rows(self, rows) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("connection refused")
        await self.inner.upsert_sensor_rows(rows)


async def truck_ids(store: Store) -> list[str]:
    return [r["truck_id"] for r in await store.list_trucks(None, 1000)]


async def history_count(store: Store, truck_id: str, since: dt.datetime) -> int:
    return len(await store.history(truck_id, since, since + 2 * DAY, None, 5000))


async def test_seed_gives_trucks_with_a_day_of_history(store):
    await seed_sample_fleet(store, 5, now=NOW)
    ids = await truck_ids(store)
    assert len(ids) == 5
    rows = await store.fetch_sensor_rows(ids)
    events = 0
    for truck_id in ids:
        row = rows[truck_id]
        # The row was written at NOW, data_age_seconds after the reading it carries.
        assert row["updated_at"] == format_utc(NOW)
        assert row["timestamp"] == format_utc(NOW - dt.timedelta(seconds=row["data_age_seconds"]))
        history = await store.history(truck_id, NOW - DAY, NOW + dt.timedelta(seconds=1), None, 5000)
        assert len(history) == 24 * 12
        assert history[-1]["odometer_mi"] == row["odometer_mi"]
        dtcs = await store.dtc_events(truck_id, None, None, None, 100)
        active = [d for d in dtcs if d["status"] == "active"]
        assert row["active_dtc_count"] == len(active)
        assert all(d["cleared_at"] for d in dtcs if d["status"] == "cleared")
        assert all(d["cleared_at"] is None for d in active)
        refuels = await store.refuel_events(truck_id, NOW - DAY, NOW + dt.timedelta(seconds=1), 100)
        assert all(r["gallons_added"] > 0 for r in refuels)
        events += len(dtcs) + len(refuels)
    assert events > 0
    # Seeding again leaves the existing trucks and their history alone.
    await seed_sample_fleet(store, 5, now=NOW)
    assert await history_count(store, ids[0], NOW - DAY) == 24 * 12


async def test_simulation_moves_stored_trucks_and_adds_missing_ones(store):
    seeded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
    await seed_sample_fleet(store, 3, now=seeded_at, history_hours=1)
    before = await store.fetch_sensor_rows(await truck_ids(store))
    stats = await run_simulation(store, None, 5, rate=50, duration=None, stop=asyncio.Event(), max_ticks=3,
                                 history_interval=0)
    assert stats.ticks == 3 and stats.failed_ticks == 0
    assert stats.rows_written >= 3 * (5 + 5)
    ids = await truck_ids(store)
    assert len(ids) == 5 and set(before) <= set(ids)
    after = await store.fetch_sensor_rows(ids)
    for truck_id in ids:
        assert parse_utc(after[truck_id]["timestamp"]) > seeded_at
        assert await history_count(store, truck_id, seeded_at + dt.timedelta(seconds=1)) == 3
    for truck_id, row in before.items():
        # A stored truck is continued, not restarted somewhere else.
        assert 0 <= after[truck_id]["odometer_mi"] - row["odometer_mi"] < 1
        assert after[truck_id]["timestamp"] != row["timestamp"]


async def test_dtc_clears_are_resolved_to_stored_events(store, monkeypatch):
    # Every hazard fires: each tick clears the active codes and raises a new one.
    monkeypatch.setattr("gateway.sim.fleet._chance", lambda *args: True)
    ids = ["FL-0001", "CO0681"]
    stats = await run_simulation(store, ids, 0, rate=100, duration=None, stop=asyncio.Event(), max_ticks=3)
    assert stats.dtcs_raised == 6 and stats.dtcs_cleared == 4
    for truck_id in ids:
        events = await store.dtc_events(truck_id, None, None, None, 10)
        assert sorted(e["status"] for e in events) == ["active", "cleared", "cleared"]
        assert (await store.fetch_sensor_row(truck_id))["active_dtc_count"] == 1


async def test_simulation_survives_a_database_outage(store, caplog):
    flaky = FlakyStore(store, failures=2)
    stats = await run_simulation(flaky, ["FL-0001"], 1, rate=100, duration=None, stop=asyncio.Event(), max_ticks=4,
                                 history_interval=0)
    assert stats.ticks == 4 and stats.failed_ticks == 2
    assert "database unavailable" in caplog.text
    # History of the ticks the outage hit is written once the database is back.
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
    assert await history_count(store, "FL-0001", since) == 4


async def test_simulation_stops_on_event_and_duration(store):
    stop = asyncio.Event()
    stop.set()
    stats = await run_simulation(store, None, 2, rate=10, duration=None, stop=stop)
    assert stats.ticks == 0
    stats = await run_simulation(store, None, 2, rate=100, duration=0.05, stop=asyncio.Event())
    assert 1 <= stats.ticks <= 10
    assert len(await truck_ids(store)) == 2


async def test_the_example_truck_has_an_active_critical_dtc_and_a_refuel(store):
    await seed_sample_fleet(store, 3, now=NOW, history_hours=2)
    example = Fleet.make_ids(1)[0]
    critical = await store.dtc_events(example, ["active"], ["critical"], None, 10)
    assert critical and (await store.fetch_sensor_row(example))["active_dtc_count"] >= 1
    assert await store.refuel_events(example, NOW - DAY, NOW + dt.timedelta(seconds=1), 10)
