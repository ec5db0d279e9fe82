"""Cluster mode: leases, interest and relays of one process among many sharing a broker.

Rules (one process = one node):
- Every truck with local subscribers has a ``RelayChannel`` (what the hub fans out from)
  and this node's interest in the broker, refreshed each tick in one round trip.
- Each tick also renews, in one round trip, every lease this node holds, and tries, in
  one more, to take the lease of each locally watched truck it does not hold. Taking a
  lease starts a ``Reader``; losing it (not renewed, or a publish fenced off) stops it.
- A reader whose truck has no local subscribers keeps reading while any node is still
  interested; after ``--linger`` without interest anywhere it gives the lease back.
- Ticks come every third of ``--lease-ttl``, so a dead holder's truck is taken over within
  one TTL and a tick (well inside 2 x TTL). A new local watch runs a tick at once.
- A tick that fails (the broker does not answer) puts the node in "broker down": readers
  stop, every relay channel polls the database itself; the first tick that succeeds again
  brings them back to the cluster. ``up`` says which.
- Alerts: the nodes with ``alerts`` subscribers compete for one more lease, ``ALERTS_KEY``;
  its holder derives the events (``gateway.live.alerts``) and publishes each one; the others
  follow (adopt what is published). A node whose last alerts subscriber left gives it back.
  With the broker down every node derives for its own clients.
- Binlog (``--changes binlog``): the nodes compete for one more lease, ``BINLOG_KEY``, and
  only its holder follows the binary log and reads trucks: it takes the lease of every
  truck some node watches (the broker's ``watched`` index, one round trip a tick), so the
  cluster makes one binlog connection. The other nodes read nothing and relay. When the
  holder dies, its leases expire together and the next node to tick takes them all and
  starts its own feed (a takeover like a reader's: new epochs, snapshots). With the broker
  down no node holds it: every node's relays poll the database for their own clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gateway.broker import DIFF, Broker, BrokerUnavailable
from gateway.config import Settings
from gateway.core.alerts import LoggedEvent
from gateway.core.rows import Row
from gateway.live import poller as kinds
from gateway.live.alerts import AlertFeed
from gateway.live.reader import Reader
from gateway.live.relay import RelayChannel

if TYPE_CHECKING:
    from gateway.live.feed import ChangeFeed

log = logging.getLogger(__name__)

ALERTS_KEY = "_alerts"  # the alerts channel in the broker (not a valid truck id: never a truck's)
BINLOG_KEY = "_binlog"  # the lease of the cluster's one binlog reader (not a truck id either)
RESERVED_KEYS = frozenset((ALERTS_KEY, BINLOG_KEY))


class Cluster:
    """This node's part of the cluster: its relays, its readers, and the tick that keeps leases."""

    def __init__(
        self,
        broker: Broker,
        settings: Settings,
        read: Callable[[str], Awaitable[Row | None]],
        exists: Callable[[str], Awaitable[bool]],
        change_feed: ChangeFeed | None = None,
    ) -> None:
        self.broker = broker
        self._change_feed = change_feed  # this process's binlog feed: its readers follow it
        self._settings = settings
        self._read = read
        self._exists = exists
        self.relays: dict[str, RelayChannel] = {}
        self.readers: dict[str, Reader] = {}
        self._orphaned: dict[str, float] = {}  # reader trucks with no local watch: since when
        self.up = False
        self.ticks = 0
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ttl_ms = int(settings.lease_ttl * 1000)
        self._background: set[asyncio.Task[None]] = set()
        self.alerts: AlertFeed | None = None
        self.alerts_token: int | None = None  # held: this node derives the cluster's alerts
        self.alerts_followed = False
        self._alerts_queue: deque[LoggedEvent] = deque()
        self._alerts_wake = asyncio.Event()
        self._alerts_epoch = ""
        self._alerts_since_ms = 0  # when this node began following the alerts channel
        self.binlog_token: int | None = None  # held: this node follows the binlog for the cluster
        broker.set_handler(self)

    # -- the broker's relay calls these -----------------------------------------------
    def on_message(self, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        if truck == ALERTS_KEY:
            alerts = self.alerts
            if kind == DIFF and alerts is not None and not alerts.deriving:
                log = alerts.log
                after = log.last_seq if epoch == log.epoch else 0
                if seq > after + 1:  # missed some (or joined mid-epoch): fetch them first
                    self._spawn(self._fill_alerts(epoch, after, seq, payload))
                else:
                    alerts.adopt(epoch, seq, payload)
            return
        relay = self.relays.get(truck)
        if relay is not None:
            relay.deliver(kind, epoch, seq, payload)

    def on_reconnect(self) -> None:
        for relay in self.relays.values():
            relay.signal("reconnect")

    # -- what the hub uses ------------------------------------------------------------
    def relay(self, truck_id: str, publish: kinds.Publish) -> RelayChannel:
        """The channel a new local watch fans out from."""
        channel = RelayChannel(truck_id, self, self._settings, publish, self._read, self._exists)
        self.relays[truck_id] = channel
        self._orphaned.pop(truck_id, None)
        return channel

    def relay_ended(self, channel: RelayChannel) -> None:
        if self.relays.get(channel.truck_id) is channel:
            del self.relays[channel.truck_id]
            if channel.truck_id in self.readers:
                self._orphaned[channel.truck_id] = time.monotonic()
            self._spawn(self._forget(channel.truck_id))

    async def _forget(self, truck_id: str) -> None:
        with contextlib.suppress(BrokerUnavailable):
            if truck_id not in self.relays:
                await self.broker.unsubscribe(truck_id)
                await self.broker.drop_interest([truck_id])

    @property
    def binlog_enabled(self) -> bool:
        """True with ``--changes binlog``: the binlog lease decides who reads."""
        return self._change_feed is not None

    @property
    def binlog_leader(self) -> bool:
        """True while this node follows the binary log for the whole cluster."""
        return self.binlog_token is not None

    def kick(self) -> None:
        """Run a tick now (a new watch should find or become its reader without waiting)."""
        self._kick.set()

    # -- life -------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (never fails when the broker is down) and start ticking."""
        await self.broker.start()
        await self._tick()
        self._task = asyncio.get_running_loop().create_task(self._ticker(), name="cluster-ticker")

    async def close(self) -> None:
        """Stop ticking and reading; give the leases back so another node can take over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        readers = dict(self.readers)
        self.readers.clear()
        await asyncio.gather(*(r.stop() for r in readers.values()), return_exceptions=True)
        with contextlib.suppress(BrokerUnavailable):
            if readers:
                await self.broker.release({t: r.token for t, r in readers.items()})
            if self.alerts_token is not None:
                await self.broker.release({ALERTS_KEY: self.alerts_token})
            if self.binlog_token is not None:
                await self.broker.release({BINLOG_KEY: self.binlog_token})
            if self.relays:
                await self.broker.drop_interest(list(self.relays))
        self.binlog_token = None
        await self._stop_feed()
        await self.broker.close()

    async def _ticker(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._settings.lease_ttl / 3)
            self._kick.clear()
            await self._tick()

    async def _tick(self) -> None:
        broker, ttl = self.broker, self._ttl_ms
        try:
            wanted = list(self.relays)
            if wanted:
                await broker.refresh_interest(wanted, ttl)
            reads = await self._binlog_tick()
            if self.readers:
                held = await broker.renew({t: r.token for t, r in self.readers.items()}, ttl)
                for truck in [t for t in self.readers if t not in held]:
                    self._stop_reader(truck, "lease lost")
            if not reads:
                await self._hand_over()
            else:
                if self._change_feed is not None:  # the binlog's reader reads what any node watches
                    wanted = list(dict.fromkeys([*wanted, *(t for t in await broker.watched()
                                                            if t not in RESERVED_KEYS)]))
                free = [t for t in wanted if t not in self.readers]
                if free:
                    for truck, token in (await broker.acquire(free, ttl)).items():
                        self._start_reader(truck, token)
                await self._release_unwanted()
            await self._alerts_tick()
            if not wanted and not self.readers:
                await broker.ping()  # nothing to renew: still learn whether the broker answers
            self._set_up(True)
        except BrokerUnavailable as exc:
            if self.up:
                log.warning("broker unavailable (%s): every watched truck is read by this process", exc)
            self._set_up(False)
            for truck in list(self.readers):
                self._stop_reader(truck, "broker unavailable")
            if self.binlog_token is not None:
                log.info("not following the binary log for the cluster while the broker is down")
                self.binlog_token = None
                self._spawn(self._stop_feed())
            if self.alerts is not None and (self.alerts_token is not None or not self.alerts.deriving):
                self.alerts_token, self.alerts_followed = None, False
                self.alerts.derive(None)  # each node derives for its own clients meanwhile
        self.ticks += 1

    async def _binlog_tick(self) -> bool:
        """Hold, take or lose the binlog lease; True when this node may read trucks.

        Without ``--changes binlog`` every node may. With it only the lease's holder does,
        and it runs the process's change feed exactly while it holds the lease.
        """
        feed, broker, ttl = self._change_feed, self.broker, self._ttl_ms
        if feed is None:
            return True
        if self.binlog_token is not None and BINLOG_KEY not in await broker.renew({BINLOG_KEY: self.binlog_token}, ttl):
            log.info("the binlog lease was lost: another process follows the binary log for the cluster")
            self.binlog_token = None
            await self._stop_feed()
        if self.binlog_token is None:
            token = (await broker.acquire([BINLOG_KEY], ttl)).get(BINLOG_KEY)
            if token is not None:
                log.info("following the binary log for the cluster: this process reads every watched truck")
                self.binlog_token = token
                await feed.start()
        return self.binlog_token is not None

    async def _stop_feed(self) -> None:
        if self._change_feed is not None and self._change_feed.running:
            await self._change_feed.close()

    async def _hand_over(self) -> None:
        """A node that does not hold the binlog lease reads nothing: give its trucks back."""
        if not self.readers:
            return
        readers = dict(self.readers)
        await self.broker.release({t: r.token for t, r in readers.items()})
        for truck in readers:
            self._stop_reader(truck, "another process follows the binary log")

    async def _release_unwanted(self) -> None:
        orphans = [t for t in self.readers if t not in self.relays]
        if not orphans:
            return
        alive = await self.broker.interested(orphans)
        now = time.monotonic()
        done = {}
        for truck in orphans:
            if truck in alive:
                self._orphaned[truck] = now
            elif now - self._orphaned.setdefault(truck, now) >= self._settings.linger:
                done[truck] = self.readers[truck].token
        if done:
            await self.broker.release(done)
            for truck in done:
                self._stop_reader(truck, "no interest left")

    async def _alerts_tick(self) -> None:
        """Hold, take, follow or give back the alerts lease (one more key in the same kind of calls)."""
        alerts, broker, ttl = self.alerts, self.broker, self._ttl_ms
        if alerts is None:
            return
        wanted = bool(alerts.subscribers)
        if self.alerts_token is not None:
            held = await broker.renew({ALERTS_KEY: self.alerts_token}, ttl)
            if ALERTS_KEY not in held:
                log.info("the alerts lease was lost: another process derives them")
                self.alerts_token = None
            elif not wanted:
                await broker.release({ALERTS_KEY: self.alerts_token})
                self.alerts_token = None
        if not wanted:
            if self.alerts_followed:
                await broker.unsubscribe(ALERTS_KEY)
                self.alerts_followed = False
            alerts.follow()
            return
        await broker.refresh_interest([ALERTS_KEY], ttl)
        if not self.alerts_followed:
            self._alerts_since_ms = time.time_ns() // 1_000_000
            await broker.subscribe(ALERTS_KEY)
            self.alerts_followed = True
        if self.alerts_token is None:
            token = (await broker.acquire([ALERTS_KEY], ttl)).get(ALERTS_KEY)
            if token is not None:
                epoch = alerts.derive(self._queue_alert)
                if await broker.publish_snapshot(ALERTS_KEY, token, epoch, 0, b"{}"):
                    log.info("deriving the cluster's alerts (epoch %s)", epoch)
                    self.alerts_token, self._alerts_epoch = token, epoch
                    self._spawn(self._publish_alerts(token, epoch))
                    return
            alerts.follow()

    async def _fill_alerts(self, epoch: str, after: int, seq: int, payload: bytes) -> None:
        """Adopt the events a follower missed (from the broker's history), then the one that showed the gap."""
        assert self.alerts is not None
        with contextlib.suppress(BrokerUnavailable):
            for missed_seq, missed in await self.broker.history(ALERTS_KEY, epoch, after) or []:
                self.alerts.adopt(epoch, missed_seq, missed, since_ms=self._alerts_since_ms)
        self.alerts.adopt(epoch, seq, payload)

    def _queue_alert(self, logged: LoggedEvent) -> None:
        self._alerts_queue.append(logged)
        self._alerts_wake.set()

    async def _publish_alerts(self, token: int, epoch: str) -> None:
        """Publish the derived events in order while this node holds the alerts lease."""
        try:
            while self.alerts_token == token:
                await self._alerts_wake.wait()
                self._alerts_wake.clear()
                while self._alerts_queue and self.alerts_token == token:
                    logged = self._alerts_queue.popleft()
                    if not await self.broker.publish_diff(ALERTS_KEY, token, epoch, logged.seq, logged.event.ts,
                                                          logged.payload, b"{}"):
                        self.alerts_token = None  # fenced off: another node derives now
        except BrokerUnavailable:
            pass  # the next tick sees the broker down and every node derives for itself
        finally:
            self._alerts_queue.clear()

    def _set_up(self, up: bool) -> None:
        if up == self.up:
            return
        self.up = up
        if up:
            log.info("broker available: following the cluster")
        for relay in self.relays.values():
            relay.signal("up" if up else "down")

    def _start_reader(self, truck: str, token: int) -> None:
        if truck in self.readers:
            self.readers[truck].token = token
            return
        self.readers[truck] = Reader(truck, token, self.broker, self._read, self._settings, self._reader_ended,
                                     feed=self._change_feed)

    def _reader_ended(self, reader: Reader, reason: str) -> None:
        if self.readers.get(reader.truck_id) is not reader:
            return
        del self.readers[reader.truck_id]
        self._orphaned.pop(reader.truck_id, None)
        if reason == "unknown":
            relay = self.relays.get(reader.truck_id)
            if relay is not None:
                relay.signal("unknown")
            self._spawn(self._give_back(reader))
        elif reason != "stopped":
            log.info("stopped reading %s for the cluster: %s", reader.truck_id, reason)
        self._spawn(reader.stop())

    async def _give_back(self, reader: Reader) -> None:
        with contextlib.suppress(BrokerUnavailable):
            await self.broker.release({reader.truck_id: reader.token})

    def _stop_reader(self, truck: str, reason: str) -> None:
        reader = self.readers.pop(truck, None)
        self._orphaned.pop(truck, None)
        if reader is not None:
            log.info("stopped reading %s for the cluster: %s", truck, reason)
            self._spawn(reader.stop())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
