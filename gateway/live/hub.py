"""Subscriptions and poller lifecycle: exactly one poller per watched truck.

The first subscriber of a truck starts its poller; the last one leaving arms a linger
timer, and a resubscribe within the linger reuses the same poller (same epoch). The hub
is also where a frame fans out: ``_publish`` hands the same bytes to every subscriber's
``Connection.send``, which writes straight to the socket when it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.broker import Broker
from gateway.config import Settings
from gateway.core import protocol
from gateway.core.channels import truck_id_of
from gateway.core.protocol import ProtocolError, Subscribe, Unsubscribe
from gateway.core.wsframe import text_frame
from gateway.live.batch import RowBatcher
from gateway.live.cluster import Cluster
from gateway.live.poller import DIFF, STARTED, FirstRead, Poller, now_ms
from gateway.live.relay import RelayChannel
from gateway.live.subscriber import Subscriber
from gateway.store import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HubCounters:
    """Work counted by the hub, read by /metrics and by tests (no per-frame metric calls)."""

    frames_sent: int = 0
    broadcasts: int = 0
    slow_consumers: dict[str, int] = field(default_factory=lambda: {"resync": 0, "close": 0})


# What a watch fans out from: a local Poller, or in cluster mode a RelayChannel.
Source = Poller | RelayChannel


@dataclass(slots=True)
class Watch:
    """A truck being watched: its source of frames and who receives them."""

    poller: Source
    subscribers: set[Subscriber] = field(default_factory=set)
    linger: asyncio.TimerHandle | None = None


class Hub:
    """Routes subscriptions to pollers and pollers' frames to connections."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        observe_poll: Callable[[float], None] = lambda s: None,
        observe_push: Callable[[float], None] = lambda s: None,
        broker: Broker | None = None,
    ) -> None:
        self._settings = settings
        self._batcher = RowBatcher(store, observe_poll)
        # In cluster mode a watch follows the cluster's reader instead of polling here.
        self.cluster = Cluster(broker, settings, self._batcher.read, store.truck_exists) if broker else None
        self._observe_push = observe_push
        self.watches: dict[str, Watch] = {}
        self.connections: set[Subscriber] = set()
        self.counters = HubCounters()
        self._closing = False

    # -- what /metrics and REST read ---------------------------------------------------
    @property
    def subscription_count(self) -> int:
        return sum(len(w.subscribers) for w in self.watches.values())

    def row_body(self, truck_id: str) -> tuple[bytes, str] | None:
        """The live poller's row as a REST body and ETag, when the truck is watched and live."""
        watch = self.watches.get(truck_id)
        if watch is None or watch.poller.stream is None or watch.poller.state == "degraded":
            return None  # not watched, or the poller's copy may be behind: read the database
        return watch.poller.stream.row_body()

    def snapshot_of(self, truck_id: str) -> bytes | None:
        """A fresh snapshot of a watched truck, and its status when not live (to resync slow consumers).

        The resync drops the client's queued frames of the channel, status frames among them,
        so the status goes along: a stale or degraded truck must not look live after a resync.
        """
        watch = self.watches.get(truck_id)
        stream = watch.poller.stream if watch else None
        if stream is None:
            return None
        status = watch.poller.status_frame()
        return stream.snapshot_frame() + status if status else stream.snapshot_frame()

    def count_slow(self, action: str) -> None:
        self.counters.slow_consumers[action] += 1

    # -- fan-out -----------------------------------------------------------------------
    def _publish(self, poller: Source, frame: bytes, kind: str) -> None:
        """Fan one frame out; a diff's read-to-sent time is observed."""
        if kind == STARTED:  # subscribers get their snapshot when they attach
            return
        change = kind == DIFF
        watch = self.watches.get(poller.truck_id)
        if watch is None or watch.poller is not poller:
            return
        truck_id = poller.truck_id
        for conn in watch.subscribers:
            conn.send(frame, truck_id)
        # Counted once per broadcast, not per recipient.
        self.counters.frames_sent += len(watch.subscribers)
        self.counters.broadcasts += 1
        stream = poller.stream
        if change and stream is not None and watch.subscribers:  # a status frame has no read time
            self._observe_push(max(0.0, (now_ms() - stream.ts) / 1000))

    # -- connections -------------------------------------------------------------------
    def attach(self, conn: Subscriber) -> None:
        self.connections.add(conn)

    def detach(self, conn: Subscriber) -> None:
        """Forget a closed connection and release its subscriptions."""
        self.connections.discard(conn)
        for truck_id in list(conn.subscriptions):
            self._leave(conn, truck_id)
        conn.cancel_tasks()

    def send_control(self, conn: Subscriber, payload: bytes) -> None:
        conn.send(text_frame(payload))
        self.counters.frames_sent += 1

    # -- subscribe / unsubscribe -------------------------------------------------------
    async def subscribe(self, conn: Subscriber, cmd: Subscribe) -> None:
        """Validate, start or reuse pollers, then ack, then a snapshot (or replay) per channel."""
        errors: list[tuple[int, dict]] = []
        held: list[tuple[int, str, str]] = []  # already subscribed: ok again, with a fresh snapshot
        candidates: list[tuple[int, str, str]] = []
        for index, channel in enumerate(cmd.channels):
            try:
                truck_id = truck_id_of(channel)
            except ProtocolError as exc:
                errors.append((index, protocol.channel_error(channel, exc.code, exc.message)))
                continue
            if not conn.grant.allows(truck_id):  # before any poller or query
                errors.append((index, protocol.channel_error(
                    channel, protocol.FORBIDDEN, f"your token does not grant truck {truck_id!r}")))
                continue
            (held if truck_id in conn.subscriptions else candidates).append((index, channel, truck_id))

        # Fill the free slots in request order; a truck that turns out not to exist gives its
        # slot back, and never more pollers start than the client may still subscribe to.
        limit = self._settings.max_subscriptions
        count = len(conn.subscriptions)
        accepted: list[tuple[int, str, str]] = []
        while candidates and count < limit:
            batch, candidates = candidates[: limit - count], candidates[limit - count:]
            results = await asyncio.gather(*(self._ensure_poller(t) for _, _, t in batch))
            for (index, channel, truck_id), result in zip(batch, results, strict=True):
                if result is FirstRead.UNKNOWN:
                    errors.append((index, protocol.channel_error(channel, protocol.UNKNOWN_TRUCK,
                                                                 f"no truck {truck_id!r}")))
                else:
                    accepted.append((index, channel, truck_id))
                    count += 1
        for index, channel, _ in candidates:
            errors.append((index, protocol.channel_error(
                channel, protocol.TOO_MANY_SUBSCRIPTIONS, f"at most {limit} subscriptions per connection")))
        wanted = [(channel, truck_id) for _, channel, truck_id in sorted(held + accepted)]
        ok = [channel for channel, _ in wanted]
        new = [truck_id for _, _, truck_id in accepted]
        if conn.closed:
            for truck_id in new:
                self._maybe_linger(truck_id)
            return
        errors.sort(key=lambda item: item[0])
        self.send_control(conn, protocol.ack(cmd.id, "subscribe", ok, [error for _, error in errors]))
        # From here to the end nothing awaits: no diff can slip between the ack, the
        # attach and the snapshot, so each channel's first data frame is its snapshot.
        for channel, truck_id in wanted:
            watch = self.watches.get(truck_id)
            if watch is None:  # poller ended while we awaited (shutdown): nothing to attach to
                continue
            if watch.linger is not None:
                watch.linger.cancel()
                watch.linger = None
            watch.subscribers.add(conn)
            conn.subscriptions.add(truck_id)
            # Every ok channel gets its snapshot (or replay), re-subscribed ones too: a client
            # re-subscribing to recover must not be left without a starting point.
            self._send_initial(conn, watch, cmd.resume.get(channel))

    def _send_initial(self, conn: Subscriber, watch: Watch, resume: protocol.ResumePoint | None) -> None:
        poller = watch.poller
        stream = poller.stream
        if stream is not None:
            replay = stream.replay(resume) if resume is not None else None
            frames = replay if replay is not None else [stream.snapshot_frame()]
            for frame in frames:
                conn.send(frame, poller.truck_id)
            self.counters.frames_sent += len(frames)
        status = poller.status_frame()
        if status is not None:
            conn.send(status, poller.truck_id)
            self.counters.frames_sent += 1

    async def _ensure_poller(self, truck_id: str) -> FirstRead:
        watch = self.watches.get(truck_id)
        if watch is None:
            if self._closing:
                return FirstRead.UNAVAILABLE
            poller: Source = (self.cluster.relay(truck_id, self._publish) if self.cluster is not None
                              else Poller(truck_id, self._batcher.read, self._settings, self._publish))
            watch = Watch(poller)
            self.watches[truck_id] = watch
            poller.task.add_done_callback(lambda _t, p=poller: self._poller_ended(p))
        result = await asyncio.shield(watch.poller.first_read)
        if result is FirstRead.UNKNOWN:
            self._drop_watch(truck_id, watch.poller)
        return result

    def _poller_ended(self, poller: Source) -> None:
        """A poller that returned by itself (unknown truck) takes its subscriptions with it."""
        watch = self.watches.get(poller.truck_id)
        if watch is None or watch.poller is not poller:
            return
        for conn in watch.subscribers:
            conn.subscriptions.discard(poller.truck_id)
        self._drop_watch(poller.truck_id, poller)

    def _drop_watch(self, truck_id: str, poller: Source) -> None:
        watch = self.watches.get(truck_id)
        if watch is not None and watch.poller is poller:
            del self.watches[truck_id]
            if watch.linger is not None:
                watch.linger.cancel()
            poller.task.cancel()

    def unsubscribe(self, conn: Subscriber, cmd: Unsubscribe) -> None:
        """Leave channels; unknown or invalid names are reported, never fatal."""
        ok: list[str] = []
        errors: list[dict] = []
        for channel in cmd.channels:
            try:
                truck_id = truck_id_of(channel)
            except ProtocolError as exc:
                errors.append(protocol.channel_error(channel, exc.code, exc.message))
                continue
            self._leave(conn, truck_id)
            ok.append(channel)
        self.send_control(conn, protocol.ack(cmd.id, "unsubscribe", ok, errors))

    def _leave(self, conn: Subscriber, truck_id: str) -> None:
        conn.subscriptions.discard(truck_id)
        watch = self.watches.get(truck_id)
        if watch is not None:
            watch.subscribers.discard(conn)
            self._maybe_linger(truck_id)

    def _maybe_linger(self, truck_id: str) -> None:
        watch = self.watches.get(truck_id)
        if watch is None or watch.subscribers or watch.linger is not None:
            return
        watch.linger = asyncio.get_running_loop().call_later(
            self._settings.linger, self._expire, truck_id, watch.poller)

    def _expire(self, truck_id: str, poller: Source) -> None:
        watch = self.watches.get(truck_id)
        if watch is not None and watch.poller is poller and not watch.subscribers:
            self._drop_watch(truck_id, poller)

    async def start(self) -> None:
        """Join the cluster, when there is one (never fails because the broker is down)."""
        if self.cluster is not None:
            await self.cluster.start()

    async def close(self) -> None:
        """Stop every poller (and the cluster part) and wait for them."""
        self._closing = True
        pollers = [w.poller for w in self.watches.values()]
        for watch in self.watches.values():
            if watch.linger is not None:
                watch.linger.cancel()
        self.watches.clear()
        with contextlib.suppress(Exception):
            await asyncio.gather(*(p.stop() for p in pollers))
        if self.cluster is not None:
            await self.cluster.close()
        await self._batcher.close()
