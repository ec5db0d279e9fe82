"""Publish, relay, history and latest on both backends."""

from __future__ import annotations

import orjson
import pytest

from gateway.core import protocol


def row(speed: int) -> dict:
    return {"truck_id": "T1", "speed_mph": speed, "rpm": 1000 + speed}


def diff_of(epoch: str, seq: int, speed: int) -> tuple[int, bytes, bytes]:
    """(ts, diff frame, new row JSON) of diff ``seq`` setting ``speed``."""
    ts = 10_000 + seq
    frame = protocol.diff_frame("truck:T1", epoch, seq, ts, {"speed_mph": speed, "rpm": 1000 + speed}, [])
    return ts, frame, orjson.dumps(row(speed))


async def reader(cluster, truck: str = "T1", **options):
    """A node holding the truck's lease: (broker, token, its recorder)."""
    broker, recorder = await cluster.node("reader", **options)
    return broker, (await broker.acquire([truck], 30_000))[truck], recorder


async def publish_epoch(broker, token: int, epoch: str, diffs: int, ts: int = 5_000) -> list[bytes]:
    """A snapshot then ``diffs`` diffs; returns the diff frames in order."""
    assert await broker.publish_snapshot("T1", token, epoch, ts, orjson.dumps(row(0)))
    frames = []
    for seq in range(1, diffs + 1):
        ts_seq, frame, row_json = diff_of(epoch, seq, seq)
        assert await broker.publish_diff("T1", token, epoch, seq, ts_seq, frame, row_json)
        frames.append(frame)
    return frames


async def test_subscribers_get_exactly_the_published_frames_in_order(cluster):
    a, token, seen_a = await reader(cluster)  # the reader relays to its own sockets too
    b, seen_b = await cluster.node("node-b")
    c, seen_c = await cluster.node("node-c")  # never subscribes
    await a.subscribe("T1")
    await b.subscribe("T1", "T2")

    frames = await publish_epoch(a, token, "e1", 20)
    status = protocol.status("truck:T1", "stale", "no report for 90 s")
    assert await a.publish_status("T1", token, "e1", status)

    expected = [("T1", "snapshot", "e1", 0, protocol.snapshot("truck:T1", "e1", 0, 5_000, row(0)))]
    expected += [("T1", "diff", "e1", seq, frame) for seq, frame in enumerate(frames, start=1)]
    expected += [("T1", "status", "e1", 20, status)]
    assert [tuple(m) for m in await seen_b.wait_count(len(expected))] == expected
    assert [tuple(m) for m in await seen_a.wait_count(len(expected))] == expected
    assert seen_c.messages == []
    assert (a.published, b.received, c.received) == (22, 22, 0)


async def test_unsubscribed_node_stops_receiving(cluster):
    a, token, _ = await reader(cluster)
    b, seen_b = await cluster.node("node-b")
    d, seen_d = await cluster.node("node-d")
    await b.subscribe("T1")
    await d.subscribe("T1")
    await publish_epoch(a, token, "e1", 1)
    await seen_b.wait_count(2)

    await b.unsubscribe("T1")
    ts, frame, row_json = diff_of("e1", 2, 2)
    assert await a.publish_diff("T1", token, "e1", 2, ts, frame, row_json)

    # d still subscribed gets diff 2; b, in the same order of delivery, must not.
    await seen_d.wait_count(3)
    assert len(seen_b.messages) == 2


async def test_history_returns_the_tail_after_a_seq(cluster):
    a, token, _ = await reader(cluster)
    frames = await publish_epoch(a, token, "e1", 10)
    everything = list(enumerate(frames, start=1))

    assert await a.history("T1", "e1", 0) == everything
    assert await a.history("T1", "e1", 7) == everything[7:]
    assert await a.history("T1", "e1", 10) == []
    assert await a.history("T1", "e1", 11) is None  # ahead of the stream
    assert await a.history("T1", "other", 3) is None
    assert await a.history("T9", "e1", 0) is None


async def test_history_that_no_longer_reaches_back_is_none(cluster):
    a, token, _ = await reader(cluster, ring_size=4)
    frames = await publish_epoch(a, token, "e1", 10)

    assert await a.history("T1", "e1", 6) == list(enumerate(frames, start=1))[6:]
    assert await a.history("T1", "e1", 5) is None  # diff 6 was trimmed from the ring
    assert (a.gap_fills, a.resyncs) == (1, 1)


async def test_history_across_an_epoch_change_is_none(cluster):
    a, token, _ = await reader(cluster)
    await publish_epoch(a, token, "e1", 3)
    assert await a.publish_snapshot("T1", token, "e2", 9_000, orjson.dumps(row(50)))

    assert await a.history("T1", "e1", 3) is None
    assert await a.history("T1", "e1", 0) is None
    assert await a.history("T1", "e2", 0) == []


async def test_latest_reflects_the_last_publish(cluster):
    a, token, _ = await reader(cluster)
    b, _ = await cluster.node("node-b")
    assert await b.latest("T1") is None

    assert await a.publish_snapshot("T1", token, "e1", 5_000, orjson.dumps(row(0)))
    state = await b.latest("T1")
    assert (state.epoch, state.seq, state.ts, state.row, state.status) == ("e1", 0, 5_000, row(0), None)

    await publish_epoch_diffs(a, token, "e1", 3)
    status = protocol.status("truck:T1", "degraded", "database unreachable")
    assert await a.publish_status("T1", token, "e1", status)
    state = await b.latest("T1")
    assert (state.epoch, state.seq, state.ts, state.row, state.status) == ("e1", 3, 10_003, row(3), status)

    # A new epoch starts over: seq 0, the new row, no status carried over.
    assert await a.publish_snapshot("T1", token, "e2", 20_000, orjson.dumps(row(9)))
    state = await b.latest("T1")
    assert (state.epoch, state.seq, state.ts, state.row, state.status) == ("e2", 0, 20_000, row(9), None)


async def publish_epoch_diffs(broker, token: int, epoch: str, diffs: int) -> None:
    for seq in range(1, diffs + 1):
        ts, frame, row_json = diff_of(epoch, seq, seq)
        assert await broker.publish_diff("T1", token, epoch, seq, ts, frame, row_json)


async def test_out_of_sequence_publishes_are_refused_and_change_nothing(cluster):
    a, token, _ = await reader(cluster)
    ts, frame, row_json = diff_of("e1", 1, 1)
    assert not await a.publish_diff("T1", token, "e1", 1, ts, frame, row_json)  # no snapshot yet
    assert not await a.publish_status("T1", token, "e1", protocol.status("truck:T1", "live", ""))
    assert await a.latest("T1") is None

    await publish_epoch(a, token, "e1", 2)
    before = await a.latest("T1")
    ts, frame, row_json = diff_of("e1", 4, 4)
    assert not await a.publish_diff("T1", token, "e1", 4, ts, frame, row_json)  # seq 3 skipped
    assert not await a.publish_diff("T1", token, "e1", 2, ts, frame, row_json)  # seq 2 again
    assert not await a.publish_diff("T1", token, "e0", 3, ts, frame, row_json)  # another epoch
    assert not await a.publish_status("T1", token, "e0", protocol.status("truck:T1", "live", ""))
    assert not await a.publish_snapshot("T1", token, "e1", 7, orjson.dumps(row(7)))  # epochs are never reused
    assert await a.latest("T1") == before
    assert len(await a.history("T1", "e1", 0)) == 2


async def test_an_epoch_that_cannot_be_framed_is_rejected(cluster):
    a, token, _ = await reader(cluster)
    with pytest.raises(ValueError):
        await a.publish_snapshot("T1", token, "bad|epoch", 1, b"{}")
    with pytest.raises(ValueError):
        await a.publish_snapshot("T1", token, "", 1, b"{}")


async def test_keys_of_a_truck_are_the_documented_ones(cluster):
    a, token, _ = await reader(cluster)
    await publish_epoch(a, token, "e1", 1)
    await a.refresh_interest(["T1"], 10_000)
    p = cluster.prefix
    per_truck = [f"{p}:{kind}:T1" for kind in ("lease", "fence", "state", "hist", "interest")]
    assert cluster.keys() == sorted([*per_truck, f"{p}:watched"])
