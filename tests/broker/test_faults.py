"""Redis faults, on a private redis-server this test starts and signals by its pid.

Short timeouts (0.5 s per call, PING after 0.2 s of silence, dead after 0.6 s without
an answer) keep these tests quick; the bounds asserted are generous multiples of them.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from gateway.broker import DIFF, BrokerUnavailable, RelayCursor, Verdict
from gateway.broker.redis import RedisBroker
from gateway.core import protocol
from tests.broker.recorder import Recorder, eventually

FAST = {"timeout": 0.5, "ping_interval": 0.2, "dead_after": 0.6, "backoff_base": 0.05, "backoff_cap": 0.3}
# A call may take one `timeout`; allow scheduling slack on a loaded 2-core machine.
CALL_BOUND_S = 3.0
ROW = orjson.dumps({"truck_id": "T1", "speed_mph": 1})


@pytest.fixture
async def nodes(private_redis):
    """A reader node and a relay node on the private server, both started."""
    made: list[RedisBroker] = []

    async def node(node_id: str) -> tuple[RedisBroker, Recorder]:
        recorder = Recorder()
        broker = RedisBroker(private_redis.url, "gwfault", node_id, handler=recorder, **FAST)
        await broker.start()
        made.append(broker)
        return broker, recorder

    yield node
    for broker in made:
        await broker.close()


async def publish_diff(broker, token: int, epoch: str, seq: int) -> bool:
    frame = protocol.diff_frame("truck:T1", epoch, seq, seq, {"speed_mph": seq}, [])
    return await broker.publish_diff("T1", token, epoch, seq, seq, frame, ROW)


async def bounded_failure(call) -> float:
    """Run a call that must raise BrokerUnavailable; return how long it took."""
    began = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await call
    return time.monotonic() - began


async def test_killed_pubsub_connection_reconnects_and_notifies(private_redis, nodes):
    a, _ = await nodes("node-a")
    b, seen = await nodes("node-b")
    token = (await a.acquire(["T1"], 30_000))["T1"]
    await b.subscribe("T1")
    assert await a.publish_snapshot("T1", token, "e1", 1, ROW)
    await seen.wait_count(1)

    with private_redis.client() as admin:
        assert admin.client_kill_filter(_type="pubsub") >= 2  # a's and b's relays

    await seen.wait_for(lambda: seen.reconnects == 1, "on_reconnect after the kill")
    await eventually(lambda: b.up, "b up again")
    assert b.reconnects == 1
    # Resubscribed by itself: the next frame arrives with no action from the consumer.
    assert await publish_diff(a, token, "e1", 1)
    messages = await seen.wait_count(2)
    assert (messages[-1].kind, messages[-1].seq) == ("diff", 1)


async def test_server_down_then_back_on_the_same_port(private_redis, nodes):
    a, _ = await nodes("node-a")
    b, seen = await nodes("node-b")
    token = (await a.acquire(["T1"], 30_000))["T1"]
    await b.subscribe("T1")
    assert a.up and b.up

    private_redis.kill()
    await eventually(lambda: not b.up, "b to notice the server is gone")
    assert await bounded_failure(a.acquire(["T2"], 1000)) < CALL_BOUND_S
    assert await bounded_failure(b.latest("T1")) < CALL_BOUND_S
    assert await bounded_failure(a.publish_snapshot("T1", token, "e1", 1, ROW)) < CALL_BOUND_S
    assert not a.up

    private_redis.start()
    await seen.wait_for(lambda: seen.reconnects == 1, "on_reconnect after the restart", timeout=10)
    await eventually(lambda: a.up and b.up, "both nodes up again", timeout=10)
    # The server came back empty (no persistence): a new lease and a new epoch.
    token = (await a.acquire(["T1"], 30_000))["T1"]
    assert await a.publish_snapshot("T1", token, "e2", 2, ROW)
    messages = await seen.wait_count(1)
    assert (messages[-1].kind, messages[-1].epoch) == ("snapshot", "e2")


async def test_a_stopped_server_is_detected_as_down(private_redis, nodes):
    """SIGSTOP keeps the TCP connections open but silent: the half-open case."""
    a, _ = await nodes("node-a")
    b, seen = await nodes("node-b")
    c, _ = await nodes("node-c")
    token = (await a.acquire(["T1"], 30_000))["T1"]
    await b.subscribe("T1")
    assert await a.publish_snapshot("T1", token, "e1", 1, ROW)
    await seen.wait_count(1)

    private_redis.pause()
    try:
        # No command is needed: the relay's own PING deadline notices.
        await eventually(lambda: not b.up, "the relay to notice silence", timeout=10)
        assert await bounded_failure(a.latest("T1")) < CALL_BOUND_S
        # Closing does not hang on a silent server either.
        began = time.monotonic()
        await asyncio.wait_for(c.close(), timeout=10)
        assert time.monotonic() - began < CALL_BOUND_S
    finally:
        private_redis.resume()

    await seen.wait_for(lambda: seen.reconnects == 1, "on_reconnect after SIGCONT", timeout=10)
    # The stop was shorter than the lease: a still reads T1 and its frames flow again.
    assert await publish_diff(a, token, "e1", 1)
    messages = await seen.wait_count(2)
    assert (messages[-1].kind, messages[-1].seq) == ("diff", 1)


async def test_start_while_the_server_is_down_then_comes_up(private_redis, nodes):
    private_redis.kill()
    b, seen = await nodes("node-b")
    assert not b.up
    assert await bounded_failure(b.subscribe("T1")) < CALL_BOUND_S
    assert await bounded_failure(b.acquire(["T1"], 1000)) < CALL_BOUND_S

    private_redis.start()
    await seen.wait_for(lambda: seen.reconnects == 1, "on_reconnect once connected", timeout=10)
    await eventually(lambda: b.up, "b up", timeout=10)
    a, _ = await nodes("node-a")
    token = (await a.acquire(["T1"], 30_000))["T1"]
    assert await a.publish_snapshot("T1", token, "e1", 1, ROW)
    # T1 was wanted while down: the relay subscribed it on connecting.
    messages = await seen.wait_count(1)
    assert (messages[0].truck, messages[0].kind) == ("T1", "snapshot")


class GapFillingConsumer:
    """The consumer side of the relay contract: a cursor, and history on gaps and reconnects."""

    def __init__(self, broker: RedisBroker, truck: str) -> None:
        self.broker, self.truck = broker, truck
        self.cursor = RelayCursor()
        self.diffs: list[int] = []
        self.via_history = 0
        self.reconnects = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on_message(self, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        verdict = self.cursor.observe(kind, epoch, seq)
        if verdict is Verdict.DELIVER and kind == DIFF:
            self.diffs.append(seq)
        elif verdict is Verdict.GAP:
            self._fill()

    def on_reconnect(self) -> None:
        self.reconnects += 1
        self._fill()

    def _fill(self) -> None:
        task = asyncio.get_running_loop().create_task(self._fill_from_history())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill_from_history(self) -> None:
        tail = await self.broker.history(self.truck, self.cursor.epoch, self.cursor.seq)
        assert tail is not None, "the ring should still hold every missed diff"
        for seq, _payload in tail:
            if self.cursor.observe(DIFF, self.cursor.epoch, seq) is Verdict.DELIVER:
                self.diffs.append(seq)
                self.via_history += 1


async def test_diffs_missed_across_a_reconnect_are_filled_from_history(private_redis):
    a = RedisBroker(private_redis.url, "gwfault", "node-a", **FAST)
    # A slow first reconnect (>= 0.2 s) makes sure the diffs below go out while b is away.
    b = RedisBroker(private_redis.url, "gwfault", "node-b", **{**FAST, "backoff_base": 0.4})
    consumer = GapFillingConsumer(b, "T1")
    b.set_handler(consumer)
    await a.start()
    await b.start()
    try:
        token = (await a.acquire(["T1"], 30_000))["T1"]
        await b.subscribe("T1")
        assert await a.publish_snapshot("T1", token, "e1", 1, ROW)
        assert await publish_diff(a, token, "e1", 1)
        await eventually(lambda: consumer.diffs == [1], "diff 1 live")

        with private_redis.client() as admin:
            admin.client_kill_filter(_type="pubsub")
        for seq in (2, 3, 4):
            assert await publish_diff(a, token, "e1", seq)
        await eventually(lambda: consumer.reconnects == 1, "on_reconnect")
        assert await publish_diff(a, token, "e1", 5)

        await eventually(lambda: consumer.diffs == [1, 2, 3, 4, 5], "every diff exactly once, in order")
        assert consumer.via_history >= 1
        assert b.gap_fills >= 1 and b.resyncs == 0
    finally:
        await a.close()
        await b.close()
