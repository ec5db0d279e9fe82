"""Batch calls cost one round trip whatever the number of trucks.

Counted twice on Redis: by the broker's own ``round_trips`` and, independently, on the
wire by a connection class that counts the command batches it sends.
"""

from __future__ import annotations

from redis.asyncio.connection import Connection

TRUCKS = [f"T{i:03d}" for i in range(100)]


class CountingConnection(Connection):
    """Counts every command write (a pipeline or a script call is one)."""

    sent = 0

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        # redis-py's own health-check PING is sent with check_health=False: not ours.
        if check_health:
            CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


async def test_batches_of_100_trucks_are_one_round_trip_each(cluster):
    options = {"connection_class": CountingConnection} if cluster.backend == "redis" else {}
    a, _ = await cluster.node("node-a", **options)
    b, _ = await cluster.node("node-b")

    async def cost(call) -> tuple[object, int, int]:
        trips, wire = a.round_trips, CountingConnection.sent
        result = await call
        return result, a.round_trips - trips, CountingConnection.sent - wire

    wire_counted = cluster.backend == "redis"
    steps = {}
    held, *steps["acquire"] = await cost(a.acquire(TRUCKS, 10_000))
    assert set(held) == set(TRUCKS)
    assert await b.acquire(TRUCKS, 10_000) == {}
    kept, *steps["renew"] = await cost(a.renew(held, 10_000))
    assert kept == set(TRUCKS)
    _, *steps["refresh_interest"] = await cost(a.refresh_interest(TRUCKS, 10_000))
    live, *steps["interested"] = await cost(a.interested(TRUCKS))
    assert live == set(TRUCKS)
    _, *steps["drop_interest"] = await cost(a.drop_interest(TRUCKS))
    assert await b.interested(TRUCKS) == set()
    _, *steps["release"] = await cost(a.release(held))
    assert await b.holder(TRUCKS[-1]) is None

    expected_wire = 1 if wire_counted else 0
    assert steps == {name: [1, expected_wire] for name in steps}

    # The relay's SUBSCRIBE goes over its own connection: one command for all trucks.
    trips = a.round_trips
    await a.subscribe(*TRUCKS)
    assert a.round_trips - trips == 1


async def test_every_network_round_trip_is_observed_once(cluster):
    a, _ = await cluster.node("node-a")
    rtts: list[float] = []
    a.observe_rtt = rtts.append
    await a.acquire(TRUCKS, 10_000)
    await a.interested(TRUCKS)
    await a.latest("T000")
    if cluster.backend == "redis":
        assert len(rtts) == 3 and all(r > 0 for r in rtts)
    else:
        assert rtts == []  # no network: nothing to time
