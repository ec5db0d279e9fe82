"""One task per watched truck: read the row, diff it, publish at most one frame per tick.

A Poller is one life of a channel: its epoch is made when it starts and dies with it, so
a new poller always begins with a snapshot. Ticks sit on a grid of slots across the
interval (a truck's slot comes from its id), so a thousand pollers do not hit the database
in the same millisecond, and those sharing a slot share one batched query. A database
error never ends the task: subscribers get ``degraded``, the poller backs off
exponentially with jitter (capped), and the first good read sends ``live`` and whatever
changed meanwhile.

With a change feed (``--changes binlog``, ``gateway.live.feed``) the poller reads only to
join it: while the feed streams it takes the log position FIRST, then reads its row once
(the batched read), then takes the position again, and from then on applies the
after-images the feed pushes whose position is after the first one. Pushes at or before
it are already in the row read; of those between the two positions, the read holds the
ones up to the last whose image equals the row read (``_settle``), and only the later ones
are applied, so a join never moves the row back. Pushed rows go through the same
``ChannelStream.advance`` as read rows, so the frames are the same; staleness is checked
once a second on the row held (no query). When the feed stops streaming the poller polls
on its tick as above; when it streams again, or lost its position, the poller joins again:
same epoch, no snapshot, and the one read sends only what really changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from gateway.config import Settings
from gateway.core import protocol
from gateway.core import status as st
from gateway.core.channels import channel_of
from gateway.core.rows import Row
from gateway.core.stream import ChannelStream, reading_age_seconds
from gateway.core.wsframe import text_frame
from gateway.store import StoreUnavailable

if TYPE_CHECKING:
    from gateway.changes import Change
    from gateway.live.feed import ChangeFeed, Order

log = logging.getLogger(__name__)

MIN_SLOT_S = 0.05  # tick granularity: pollers of one 50 ms slot share a query
MAX_SLOTS = 20
SETTLE_S = 2.0  # longest wait for the feed to hand out what a join's read may hold


# What a poller hands its ``publish`` callback, with the frame: the hub fans frames out
# (and ignores STARTED, since each subscriber gets its snapshot when it attaches); a
# cluster reader hands every kind to the broker.
STARTED, SNAPSHOT, DIFF, STATUS, GONE = "started", "snapshot", "diff", "status", "gone"
# (source, frame, kind): the source is the Poller itself, or the relay channel standing for one.
Publish = Callable[[Any, bytes, str], None]


class FirstRead(Enum):
    """What the first read of a new poller found."""

    FOUND = "found"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"


def now_ms() -> int:
    """Wall-clock milliseconds since the Unix epoch (the frames' ``ts``)."""
    return time.time_ns() // 1_000_000


class Poller:
    """Reads one truck's row on an interval and publishes what changed."""

    def __init__(
        self,
        truck_id: str,
        read: Callable[[str], Awaitable[Row | None]],
        settings: Settings,
        publish: Publish,
        epoch: str | None = None,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.truck_id = truck_id
        self.channel = channel_of(truck_id)
        self.epoch = epoch or secrets.token_hex(4)
        self._read_row = read
        self._settings = settings
        self._publish = publish
        self.stream: ChannelStream | None = None
        self.status = st.INITIAL
        self._feed = feed
        self.joined: Order | None = None  # the log position joined at, while following the feed
        self._joining: Order | None = None  # the position of a join not yet settled
        self._held: list[tuple[Change, Order]] = []  # pushes after that position, until settled
        self._wake = asyncio.Event()
        self.pushes = 0  # pushed rows applied (the feed's work for this truck)
        loop = asyncio.get_running_loop()
        self.first_read: asyncio.Future[FirstRead] = loop.create_future()
        if feed is not None:
            feed.register(self)  # wanted before the first read, so no change of the row is skipped
        self.task = loop.create_task(self._run(), name=f"poller-{truck_id}")
        if feed is not None:
            self.task.add_done_callback(lambda _t: feed.unregister(self))

    @property
    def state(self) -> str:
        """``live``, ``stale`` or ``degraded`` (``gateway.core.status``)."""
        return self.status.state

    def status_frame(self) -> bytes | None:
        """The current status as a frame, or None while live (the snapshot says enough)."""
        if self.status.state == st.LIVE:
            return None
        return text_frame(protocol.status(self.channel, self.status.state, self.status.reason))

    def _enter(self, statuses: list[st.Status]) -> None:
        """Take the transitions the core decided, one status frame each."""
        for status in statuses:
            self.status = status
            self._publish(self, text_frame(protocol.status(self.channel, status.state, status.reason)), STATUS)

    def _first_tick_after(self, now: float) -> float:
        """This truck's next tick on the shared grid: the interval cut into slots, the truck
        in a fixed slot (from its id), so trucks spread over the interval while those of one
        slot wake together and share one query (``gateway.live.batch``)."""
        interval = self._settings.poll_interval
        slots = max(1, min(MAX_SLOTS, round(interval / MIN_SLOT_S)))
        offset = zlib.crc32(self.truck_id.encode()) % slots * interval / slots
        tick = (now - offset) // interval * interval + offset
        return tick + interval if tick <= now else tick

    async def _run(self) -> None:
        interval = self._settings.poll_interval
        failures = 0
        feed = self._feed
        while True:
            generation = feed.generation if feed is not None else 0
            position = await self._join_position() if feed is not None and feed.streaming else None
            self._joining, self._held = position, []
            try:
                row = await self._read_row(self.truck_id)
            except StoreUnavailable as exc:
                self._joining = None
                failures += 1
                if not self.first_read.done():
                    self.status = st.DB_UNAVAILABLE  # no subscriber yet: the ack path sends it
                    self.first_read.set_result(FirstRead.UNAVAILABLE)
                else:
                    self._enter(st.after_failure(self.status))
                log.warning("poller %s: %s (try %d)", self.truck_id, exc, failures)
                delay = min(self._settings.backoff_max, interval * 2 ** min(failures, 16))
                await asyncio.sleep(random.uniform(delay / 2, delay))
                continue
            failures = 0
            if not self._take(row):
                return
            if position is not None:
                await self._settle(position, row)
                await self._follow(generation)
                if feed is not None and feed.streaming:
                    continue  # the feed re-started or lost its position: join again now
            await self._until_next_tick(wake_on_feed=feed is not None and not feed.streaming)

    def _take(self, row: Row | None) -> bool:
        """Take a row read or pushed; False when the truck turned out not to exist."""
        if self.stream is None:
            return self._start_stream(row, not self.first_read.done())
        if row is None:
            self._enter(st.after_missing_row(self.status))
            return True
        frame = self.stream.advance(row, now_ms())
        before, after = self._after_read()
        self._enter(before)  # "live" again, then whatever changed meanwhile
        if frame is not None:
            self._publish(self, frame, DIFF)
        self._enter(after)
        return True

    async def _until_next_tick(self, wake_on_feed: bool) -> None:
        """Sleep to this truck's next tick (a slow read skips the ticks it overran instead of
        bunching up behind them); with ``wake_on_feed``, wake as soon as the feed streams."""
        loop = asyncio.get_running_loop()
        delay = self._first_tick_after(loop.time()) - loop.time()
        feed = self._feed
        if not wake_on_feed or feed is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                while True:
                    self._wake.clear()
                    if feed.streaming:
                        return
                    await self._wake.wait()

    # -- following the change feed ------------------------------------------------------
    async def _join_position(self) -> Order | None:
        """The log position to join at, or None when it cannot be read (this tick polls)."""
        assert self._feed is not None
        return await self._feed.join_position()

    async def _settle(self, position: Order, read: Row | None) -> None:
        """Decide which pushes after the join position the row read already held; apply the rest.

        The read ran between two positions of the log, ``position`` and ``after`` (taken once
        it returned). Pushes after ``after`` are newer than the read. Those in between are
        each either in the read or not, in commit order: the read holds them up to the last
        one whose after-image equals the row read, so only the ones after it are applied.
        Applying one the read already held would move the row back, then forward again.
        """
        feed = self._feed
        assert feed is not None
        after = await feed.join_position()
        if after is not None:
            await feed.wait_delivered(after, SETTLE_S)  # every push up to ``after`` is in
        held, self._held, self._joining = self._held, [], None
        self.joined = position  # from here a push after the join position is applied at once
        window = [c for c, o in held if after is None or o <= after]
        images = [None if c.kind == "delete" else c.row for c in window]
        cut = next((i + 1 for i in range(len(images) - 1, -1, -1) if images[i] == read), 0)
        for change in window[cut:]:
            self._apply(change)
        for change, order in held:
            if after is not None and order > after:
                self._apply(change)

    async def _follow(self, generation: int) -> None:
        """Apply pushed rows until the feed stops streaming or asks every poller to re-join."""
        feed = self._feed
        assert feed is not None
        try:
            while feed.streaming and feed.generation == generation:
                self._wake.clear()
                await self._wake.wait()
        finally:
            self.joined = None

    def push(self, change: Change, order: Order) -> None:
        """A committed change of this truck's row at log position ``order`` (from the feed)."""
        if self.joined is not None:
            if order > self.joined:
                self._apply(change)
        elif self._joining is not None and order > self._joining:
            self._held.append((change, order))  # settled once the join's read is back

    def _apply(self, change: Change) -> None:
        if self.stream is None:
            return
        self.pushes += 1
        self._take(None if change.kind == "delete" else change.row)

    def wake(self) -> None:
        """The feed's state changed (streaming, lost, position gone)."""
        self._wake.set()

    def check_staleness(self) -> None:
        """While following the feed: the staleness rule on the row held (no query)."""
        if self.joined is None or self.stream is None or self.status.state == st.DEGRADED:
            return  # degraded here means the row is gone: only a pushed row brings it back
        before, after = self._after_read()
        self._enter(before + after)

    def _start_stream(self, row: dict | None, first: bool) -> bool:
        """Begin the epoch with the first row read; False when the truck does not exist."""
        if row is None:
            if first:
                self.first_read.set_result(FirstRead.UNKNOWN)
            else:  # subscribed while the database was down, and the truck turned out not to exist
                self._publish(self, text_frame(protocol.error(
                    None, protocol.UNKNOWN_TRUCK, f"no truck {self.truck_id!r}; unsubscribed", channel=self.channel)),
                    GONE)
            return False
        self.stream = ChannelStream(self.channel, self.epoch, row, now_ms(), self._settings.ring_size)
        self._publish(self, self.stream.snapshot_frame(), STARTED)
        before, after = self._after_read()
        self._enter(before)
        if first:
            self.first_read.set_result(FirstRead.FOUND)
        else:  # recovered after a degraded start: subscribers get the snapshot they are owed
            self._publish(self, self.stream.snapshot_frame(), SNAPSHOT)
        self._enter(after)
        return True

    def _after_read(self) -> tuple[list[st.Status], list[st.Status]]:
        assert self.stream is not None
        age = reading_age_seconds(self.stream.row, dt.datetime.now(dt.UTC).replace(tzinfo=None))
        return st.after_read(self.status, age, self._settings.stale_after)

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
