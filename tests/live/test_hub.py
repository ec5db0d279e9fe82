"""The hub and pollers driven in memory: no database, no sockets.

These are the fast tests of the live path (subscribe, fan-out, statuses, resume, linger);
the same behaviour is checked end to end over real sockets and MariaDB in tests/server.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gateway.config import Settings
from gateway.core.diff import Diff, apply
from gateway.core.protocol import ResumePoint, Subscribe, Unsubscribe
from gateway.live.hub import Hub
from gateway.server.auth import Grant
from tests.support.memorystore import MemoryStore
from tests.support.recording import RecordingConnection, payload_of

SETTINGS = Settings(poll_interval=0.05, linger=0.05, ring_size=8)


def fresh(**values) -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
    return {"timestamp": now, "speed_mph": 50.0, "rpm": 1200, **values}


@pytest.fixture
async def hub_and_store():
    store = MemoryStore({"T1": {"truck_id": "T1", **fresh()}, "T2": {"truck_id": "T2", **fresh()}})
    hub = Hub(store, SETTINGS)
    yield hub, store
    await hub.close()


def data_of(frames: list[dict], channel: str) -> list[dict]:
    return [f for f in frames if f.get("channel") == channel and f["type"] in ("snapshot", "diff")]


def replayed_row(frames: list[dict]) -> dict:
    row: dict = {}
    for f in frames:
        row = dict(f["data"]) if f["type"] == "snapshot" else apply(row, Diff(f["changed"], f["removed"]))
    return row


async def test_ack_then_snapshot_then_one_identical_diff_per_change_for_every_subscriber(hub_and_store):
    hub, store = hub_and_store
    a, b = RecordingConnection(), RecordingConnection()
    for conn in (a, b):
        hub.attach(conn)
        await hub.subscribe(conn, Subscribe(id=1, channels=("truck:T1",), resume={}))
    assert len(hub.watches) == 1  # one poller, however many watch
    assert [f["type"] for f in a.frames] == ["ack", "snapshot"]
    store.put("T1", speed_mph=61.5)
    for conn in (a, b):
        await conn.wait_for(lambda fs: len(data_of(fs, "truck:T1")) == 2)
    assert a.raw[-1] == b.raw[-1]  # the same bytes, encoded once
    diff = a.frames[-1]
    assert (diff["type"], diff["seq"], diff["changed"]) == ("diff", 1, {"speed_mph": 61.5})
    assert replayed_row(data_of(a.frames, "truck:T1")) == store.rows["T1"]


async def test_unknown_truck_is_an_ack_error_and_leaves_no_poller(hub_and_store):
    hub, _ = hub_and_store
    conn = RecordingConnection()
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=4, channels=("truck:NOPE", "truck:T1"), resume={}))
    ack = conn.of_type("ack")[0]
    assert ack["ok"] == ["truck:T1"]
    assert [e["code"] for e in ack["errors"]] == ["unknown_truck"]
    assert set(hub.watches) == {"T1"}


async def test_forbidden_trucks_start_no_poller(hub_and_store):
    hub, store = hub_and_store
    conn = RecordingConnection(Grant("ops", frozenset({"T2"}), float("inf")))
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=1, channels=("truck:T1",), resume={}))
    assert conn.of_type("ack")[0]["errors"][0]["code"] == "forbidden"
    assert hub.watches == {} and store.queries["sensor_rows"] == 0


async def test_outage_degrades_and_recovery_sends_live_then_what_changed(hub_and_store):
    hub, store = hub_and_store
    conn = RecordingConnection()
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=1, channels=("truck:T1",), resume={}))
    store.down = True
    await conn.wait_for(lambda fs: any(f["type"] == "status" for f in fs))
    assert conn.of_type("status")[-1]["state"] == "degraded"
    store.put("T1", rpm=1800)
    store.down = False
    frames = await conn.wait_for(lambda fs: len(data_of(fs, "truck:T1")) == 2)
    statuses = [f for f in frames if f["type"] == "status"]
    assert statuses[-1]["state"] == "live"
    assert frames.index(statuses[-1]) < frames.index(data_of(frames, "truck:T1")[-1])
    assert data_of(frames, "truck:T1")[-1]["changed"] == {"rpm": 1800}


async def test_stale_row_gets_a_stale_status_and_fresh_reading_makes_it_live(hub_and_store):
    hub, store = hub_and_store
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None).isoformat() + "Z"
    store.put("T2", timestamp=old)
    conn = RecordingConnection()
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=1, channels=("truck:T2",), resume={}))
    assert [f["type"] for f in conn.frames] == ["ack", "snapshot", "status"]
    assert conn.frames[-1]["state"] == "stale"
    store.put("T2", **fresh())
    frames = await conn.wait_for(lambda fs: fs[-1]["type"] == "status" and fs[-1]["state"] == "live")
    assert [(f["state"], f["reason"]) for f in frames if f["type"] == "status"] == [
        ("stale", "no reading for 3600 s"), ("live", "reporting again")]


async def test_resume_within_the_ring_replays_only_the_missed_diffs(hub_and_store):
    hub, store = hub_and_store
    first = RecordingConnection()
    hub.attach(first)
    await hub.subscribe(first, Subscribe(id=1, channels=("truck:T1",), resume={}))
    snapshot = first.of_type("snapshot")[0]
    for speed in (10.0, 20.0, 30.0):
        store.put("T1", speed_mph=speed)
        await first.wait_for(lambda fs, s=speed: fs[-1].get("changed") == {"speed_mph": s})
    later = RecordingConnection()
    hub.attach(later)
    point = ResumePoint(snapshot["epoch"], 1)
    await hub.subscribe(later, Subscribe(id=2, channels=("truck:T1",), resume={"truck:T1": point}))
    assert [(f["type"], f.get("seq")) for f in later.frames] == [("ack", None), ("diff", 2), ("diff", 3)]


async def test_the_poller_stops_a_linger_after_its_last_subscriber(hub_and_store):
    hub, _ = hub_and_store
    conn = RecordingConnection()
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=1, channels=("truck:T1",), resume={}))
    poller = hub.watches["T1"].poller
    hub.unsubscribe(conn, Unsubscribe(id=2, channels=("truck:T1",)))
    await asyncio.wait([poller.task], timeout=5)  # ended by the linger timer, not by the test
    assert poller.task.cancelled()
    assert hub.watches == {}


async def test_a_resync_snapshot_carries_the_status_of_a_truck_that_is_not_live(hub_and_store):
    hub, store = hub_and_store
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None).isoformat() + "Z"
    store.put("T2", timestamp=old)
    conn = RecordingConnection()
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=1, channels=("truck:T1", "truck:T2"), resume={}))
    stale = hub.snapshot_of("T2")
    snapshot = hub.watches["T2"].poller.stream.snapshot_frame()
    assert stale.startswith(snapshot) and payload_of(stale[len(snapshot):])["state"] == "stale"
    assert hub.snapshot_of("T1") == hub.watches["T1"].poller.stream.snapshot_frame()  # live: the snapshot alone
