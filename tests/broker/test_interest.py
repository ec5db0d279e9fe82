"""Interest: which trucks some node still has subscribers to, on both backends."""

from __future__ import annotations

from tests.broker.recorder import eventually


async def test_interest_from_any_node_counts_until_every_node_dropped_it(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    await a.refresh_interest(["T1", "T2"], 30_000)
    await b.refresh_interest(["T1"], 30_000)

    assert await a.interested(["T1", "T2", "T3"]) == {"T1", "T2"}
    await a.drop_interest(["T1", "T2"])
    assert await a.interested(["T1", "T2", "T3"]) == {"T1"}
    await b.drop_interest(["T1"])
    assert await b.interested(["T1", "T2", "T3"]) == set()
    assert cluster.keys() == []  # an empty interest set leaves no key behind


async def test_interest_expires_by_itself(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    await a.refresh_interest(["T1", "T2"], 100)
    await b.refresh_interest(["T2"], 30_000)

    await eventually(lambda: _not_in(b.interested(["T1"]), "T1"), "T1's interest to expire")
    # T2 is still wanted by b even though a's own entry for it expired meanwhile.
    assert await b.interested(["T1", "T2"]) == {"T2"}
    assert sorted(cluster.keys()) == [f"{cluster.prefix}:interest:T2", f"{cluster.prefix}:watched"]


async def test_refresh_extends_interest(cluster):
    a, _ = await cluster.node("node-a")
    await a.refresh_interest(["T1", "T2"], 150)
    await a.refresh_interest(["T1"], 30_000)

    await eventually(lambda: _not_in(a.interested(["T2"]), "T2"), "T2's interest to expire")
    assert await a.interested(["T1", "T2"]) == {"T1"}


async def _not_in(pending, truck: str) -> bool:
    return truck not in await pending


async def test_watched_lists_every_truck_any_node_is_interested_in_in_one_round_trip(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    await a.refresh_interest(["T1", "T2"], 30_000)
    await b.refresh_interest(["T2", "T3"], 30_000)

    trips = b.round_trips
    assert sorted(await b.watched()) == ["T1", "T2", "T3"]
    assert b.round_trips == trips + 1
    await a.drop_interest(["T1", "T2"])  # T2 is still b's
    assert sorted(await a.watched()) == ["T2", "T3"]
    await b.drop_interest(["T2", "T3"])
    assert await a.watched() == []
    assert cluster.keys() == []  # the index goes with its last truck


async def test_watched_forgets_a_truck_once_its_interest_expired(cluster):
    a, _ = await cluster.node("node-a")
    b, _ = await cluster.node("node-b")
    await a.refresh_interest(["T1"], 100)
    await b.refresh_interest(["T1"], 50)  # a shorter interest does not shorten T1's entry
    await b.refresh_interest(["T2"], 30_000)

    assert sorted(await b.watched()) == ["T1", "T2"]
    await eventually(lambda: _not_in(b.watched(), "T1"), "T1 to leave the watched index")
    assert await b.watched() == ["T2"]
