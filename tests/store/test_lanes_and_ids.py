"""Store hardening on both backends: exact truck ids, a missing schema told apart, and (MySQL)
capacity for the live path that REST and writes can never take."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gateway.store import StoreBusy, StoreSchemaMissing, StoreUnavailable, open_store
from tests.conftest import admin_connection

NOW = dt.datetime(2026, 11, 22, 10, 0, 0)


async def test_truck_ids_are_exact_whatever_the_collation(store):
    await store.upsert_sensor_rows([{"truck_id": "AZ0084", "timestamp": NOW, "updated_at": NOW}])
    assert (await store.fetch_sensor_row("AZ0084"))["truck_id"] == "AZ0084"
    # MariaDB's default collation matches 'az0084' to 'AZ0084'; the store does not.
    assert await store.fetch_sensor_row("az0084") is None
    assert await store.fetch_sensor_rows(["az0084", "AZ0084"]) == {"AZ0084": await store.fetch_sensor_row("AZ0084")}
    assert not await store.truck_exists("az0084") and await store.truck_exists("AZ0084")
    assert await store.list_trucks(None, 10, ["az0084"]) == []
    assert [t["truck_id"] for t in await store.list_trucks(None, 10, ["az0084", "AZ0084"])] == ["AZ0084"]


@pytest.fixture(params=["sqlite", "mysql"])
async def bare_store(request):
    """A store on a database that has none of the gateway's tables."""
    url = request.getfixturevalue("mysql_url" if request.param == "mysql" else "sqlite_url")
    st = open_store(url, pool_min=1, pool_max=3, query_timeout=5.0)
    await st.open()
    yield st
    await st.close()


async def test_missing_tables_are_their_own_error_on_both_backends(bare_store):
    for call in (bare_store.stats(), bare_store.fetch_sensor_row("FL-1"), bare_store.fetch_sensor_rows(["FL-1"]),
                 bare_store.list_trucks(None, 10)):
        with pytest.raises(StoreSchemaMissing):
            await call
    assert issubclass(StoreSchemaMissing, StoreUnavailable)  # a poller that only knows "down" still backs off
    await bare_store.create_schema()
    assert (await bare_store.stats())["store"] == bare_store.kind


async def test_shared_lane_cannot_take_the_live_reserve(mysql_url, mysql_db):
    store = open_store(mysql_url, pool_min=0, pool_max=2, pool_live_reserve=1, query_timeout=0.5)
    await store.create_schema()
    await store.upsert_sensor_rows([{"truck_id": "FL-1", "timestamp": NOW, "updated_at": NOW}])
    lock = admin_connection(mysql_db)
    with lock.cursor() as cur:
        cur.execute("LOCK TABLES fuel_metrics WRITE")  # every history query now hangs until its timeout
    try:
        hung = [asyncio.create_task(store.history("FL-1", NOW, NOW, None, 10)) for _ in range(3)]
        await asyncio.sleep(0)
        # One shared permit: the three queue for it, and the live read walks past them all.
        assert await store.fetch_sensor_rows(["FL-1"]) != {}
        assert not any(t.done() for t in hung)
        results = await asyncio.gather(*hung, return_exceptions=True)
    finally:
        with lock.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        lock.close()
    kinds = sorted(type(r).__name__ for r in results)
    # Each holds the permit until its timeout, so the last in line cannot get it in time:
    # that one waited for a connection (busy), the others did reach the database (timed out).
    assert kinds.count("StoreBusy") >= 1 and kinds.count("StoreUnavailable") >= 1, kinds
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert store.busy == kinds.count("StoreBusy")
    stats = await store.stats()
    assert stats["pool_live_reserve"] == 1 and stats["shared_in_use"] == 0
    await store.close()


async def test_busy_is_not_raised_on_the_live_lane(mysql_url):
    assert issubclass(StoreBusy, StoreUnavailable)
    store = open_store(mysql_url, pool_min=0, pool_max=2, pool_live_reserve=1, query_timeout=1.0)
    await store.create_schema()
    reads = await asyncio.gather(*(store.fetch_sensor_rows(["X"]) for _ in range(6)))  # more than the pool holds
    assert reads == [{}] * 6 and store.busy == 0
    await store.close()
