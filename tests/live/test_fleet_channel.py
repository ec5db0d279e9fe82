"""The fleet and alerts channels driven in memory: one subscription for the whole fleet."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from gateway.config import Settings
from gateway.core import protocol
from gateway.core.protocol import ResumePoint, Subscribe, Unsubscribe
from gateway.core.wsframe import text_frame
from gateway.live.fleet import FleetFanout
from gateway.live.hub import Hub
from gateway.server.auth import Grant
from tests.support.memorystore import MemoryStore
from tests.support.recording import RecordingConnection

SETTINGS = Settings(poll_interval=0.05, linger=30, ring_size=8, max_subscriptions=10, fleet_refresh=0.1,
                    alerts_poll=0.1)
TRUCKS = [f"T{i:03d}" for i in range(50)]


def fresh(**values) -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
    return {"timestamp": now, "speed_mph": 50.0, "fuel_level_pct": 60.0, **values}


@pytest.fixture
async def fleet():
    store = MemoryStore({t: {"truck_id": t, **fresh()} for t in TRUCKS})
    hubs: list[Hub] = []

    def make(**overrides) -> Hub:
        hub = Hub(store, dataclasses.replace(SETTINGS, **overrides))
        hubs.append(hub)
        return hub

    yield store, make
    for hub in hubs:
        await hub.close()


async def subscribe(hub: Hub, *channels: str, grant: Grant | None = None, resume=None) -> RecordingConnection:
    conn = RecordingConnection(grant) if grant else RecordingConnection()
    hub.attach(conn)
    await hub.subscribe(conn, Subscribe(id=1, channels=channels, resume=resume or {}))
    return conn


def trucks_in(frames: list[dict], kind: str) -> list[str]:
    return [f["channel"].removeprefix("truck:") for f in frames if f["type"] == kind]


async def test_one_subscription_brings_every_truck_in_one_write_then_diffs(fleet):
    store, make = fleet
    hub = make()
    conn = await subscribe(hub, "fleet")
    frames = conn.frames
    assert frames[0] == {"type": "ack", "id": 1, "op": "subscribe", "ok": ["fleet"], "errors": []}
    assert sorted(trucks_in(frames, "snapshot")) == TRUCKS  # 50 trucks, with at most 10 subscriptions
    assert frames[-1]["type"] == "position" and conn.writes == 2  # the ack, then every snapshot in one write
    assert hub.subscription_count == 1
    for truck in ("T001", "T002", "T003"):
        store.put(truck, speed_mph=70.0)
    frames = await conn.wait_for(lambda fs: sorted(trucks_in(fs, "diff")) == ["T001", "T002", "T003"])
    assert all(f["changed"] == {"speed_mph": 70.0} for f in frames if f["type"] == "diff")
    # Frames that fall in one tick share a write: never more writes than position frames.
    assert conn.writes - 1 == len([f for f in frames if f["type"] == "position"])


async def test_a_grant_for_three_trucks_gets_exactly_those(fleet):
    _, make = fleet
    hub = make()
    conn = await subscribe(hub, "fleet", grant=Grant("ops", frozenset({"T001", "T007", "T042"}), float("inf")))
    assert sorted(trucks_in(conn.frames, "snapshot")) == ["T001", "T007", "T042"]
    assert set(hub.watches) == {"T001", "T007", "T042"}  # no other truck is read for it


async def test_a_truck_that_appears_later_arrives_with_its_snapshot(fleet):
    store, make = fleet
    hub = make()
    conn = await subscribe(hub, "fleet")
    store.put("NEW-1", **fresh())
    frames = await conn.wait_for(lambda fs: "NEW-1" in trucks_in(fs, "snapshot"))
    first = next(f for f in frames if f.get("channel") == "truck:NEW-1")
    assert first["type"] == "snapshot" and first["seq"] == 0


async def test_unsubscribe_stops_every_truck_not_held_by_name(fleet):
    store, make = fleet
    hub = make(linger=0.05, fleet_linger=0)
    conn = await subscribe(hub, "fleet", "truck:T005")
    hub.unsubscribe(conn, Unsubscribe(id=2, channels=("fleet",)))
    count = len(conn.frames)
    store.put("T006", speed_mph=1.0)
    store.put("T005", speed_mph=2.0)
    frames = await conn.wait_for(lambda fs: any(f.get("channel") == "truck:T005" and f["type"] == "diff"
                                                for f in fs[count:]))
    assert not any(f.get("channel") == "truck:T006" for f in frames[count:])
    async with asyncio.timeout(5):
        while set(hub.watches) != {"T005"}:  # the others linger, then stop
            await asyncio.sleep(0.02)


async def test_a_truck_held_by_name_and_by_the_fleet_comes_once(fleet):
    store, make = fleet
    hub = make()
    conn = await subscribe(hub, "truck:T009", "fleet")
    assert trucks_in(conn.frames, "snapshot").count("T009") == 1
    store.put("T009", speed_mph=99.0)
    await conn.wait_for(lambda fs: "T009" in trucks_in(fs, "diff"))
    store.put("T010", speed_mph=99.0)
    frames = await conn.wait_for(lambda fs: "T010" in trucks_in(fs, "diff"))
    assert trucks_in(frames, "diff").count("T009") == 1


async def test_resume_after_a_short_break_sends_only_what_changed(fleet):
    store, make = fleet
    hub = make()
    first = await subscribe(hub, "fleet")
    position = [f for f in first.frames if f["type"] == "position"][-1]
    hub.detach(first)  # the dashboard's socket dropped
    store.put("T020", speed_mph=11.0)
    store.put("T021", speed_mph=12.0)
    await store.wait_reads("sensor_rows", store.queries["sensor_rows"] + 40)  # a few ticks pass
    again = await subscribe(hub, "fleet", resume={"fleet": ResumePoint(position["epoch"], position["seq"])})
    data = [f for f in again.frames if f["type"] in ("snapshot", "diff")]
    assert sorted(trucks_in(data, "diff")) == ["T020", "T021"] and not trucks_in(data, "snapshot")
    # A position the log no longer knows falls back to every snapshot.
    stale = await subscribe(hub, "fleet", resume={"fleet": ResumePoint("nope", 1)})
    assert sorted(trucks_in(stale.frames, "snapshot")) == TRUCKS


async def test_fleet_counts_as_one_subscription_against_the_limit(fleet):
    _, make = fleet
    hub = make(max_subscriptions=2)
    conn = await subscribe(hub, "fleet", "alerts", "truck:T001")
    ack = conn.frames[0]
    assert ack["ok"] == ["fleet", "alerts"]
    assert [e["code"] for e in ack["errors"]] == ["too_many_subscriptions"]


async def test_alerts_fuel_low_and_dtc_raised_filtered_by_grant(fleet):
    store, make = fleet
    hub = make()
    everyone = await subscribe(hub, "alerts")
    only_t2 = await subscribe(hub, "alerts", grant=Grant("ops", frozenset({"T002"}), float("inf")))
    await store.wait_reads("alerts", 3)  # primed: existing rows are not news
    store.put("T001", fuel_level_pct=9.0)
    store.dtcs.append({"id": 1, "truck_id": "T002", "dtc_code": "P0524", "spn": 100, "fmi": 1, "severity": "critical",
                       "status": "active", "description": "Engine oil pressure too low",
                       "timestamp_utc": fresh()["timestamp"], "cleared_at": None})
    events = await everyone.wait_for(lambda fs: {f.get("kind") for f in fs} >= {"fuel_low", "dtc_raised"})
    kinds = {(f["kind"], f["truck_id"]) for f in events if f["type"] == "event"}
    assert {("fuel_low", "T001"), ("dtc_raised", "T002")} <= kinds
    mine = await only_t2.wait_for(lambda fs: any(f.get("kind") == "dtc_raised" for f in fs))
    assert {f["truck_id"] for f in mine if f["type"] == "event"} == {"T002"}
    seqs = [f["seq"] for f in events if f["type"] == "event"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # one seq per event


def test_a_subscriber_joining_before_the_turns_write_gets_no_frame_twice():
    counted: list[tuple[int, int]] = []
    fanout = FleetFanout(100, lambda frames, writes: counted.append((frames, writes)))
    early, late = RecordingConnection(), RecordingConnection()
    fanout.subscribers.add(early)
    started = text_frame(protocol.snapshot("truck:T1", "e1", 0, 1, {"speed_mph": 1.0}))
    fanout.log.append("T1", started)  # what send() does at once; the write waits for the turn's end
    fanout._pending.append(("T1", started))
    # A dashboard joins in the same turn: its start is the truck's current snapshot.
    fanout.subscribers.add(late)
    fanout.initial(late, [("T1", started)])
    later = text_frame(protocol.diff_frame("truck:T1", "e1", 1, 2, {"speed_mph": 2.0}, ()))
    fanout.log.append("T1", later)
    fanout._pending.append(("T1", later))
    fanout._flush()
    assert [f["type"] for f in early.frames] == ["snapshot", "diff", "position"]
    assert [f["type"] for f in late.frames] == ["snapshot", "position", "diff", "position"]
