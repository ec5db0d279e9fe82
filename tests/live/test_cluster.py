"""Cluster mode driven in memory: several hubs (nodes) on one in-memory broker and one store.

The same rules are checked against Redis with real processes in tests/cluster; these
are the fast checks of the live path's cluster logic: one reader, identical frames,
takeover, fallback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import uuid

import pytest

from gateway.broker import open_broker
from gateway.config import Settings
from gateway.core.protocol import ResumePoint, Subscribe
from gateway.live.hub import Hub
from tests.support.memorystore import MemoryStore
from tests.support.recording import RecordingConnection

SETTINGS = Settings(poll_interval=0.05, linger=0.05, ring_size=8, lease_ttl=0.6)


def fresh(**values) -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
    return {"timestamp": now, "speed_mph": 50.0, **values}


@pytest.fixture
async def nodes():
    store = MemoryStore({"T1": {"truck_id": "T1", **fresh()}, "T2": {"truck_id": "T2", **fresh()}})
    space = f"memory://{uuid.uuid4().hex}"
    hubs: list[Hub] = []

    async def start(n: int = 1, **overrides) -> list[Hub]:
        for _ in range(n):
            hub = Hub(store, dataclasses.replace(SETTINGS, **overrides), broker=open_broker(space, "t"))
            await hub.start()
            hubs.append(hub)
        return hubs[-n:]

    yield store, start
    for hub in hubs:
        await hub.close()


async def watch(hub: Hub, *channels: str, resume=None) -> RecordingConnection:
    conn = RecordingConnection()
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=1, channels=channels, resume=resume or {}))
    return conn


def data(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] in ("snapshot", "diff")]


async def test_one_reader_for_the_cluster_and_the_same_frames_on_every_node(nodes):
    store, start = nodes
    hubs = await start(3)
    conns = [await watch(hub, "truck:T1") for hub in hubs]
    for conn in conns:
        assert [f["type"] for f in conn.frames] == ["ack", "snapshot"]
    assert len({c.frames[1]["epoch"] for c in conns}) == 1  # one epoch: one reader
    assert sum(len(h.cluster.readers) for h in hubs) == 1
    store.reads.clear()
    for speed in (60.0, 61.0, 62.0):
        store.put("T1", speed_mph=speed)
        for conn in conns:
            await conn.wait_for(lambda fs, s=speed: data(fs)[-1].get("changed") == {"speed_mph": s})
    raws = [[r for r, f in zip(c.raw, c.frames, strict=True) if f["type"] == "diff"] for c in conns]
    assert raws[0] == raws[1] == raws[2] and [d["seq"] for d in data(conns[0].frames)[1:]] == [1, 2, 3]
    # Three nodes watching, one reading: T1 is read once per tick. Three pollers would share
    # its tick slot and read it three times within a few milliseconds.
    times = [at for at, ids in store.reads if "T1" in ids]
    assert len(times) >= 3
    assert min(b - a for a, b in itertools.pairwise(times)) > SETTINGS.poll_interval / 2


async def test_resume_on_another_node_replays_from_the_cluster(nodes):
    store, start = nodes
    a, b = await start(2)
    first = await watch(a, "truck:T1")
    snapshot = first.frames[1]
    for speed in (10.0, 20.0, 30.0):
        store.put("T1", speed_mph=speed)
        await first.wait_for(lambda fs, s=speed: data(fs)[-1].get("changed") == {"speed_mph": s})
    later = await watch(b, "truck:T1", resume={"truck:T1": ResumePoint(snapshot["epoch"], 1)})
    assert [(f["type"], f.get("seq")) for f in later.frames] == [("ack", None), ("diff", 2), ("diff", 3)]


async def test_a_dead_readers_truck_is_taken_over_with_a_new_epoch(nodes):
    store, start = nodes
    a, b = await start(2)
    conn_a = await watch(a, "truck:T1")
    conn_b = await watch(b, "truck:T1")
    holder, other, conn = (a, b, conn_b) if a.cluster.readers else (b, a, conn_a)
    epoch = conn.frames[1]["epoch"]
    # The holder stops dead: no release, no more renewals (its lease runs out by itself).
    holder.cluster._task.cancel()
    for reader in holder.cluster.readers.values():
        reader.poller.task.cancel()
    holder.cluster.readers.clear()
    frames = await conn.wait_for(lambda fs: any(f["type"] == "snapshot" and f["epoch"] != epoch for f in fs),
                                 timeout=4 * SETTINGS.lease_ttl)
    assert other.cluster.readers and not conn.closed
    store.put("T1", speed_mph=77.0)
    await conn.wait_for(lambda fs: data(fs)[-1].get("changed") == {"speed_mph": 77.0})
    assert frames[-1]["epoch"] != epoch


async def test_an_unknown_truck_is_refused_on_every_node(nodes):
    _, start = nodes
    a, b = await start(2)
    for hub in (a, b):
        conn = await watch(hub, "truck:NOPE")
        assert [e["code"] for e in conn.frames[0]["errors"]] == ["unknown_truck"]
        assert hub.watches == {}


async def test_the_fleet_channel_on_every_node_with_one_reader(nodes):
    store, start = nodes
    a, b = await start(2, fleet_refresh=0.1)
    conns = [await watch(hub, "fleet") for hub in (a, b)]
    for conn in conns:
        assert sorted(f["channel"] for f in conn.frames if f["type"] == "snapshot") == ["truck:T1", "truck:T2"]
    assert sum(len(h.cluster.readers) for h in (a, b)) == 2  # each truck read once, cluster-wide
    store.put("T3", **fresh())  # a truck that appears later reaches both
    for conn in conns:
        await conn.wait_for(lambda fs: any(f.get("channel") == "truck:T3" and f["type"] == "snapshot" for f in fs))
    store.put("T2", speed_mph=12.5)
    diffs = []
    for conn in conns:
        frames = await conn.wait_for(lambda fs: any(f.get("changed") == {"speed_mph": 12.5} for f in fs))
        diffs.append(next((f["epoch"], f["seq"]) for f in frames if f.get("changed") == {"speed_mph": 12.5}))
    assert diffs[0] == diffs[1]


async def test_one_node_derives_the_alerts_and_every_node_sends_the_same_events(nodes):
    store, start = nodes
    for truck in ("T1", "T2"):
        store.put(truck, fuel_level_pct=60.0)
    a, b = await start(2, fleet_refresh=0.1, alerts_poll=0.1)
    conns = [await watch(hub, "alerts") for hub in (a, b)]
    async with asyncio.timeout(5):
        while sorted(h.feeds.alerts.deriving for h in (a, b)) != [False, True] or not all(
                h.cluster.alerts_followed for h in (a, b)):
            await asyncio.sleep(0.02)
    deriver = next(h for h in (a, b) if h.feeds.alerts.deriving)
    async with asyncio.timeout(5):  # its baseline: the event tables primed
        while store.queries["alerts"] < 3:
            await asyncio.sleep(0.02)
    store.dtcs.append({"id": 7, "truck_id": "T1", "dtc_code": "P0217", "spn": 110, "fmi": 0, "severity": "high",
                       "status": "active", "description": "coolant", "timestamp_utc": fresh()["timestamp"],
                       "cleared_at": None})
    store.put("T2", fuel_level_pct=3.0)
    got = []
    for conn in conns:
        frames = await conn.wait_for(lambda fs: {f.get("kind") for f in fs} >= {"dtc_raised", "fuel_low"})
        got.append(sorted((f["kind"], f["epoch"], f["seq"]) for f in frames if f["type"] == "event"))
    assert got[0] == got[1] and len(got[0]) == 2  # each event once, the same epoch and seq on both nodes
    assert deriver.cluster.alerts_token is not None
