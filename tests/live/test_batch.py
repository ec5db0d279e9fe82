"""Pollers' reads coalesce into few queries (against the real MariaDB)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gateway.live import batch
from gateway.live.batch import RowBatcher
from gateway.store import StoreUnavailable, open_store
from gateway.store.url import parse_db_url

T0 = dt.datetime(2026, 11, 22)


@pytest.fixture
async def mysql_store(mysql_url):
    store = open_store(mysql_url, pool_min=1, pool_max=4)
    await store.create_schema()
    await store.upsert_sensor_rows([{"truck_id": f"B{i:04d}", "timestamp": T0, "updated_at": T0, "rpm": i}
                                    for i in range(600)])
    yield store
    await store.close()


async def test_concurrent_reads_share_one_query(mysql_store):
    observed: list[float] = []
    batcher = RowBatcher(mysql_store, observed.append)
    before = mysql_store.queries["sensor_rows"]
    ids = [f"B{i:04d}" for i in range(0, 200, 2)] + ["NOPE-1"]
    rows = await asyncio.gather(*(batcher.read(t) for t in ids), batcher.read("B0000"))
    assert mysql_store.queries["sensor_rows"] - before == 1
    assert [r["rpm"] for r in rows[:100]] == list(range(0, 200, 2))
    assert rows[100] is None  # unknown truck
    assert rows[101]["rpm"] == 0  # the same truck asked twice is read once, answered twice
    assert len(observed) == 1
    await batcher.close()


async def test_big_batches_are_split(mysql_store):
    batcher = RowBatcher(mysql_store)
    before = mysql_store.queries["sensor_rows"]
    rows = await asyncio.gather(*(batcher.read(f"B{i:04d}") for i in range(600)))
    assert [r["rpm"] for r in rows] == list(range(600))
    assert mysql_store.queries["sensor_rows"] - before == -(-600 // batch.MAX_BATCH)
    await batcher.close()


async def test_an_outage_fails_every_read_of_the_batch():
    store = open_store(parse_db_url("mysql://root@127.0.0.1:1/none"), pool_min=1, pool_max=2, query_timeout=1)
    batcher = RowBatcher(store)
    results = await asyncio.gather(*(batcher.read(f"T{i}") for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    await batcher.close()
    await store.close()
