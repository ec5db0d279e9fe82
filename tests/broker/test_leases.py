"""Leases with fencing, on both backends: one reader per truck, stale holders refused."""

from __future__ import annotations

import orjson

from gateway.core import protocol
from tests.broker.recorder import eventually

ROW = orjson.dumps({"truck_id": "T1", "speed_mph": 10})


def diff_payload(truck: str, epoch: str, seq: int, speed: int) -> bytes:
    return protocol.diff_frame(f"truck:{truck}", epoch, seq, 1000 + seq, {"speed_mph": speed}, [])


async def wait_acquired(broker, truck: str, ttl_ms: int = 10_000) -> int:
    """Poll ``acquire`` until the truck's lease (held elsewhere with a short TTL) is ours."""
    got: dict[str, int] = {}

    async def take() -> bool:
        got.update(await broker.acquire([truck], ttl_ms))
        return truck in got

    await eventually(take, f"{broker.node_id} to take the lease of {truck}")
    return got[truck]


async def test_one_holder_per_truck_across_nodes(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")

    held_a = await a.acquire(["T1", "T2"], 10_000)
    held_b = await b.acquire(["T1", "T2", "T3"], 10_000)

    assert set(held_a) == {"T1", "T2"} and all(t >= 1 for t in held_a.values())
    assert set(held_b) == {"T3"}
    assert await a.holder("T1") == "node-a"
    assert await b.holder("T3") == "node-b"
    assert await a.holder("T9") is None


async def test_acquire_again_keeps_our_token(cluster):
    a, _ = await cluster.node("node-a")
    first = await a.acquire(["T1"], 10_000)
    assert await a.acquire(["T1"], 10_000) == first


async def test_renew_keeps_only_leases_still_ours(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    held = await a.acquire(["T1", "T2"], 200)

    assert await a.renew({"T1": held["T1"]}, 60_000) == {"T1"}
    # T2 was not renewed: once b can take it, T1's original 200 ms are over too.
    await wait_acquired(b, "T2")
    assert await b.acquire(["T1"], 10_000) == {}
    assert await b.holder("T1") == "node-a"
    # A wrong token or a truck never acquired is not renewed.
    assert await a.renew({"T1": held["T1"] + 1, "T9": 1}, 60_000) == set()
    assert await a.renew({"T1": held["T1"], "T2": held["T2"]}, 60_000) == {"T1"}


async def test_expired_lease_goes_to_the_other_node_with_a_higher_token(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    token_a = (await a.acquire(["T1"], 100))["T1"]

    token_b = await wait_acquired(b, "T1")

    assert token_b > token_a
    assert await a.holder("T1") == "node-b"
    assert await a.renew({"T1": token_a}, 10_000) == set()
    assert await a.acquire(["T1"], 10_000) == {}


async def test_release_deletes_only_our_own_lease(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    token_a = (await a.acquire(["T1"], 100))["T1"]
    token_b = await wait_acquired(b, "T1")

    await a.release({"T1": token_a})  # stale: must not delete b's lease
    assert await a.holder("T1") == "node-b"

    await b.release({"T1": token_b})
    assert await a.holder("T1") is None
    assert set(await a.acquire(["T1"], 10_000)) == {"T1"}


async def test_stale_holder_is_fenced_off(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    observer, seen = await cluster.node("observer")
    await observer.subscribe("T1")

    token_a = (await a.acquire(["T1"], 150))["T1"]
    assert await a.publish_snapshot("T1", token_a, "ea", 1000, ROW)
    assert await a.publish_diff("T1", token_a, "ea", 1, 1001, diff_payload("T1", "ea", 1, 11), ROW)
    await seen.wait_count(2)
    before_state = await a.latest("T1")
    before_hist = await a.history("T1", "ea", 0)

    # `a` stalls past its TTL (as if SIGSTOPped); b takes over; a wakes up and goes on.
    token_b = await wait_acquired(b, "T1")
    assert not await a.publish_diff("T1", token_a, "ea", 2, 1002, diff_payload("T1", "ea", 2, 12), ROW)
    assert not await a.publish_status("T1", token_a, "ea", protocol.status("truck:T1", "stale", "old"))
    assert not await a.publish_snapshot("T1", token_a, "ea2", 1003, ROW)
    # The new holder's token does not help a stale process either.
    assert not await a.publish_snapshot("T1", token_b, "ea3", 1003, ROW)

    assert await a.latest("T1") == before_state
    assert await a.history("T1", "ea", 0) == before_hist

    # Pub/Sub keeps order per channel: had a stale frame gone out, it would arrive first.
    assert await b.publish_snapshot("T1", token_b, "eb", 2000, ROW)
    messages = await seen.wait_count(3)
    expected = [("snapshot", "ea", 0), ("diff", "ea", 1), ("snapshot", "eb", 0)]
    assert [(m.kind, m.epoch, m.seq) for m in messages] == expected
