"""An in-process broker with the Redis broker's semantics, for one process and for tests.

Brokers opened on the same ``memory://<name>`` URL share one ``MemorySpace`` and form a
cluster inside the process (tests run two "nodes" this way). The space keeps the same
key names as Redis (``gateway.broker.keys``) with millisecond expiries on a monotonic
clock, and each method below is the Python twin of the Lua script of the same name, run
without an ``await`` in between so it is just as atomic. Relayed messages are delivered
with ``loop.call_soon``: after the publish returns, in publish order, as Pub/Sub does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from gateway.broker.base import (
    DEFAULT_KEEP_MS,
    DEFAULT_RING,
    DIFF,
    SNAPSHOT,
    STATUS,
    BrokerUnavailable,
    ChannelState,
    RelayHandler,
    history_tail,
)
from gateway.broker.keys import DEFAULT_PREFIX, KeyLayout
from gateway.broker.space import MemorySpace
from gateway.broker.wire import check_epoch, snapshot_payload
from gateway.core.channels import CHANNEL_PREFIX

log = logging.getLogger(__name__)


class MemoryBroker:
    """``Broker`` over a ``MemorySpace``: same rules as ``RedisBroker``, no network."""

    def __init__(
        self,
        space: MemorySpace | None = None,
        prefix: str = DEFAULT_PREFIX,
        node_id: str | None = None,
        handler: RelayHandler | None = None,
        ring_size: int = DEFAULT_RING,
        keep_ms: int = DEFAULT_KEEP_MS,
    ) -> None:
        self.space = space if space is not None else MemorySpace()
        self.keys = KeyLayout(prefix)
        self.node_id = node_id or uuid.uuid4().hex
        if "|" in self.node_id:
            raise ValueError("node_id must not contain '|'")
        self._handler = handler
        self._ring = ring_size
        self._keep = keep_ms
        self._running = False
        self._subscribed: set[str] = set()
        self.published = self.received = self.gap_fills = self.resyncs = self.round_trips = 0
        self.observe_rtt: Callable[[float], None] | None = None

    @property
    def up(self) -> bool:
        """True between ``start`` and ``close``: memory is never unreachable."""
        return self._running

    @property
    def reconnects(self) -> int:
        """Always 0: there is no connection to lose."""
        return 0

    def set_handler(self, handler: RelayHandler | None) -> None:
        """Set who receives relayed frames."""
        self._handler = handler

    async def start(self) -> None:
        """Mark the broker usable."""
        self._running = True

    async def close(self) -> None:
        """Drop this node's subscriptions; the space (shared) keeps its keys."""
        self._running = False
        for channel in list(self._subscribed):
            self._leave(channel)

    def _call(self) -> MemorySpace:
        # One method call is one "round trip", counted like RedisBroker counts its own.
        if not self._running:
            raise BrokerUnavailable("memory broker is not started")
        self.round_trips += 1
        return self.space

    def _lease_value(self, token: int) -> str:
        return f"{self.node_id}|{token}"

    async def ping(self) -> None:
        self._call()

    async def acquire(self, trucks: Sequence[str], ttl_ms: int) -> dict[str, int]:
        """Take the free leases among ``trucks`` (keep ours); return trucks held with their token."""
        space, held = self._call(), {}
        for truck in dict.fromkeys(trucks):
            lease, fence = self.keys.lease(truck), self.keys.fence(truck)
            current = space.get(lease)
            if current is None:
                token = (space.get(fence) or 0) + 1
                space.set(fence, token, self._keep)
                space.set(lease, self._lease_value(token), ttl_ms)
                held[truck] = token
            elif current.partition("|")[0] == self.node_id:
                space.expire(lease, ttl_ms)
                held[truck] = int(current.partition("|")[2])
        return held

    async def renew(self, leases: Mapping[str, int], ttl_ms: int) -> set[str]:
        """Extend the leases still ours with the same token; return those trucks."""
        space, kept = self._call(), set()
        for truck, token in leases.items():
            if space.get(self.keys.lease(truck)) == self._lease_value(token):
                space.expire(self.keys.lease(truck), ttl_ms)
                for key in (self.keys.state(truck), self.keys.hist(truck), self.keys.fence(truck)):
                    space.expire(key, self._keep)
                kept.add(truck)
        return kept

    async def release(self, leases: Mapping[str, int]) -> None:
        """Delete the leases that are still ours."""
        space = self._call()
        for truck, token in leases.items():
            if space.get(self.keys.lease(truck)) == self._lease_value(token):
                space.delete(self.keys.lease(truck))

    async def holder(self, truck: str) -> str | None:
        """The node id holding the truck's lease, or None."""
        value = self._call().get(self.keys.lease(truck))
        return None if value is None else value.partition("|")[0]

    async def refresh_interest(self, trucks: Sequence[str], ttl_ms: int) -> None:
        """Record this node's interest in ``trucks`` until now + ``ttl_ms``."""
        space = self._call()
        now = space.now_ms()
        for truck in trucks:
            key = self.keys.interest(truck)
            members = {n: e for n, e in (space.get(key) or {}).items() if e > now}
            members[self.node_id] = now + ttl_ms
            space.set(key, members)
            space.expire_at(key, max(members.values()))
        if trucks:
            index_key = self.keys.watched()
            index = {t: e for t, e in (space.get(index_key) or {}).items() if e > now}
            for truck in trucks:
                index[truck] = max(index.get(truck, 0), now + ttl_ms)
            space.set(index_key, index)
            space.expire_at(index_key, max(index.values()))

    async def drop_interest(self, trucks: Sequence[str]) -> None:
        """Withdraw this node's interest in ``trucks``."""
        space = self._call()
        for truck in trucks:
            key = self.keys.interest(truck)
            members = space.get(key)
            if members is not None:
                members.pop(self.node_id, None)
                if not members:
                    space.delete(key)
            if space.get(key) is None:
                index = space.get(self.keys.watched())
                if index is not None:
                    index.pop(truck, None)
                    if not index:
                        space.delete(self.keys.watched())

    async def watched(self) -> list[str]:
        """Every truck some node has (or had until less than one TTL ago) interest in."""
        space = self._call()
        now = space.now_ms()
        index = space.get(self.keys.watched())
        if index is None:
            return []
        for truck in [t for t, e in index.items() if e <= now]:
            del index[truck]
        if not index:
            space.delete(self.keys.watched())
        return sorted(index, key=index.__getitem__)

    async def interested(self, trucks: Sequence[str]) -> set[str]:
        """The trucks among ``trucks`` with live interest from any node."""
        space = self._call()
        now = space.now_ms()
        live = set()
        for truck in trucks:
            key = self.keys.interest(truck)
            members = space.get(key)
            if members is None:
                continue
            for node in [n for n, e in members.items() if e <= now]:
                del members[node]
            if members:
                live.add(truck)
            else:
                space.delete(key)
        return live

    def _fenced_in(self, space: MemorySpace, truck: str, token: int) -> bool:
        return space.get(self.keys.lease(truck)) == self._lease_value(token)

    async def publish_snapshot(self, truck: str, token: int, epoch: str, ts: int, row_json: bytes) -> bool:
        """Start epoch ``epoch`` at seq 0 with this row, clearing history and status."""
        check_epoch(epoch)
        space = self._call()
        state_key = self.keys.state(truck)
        state = space.get(state_key)
        if not self._fenced_in(space, truck, token) or (state is not None and state["epoch"] == epoch):
            return False
        space.delete(state_key, self.keys.hist(truck))
        space.set(state_key, {"epoch": epoch, "seq": 0, "ts": ts, "row": bytes(row_json), "status": None}, self._keep)
        frame = snapshot_payload(CHANNEL_PREFIX + truck, epoch, ts, row_json)
        space.publish(self.keys.channel(truck), truck, SNAPSHOT, epoch, 0, frame)
        self.published += 1
        return True

    async def publish_diff(
        self, truck: str, token: int, epoch: str, seq: int, ts: int, diff_payload: bytes, row_json: bytes
    ) -> bool:
        """Append diff ``seq`` when the stored position is (``epoch``, ``seq`` - 1)."""
        space = self._call()
        state = space.get(self.keys.state(truck))
        if not self._fenced_in(space, truck, token) or state is None:
            return False
        if state["epoch"] != epoch or state["seq"] + 1 != seq:
            return False
        state.update(seq=seq, ts=ts, row=bytes(row_json))
        space.expire(self.keys.state(truck), self._keep)
        if self._ring > 0:
            hist_key = self.keys.hist(truck)
            ring = space.get(hist_key)
            if ring is None:
                ring = deque(maxlen=self._ring)
                space.set(hist_key, ring)
            ring.append((seq, bytes(diff_payload)))
            space.expire(hist_key, self._keep)
        space.publish(self.keys.channel(truck), truck, DIFF, epoch, seq, bytes(diff_payload))
        self.published += 1
        return True

    async def publish_status(self, truck: str, token: int, epoch: str, status_payload: bytes) -> bool:
        """Store and publish a status frame of the current epoch."""
        space = self._call()
        state = space.get(self.keys.state(truck))
        if not self._fenced_in(space, truck, token) or state is None or state["epoch"] != epoch:
            return False
        state["status"] = bytes(status_payload)
        space.publish(self.keys.channel(truck), truck, STATUS, epoch, state["seq"], bytes(status_payload))
        self.published += 1
        return True

    async def latest(self, truck: str) -> ChannelState | None:
        """The channel's current state, or None."""
        state = self._call().get(self.keys.state(truck))
        if state is None:
            return None
        return ChannelState(state["epoch"], state["seq"], state["ts"], state["row"], state["status"])

    async def history(self, truck: str, epoch: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        """Diff payloads after ``after_seq`` of ``epoch``, or None when they cannot all be had."""
        space = self._call()
        state = space.get(self.keys.state(truck))
        ring = space.get(self.keys.hist(truck)) or ()
        entries = [(seq, payload) for seq, payload in ring if seq > after_seq]
        tail = history_tail(state and state["epoch"], state["seq"] if state else 0, entries, epoch, after_seq)
        if tail is None:
            self.resyncs += 1
        else:
            self.gap_fills += 1
        return tail

    async def subscribe(self, *trucks: str) -> None:
        """Relay these trucks' frames to the handler from now on."""
        self._call()
        for truck in trucks:
            channel = self.keys.channel(truck)
            self.space.subscribers.setdefault(channel, set()).add(self)
            self._subscribed.add(channel)

    async def unsubscribe(self, *trucks: str) -> None:
        """Stop relaying these trucks."""
        self._call()
        for truck in trucks:
            self._leave(self.keys.channel(truck))

    def _leave(self, channel: str) -> None:
        subscribers = self.space.subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(self)
            if not subscribers:
                del self.space.subscribers[channel]
        self._subscribed.discard(channel)

    def deliver(self, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        """Queue one published message for this node's handler (called by the space)."""
        asyncio.get_running_loop().call_soon(self._dispatch, truck, kind, epoch, seq, payload)

    def _dispatch(self, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        # Unsubscribed (or closed) between the publish and this callback: drop it.
        if self._handler is None or self.keys.channel(truck) not in self._subscribed:
            return
        self.received += 1
        try:
            self._handler.on_message(truck, kind, epoch, seq, payload)
        except Exception:
            log.exception("relay handler failed on %s", truck)
