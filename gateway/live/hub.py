"""Subscriptions and poller lifecycle: exactly one poller per watched truck.

The first subscriber of a truck starts its poller; the last one leaving arms a linger
timer, and a resubscribe within the linger reuses the same poller (same epoch). The hub
is also where a frame fans out: ``_publish`` hands the same bytes to every subscriber's
``Connection.send``, which writes straight to the socket when it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.broker import Broker
from gateway.config import Settings
from gateway.core import protocol
from gateway.core.channels import truck_id_of
from gateway.core.negcache import MissCache
from gateway.core.protocol import ProtocolError, Subscribe, Unsubscribe
from gateway.core.subscribe_plan import UNAVAILABLE, UNKNOWN, Limits, plan_subscribe
from gateway.core.wsframe import text_frame
from gateway.live.batch import RowBatcher
from gateway.live.cluster import Cluster
from gateway.live.feeds import FEEDS, Feeds
from gateway.live.poller import DIFF, SNAPSHOT, STARTED, FirstRead, Poller, now_ms
from gateway.live.relay import RelayChannel
from gateway.live.subscriber import Subscriber
from gateway.store import Store

if TYPE_CHECKING:
    from gateway.live.feed import ChangeFeed

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HubCounters:
    """Work counted by the hub, read by /metrics and by tests (no per-frame metric calls)."""

    frames_sent: int = 0
    broadcasts: int = 0
    fleet_writes: int = 0  # socket writes of fleet batches (one per subscriber per tick)
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
        change_feed: ChangeFeed | None = None,
    ) -> None:
        self._settings = settings
        self._batcher = RowBatcher(store, observe_poll)
        self.change_feed = change_feed  # --changes binlog: pollers follow it (gateway.live.feed)
        # In cluster mode a watch follows the cluster's reader instead of polling here.
        self.cluster = (Cluster(broker, settings, self._batcher.read, store.truck_exists, change_feed=change_feed)
                        if broker else None)
        self._observe_push = observe_push
        self.watches: dict[str, Watch] = {}
        self.connections: set[Subscriber] = set()
        self.counters = HubCounters()
        self._closing = False
        # Truck ids found missing, remembered briefly so a made-up id costs one query, not one
        # per message; shared with REST. A truck created later is found once its entry expires.
        self.unknown = MissCache(settings.unknown_truck_ttl)
        self._limits = Limits(settings.max_subscriptions, settings.max_unverified_per_connection,
                              settings.max_unverified)
        self.feeds = Feeds(store, settings, self._hold_for_fleet, self._release_from_fleet, self._count_fleet)
        if change_feed is not None:
            self.feeds.alerts.use_feed(change_feed)  # DTC and refuel rows pushed while the binlog streams
        if self.cluster is not None:
            self.cluster.alerts = self.feeds.alerts  # one deriver of alerts, cluster-wide
            self.feeds.alerts.follow()  # until this node takes the alerts lease

    # -- what /metrics and REST read ---------------------------------------------------
    @property
    def change_source(self) -> str:
        """Where this process's rows come from: ``binlog`` or ``poll`` (its own readers), or
        ``cluster`` on a cluster node that reads nothing itself while another process
        follows the binlog for the cluster (``--changes binlog`` with ``--broker``)."""
        feed, cluster = self.change_feed, self.cluster
        if feed is None:
            return "poll"
        if cluster is not None and cluster.up and not cluster.binlog_leader:
            return "cluster"
        return feed.source

    @property
    def subscription_count(self) -> int:
        return sum(len(c.subscriptions) + len(c.feeds) for c in self.connections)

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
        watch = self.watches.get(poller.truck_id)
        if watch is None or watch.poller is not poller:
            return
        truck_id = poller.truck_id
        stream = poller.stream
        fanout = self.feeds.fanout
        if stream is not None and kind in (STARTED, SNAPSHOT, DIFF) and fanout in watch.subscribers:
            # The fleet's trucks feed the alert rules from their first row on (the baseline).
            self.feeds.alerts.row(truck_id, stream.row)
        if kind == STARTED:
            # Subscribers by name get their snapshot when they attach; the fleet's, who may
            # have been attached before this truck existed, get it now.
            if fanout in watch.subscribers:
                fanout.send(frame, truck_id)
            return
        change = kind == DIFF
        for conn in watch.subscribers:
            conn.send(frame, truck_id)
        # Counted once per broadcast, not per recipient (the fleet counts its own writes).
        self.counters.frames_sent += len(watch.subscribers) - (fanout in watch.subscribers)
        self.counters.broadcasts += 1
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
        if conn.feeds:
            self.feeds.detach(conn)
        conn.cancel_tasks()

    # -- the fleet's hold on truck watches ----------------------------------------------
    async def _hold_for_fleet(self, trucks: list[str]) -> None:
        """Watch ``trucks`` on behalf of the fleet and alerts channels (their snapshots await here)."""
        fanout = self.feeds.fanout
        for truck_id in trucks:
            # Held before the first read, so the truck's first snapshot (STARTED) reaches the fleet.
            watch = self._watch(truck_id)
            if watch is None:
                continue
            self._join(watch, fanout)
            fanout.trucks.add(truck_id)
        await asyncio.gather(*(self._ensure_poller(t) for t in trucks))

    def _release_from_fleet(self, trucks: list[str]) -> None:
        fanout = self.feeds.fanout
        for truck_id in trucks:
            fanout.trucks.discard(truck_id)
            watch = self.watches.get(truck_id)
            if watch is not None:
                watch.subscribers.discard(fanout)
                self._maybe_linger(truck_id)
            self.feeds.alerts.forget(truck_id)

    def _count_fleet(self, frames: int, writes: int) -> None:
        self.counters.frames_sent += frames
        self.counters.fleet_writes += writes

    def _snapshots(self, trucks) -> list[tuple[str, bytes]]:
        """Each watched truck's snapshot (and status when not live), for a fleet subscriber's start."""
        out = []
        for truck_id in trucks:
            frame = self.snapshot_of(truck_id)
            if frame is not None:
                out.append((truck_id, frame))
        return out

    def send_control(self, conn: Subscriber, payload: bytes) -> None:
        conn.send(text_frame(payload))
        self.counters.frames_sent += 1

    # -- subscribe / unsubscribe -------------------------------------------------------
    async def subscribe(self, conn: Subscriber, cmd: Subscribe) -> int:
        """Plan, start or reuse pollers, then ack, then a snapshot (or replay) per channel.

        The decisions are ``gateway.core.subscribe_plan``'s; this runs the plan. Returns how
        many channels were ``unknown_truck`` (the caller charges them to the client's budget).
        """
        now = asyncio.get_running_loop().time
        feeds, feed_errors = self._plan_feeds(conn, cmd.channels)
        if feeds:
            await self.feeds.prepare()
            await self.feeds.hold_for(conn)
        limits = dataclasses.replace(
            self._limits, subscriptions=self._limits.subscriptions - len(conn.feeds | set(feeds)))
        trucks = [c for c in cmd.channels if c not in FEEDS]
        plan = plan_subscribe(trucks, allows=conn.grant.allows, held=conn.subscriptions,
                              known_missing=lambda t: self.unknown.known_missing(t, now()), limits=limits)
        while batch := plan.next_batch():
            found = await asyncio.gather(*(self._ensure_poller(t) for t in batch))
            results = {t: r.value for t, r in zip(batch, found, strict=True)}
            for truck_id, result in results.items():
                if result == UNKNOWN:
                    self.unknown.add(truck_id, now())
            if UNAVAILABLE in results.values():  # counted only during an outage: an O(watches) walk
                held, total, shared = self._unverified(conn, [t for t, r in results.items() if r == UNAVAILABLE])
            else:
                held, total, shared = 0, 0, set()
            plan.record(results, unverified_held=held, unverified_total=total, shared=shared)
        plan.finish()
        for truck_id in plan.dropped:  # over an unverified cap: no poller may stay for it
            watch = self.watches.get(truck_id)
            if watch is not None and not watch.subscribers and watch.poller.stream is None:
                self._drop_watch(truck_id, watch.poller)
        new = [truck_id for _, _, truck_id in plan.accepted]
        if conn.closed:
            for truck_id in new:
                self._maybe_linger(truck_id)
            return plan.unknown
        order = {c: i for i, c in enumerate(cmd.channels)}
        errors = sorted([*((e.channel, protocol.channel_error(e.channel, e.code, e.message))
                           for e in plan.sorted_errors()), *feed_errors], key=lambda item: order.get(item[0], 0))
        wanted = plan.ok
        ok = sorted([*(c for c, _ in wanted), *feeds], key=order.__getitem__)
        self.send_control(conn, protocol.ack(cmd.id, "subscribe", ok, [error for _, error in errors]))
        # From here to the end nothing awaits: no diff can slip between the ack, the
        # attach and the snapshot, so each channel's first data frame is its snapshot.
        for channel, truck_id in wanted:
            watch = self.watches.get(truck_id)
            if watch is None:  # poller ended while we awaited (shutdown): nothing to attach to
                continue
            self._join(watch, conn)
            conn.subscriptions.add(truck_id)
            # Every ok channel gets its snapshot (or replay), re-subscribed ones too: a client
            # re-subscribing to recover must not be left without a starting point.
            self._send_initial(conn, watch, cmd.resume.get(channel))
        for feed in feeds:
            self.counters.frames_sent += self.feeds.attach(conn, feed, cmd.resume.get(feed), self._snapshots)
        if self.cluster is not None and feeds:
            self.cluster.kick()  # follow (or derive) the cluster's alerts without waiting a tick
        return plan.unknown

    def _plan_feeds(self, conn: Subscriber, channels) -> tuple[list[str], list[tuple[str, dict]]]:
        """Which of ``fleet``/``alerts`` this message may add (each is one subscription)."""
        asked = [c for c in channels if c in FEEDS]
        free = self._limits.subscriptions - len(conn.subscriptions) - len(conn.feeds)
        feeds: list[str] = []
        errors: list[tuple[str, dict]] = []
        for feed in asked:
            if feed in conn.feeds:
                feeds.append(feed)  # ok again, with a fresh start
            elif free > 0:
                feeds.append(feed)
                free -= 1
            else:
                errors.append((feed, protocol.channel_error(
                    feed, protocol.TOO_MANY_SUBSCRIPTIONS,
                    f"at most {self._limits.subscriptions} subscriptions per connection")))
        return feeds, errors

    def _unverified(self, conn: Subscriber, pending: list[str]) -> tuple[int, int, set[str]]:
        """Unchecked subscriptions of ``conn``, unchecked pollers with subscribers in total, and
        which of ``pending`` already have subscribers (joining those adds no poller)."""
        held = sum(1 for t in conn.subscriptions if (w := self.watches.get(t)) is not None and w.poller.stream is None)
        total = sum(1 for w in self.watches.values() if w.poller.stream is None and w.subscribers)
        shared = {t for t in pending if (w := self.watches.get(t)) is not None and w.subscribers}
        return held, total, shared

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

    def _watch(self, truck_id: str) -> Watch | None:
        """The truck's watch, started now when there is none (None while shutting down)."""
        watch = self.watches.get(truck_id)
        if watch is None:
            if self._closing:
                return None
            poller: Source = (self.cluster.relay(truck_id, self._publish) if self.cluster is not None
                              else Poller(truck_id, self._batcher.read, self._settings, self._publish,
                                          feed=self.change_feed))
            watch = Watch(poller)
            self.watches[truck_id] = watch
            poller.task.add_done_callback(lambda _t, p=poller: self._poller_ended(p))
        return watch

    async def _ensure_poller(self, truck_id: str) -> FirstRead:
        watch = self._watch(truck_id)
        if watch is None:
            return FirstRead.UNAVAILABLE
        result = await asyncio.shield(watch.poller.first_read)
        if result is FirstRead.UNKNOWN:
            self._drop_watch(truck_id, watch.poller)
        return result

    def _poller_ended(self, poller: Source) -> None:
        """A poller that returned by itself (unknown truck) takes its subscriptions with it."""
        watch = self.watches.get(poller.truck_id)
        if watch is None or watch.poller is not poller:
            return
        if poller.stream is None:  # checked once the database answered: the truck does not exist
            self.unknown.add(poller.truck_id, asyncio.get_running_loop().time())
        for conn in watch.subscribers:
            conn.subscriptions.discard(poller.truck_id)
        self._drop_watch(poller.truck_id, poller)

    def _drop_watch(self, truck_id: str, poller: Source) -> None:
        watch = self.watches.get(truck_id)
        if watch is not None and watch.poller is poller:
            del self.watches[truck_id]
            self.feeds.fanout.trucks.discard(truck_id)
            if watch.linger is not None:
                watch.linger.cancel()
            poller.task.cancel()

    def unsubscribe(self, conn: Subscriber, cmd: Unsubscribe) -> None:
        """Leave channels; unknown or invalid names are reported, never fatal."""
        ok: list[str] = []
        errors: list[dict] = []
        for channel in cmd.channels:
            if channel in FEEDS:
                self.feeds.detach(conn, (channel,))
                ok.append(channel)
                continue
            try:
                truck_id = truck_id_of(channel)
            except ProtocolError as exc:
                errors.append(protocol.channel_error(channel, exc.code, exc.message))
                continue
            self._leave(conn, truck_id)
            ok.append(channel)
        self.send_control(conn, protocol.ack(cmd.id, "unsubscribe", ok, errors))

    @staticmethod
    def _join(watch: Watch, subscriber: Subscriber) -> None:
        """Add a subscriber to a watch, which then no longer lingers."""
        if watch.linger is not None:
            watch.linger.cancel()
            watch.linger = None
        watch.subscribers.add(subscriber)

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
        await self.feeds.close()
        if self.cluster is not None:
            await self.cluster.close()
        await self._batcher.close()
