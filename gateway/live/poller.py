"""One task per watched truck: read the row, diff it, publish at most one frame per tick.

A Poller is one life of a channel: its epoch is made when it starts and dies with it, so
a new poller always begins with a snapshot. Ticks sit on a grid of slots across the
interval (a truck's slot comes from its id), so a thousand pollers do not hit the database
in the same millisecond, and those sharing a slot share one batched query. A database
error never ends the task: subscribers get ``degraded``, the poller backs off
exponentially with jitter (capped), and the first good read sends ``live`` and whatever
changed meanwhile.
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
from typing import Any

from gateway.config import Settings
from gateway.core import protocol
from gateway.core import status as st
from gateway.core.channels import channel_of
from gateway.core.rows import Row
from gateway.core.stream import ChannelStream, reading_age_seconds
from gateway.core.wsframe import text_frame
from gateway.store import StoreUnavailable

log = logging.getLogger(__name__)

MIN_SLOT_S = 0.05  # tick granularity: pollers of one 50 ms slot share a query
MAX_SLOTS = 20


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
    ) -> None:
        self.truck_id = truck_id
        self.channel = channel_of(truck_id)
        self.epoch = epoch or secrets.token_hex(4)
        self._read_row = read
        self._settings = settings
        self._publish = publish
        self.stream: ChannelStream | None = None
        self.status = st.INITIAL
        self.first_read: asyncio.Future[FirstRead] = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"poller-{truck_id}")

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
        loop = asyncio.get_running_loop()
        first = True
        while True:
            try:
                row = await self._read_row(self.truck_id)
            except StoreUnavailable as exc:
                failures += 1
                if first:
                    first = False
                    self.status = st.DB_UNAVAILABLE  # no subscriber yet: the ack path sends it
                    self.first_read.set_result(FirstRead.UNAVAILABLE)
                else:
                    self._enter(st.after_failure(self.status))
                log.warning("poller %s: %s (try %d)", self.truck_id, exc, failures)
                delay = min(self._settings.backoff_max, interval * 2 ** min(failures, 16))
                await asyncio.sleep(random.uniform(delay / 2, delay))
                continue
            failures = 0
            if first or self.stream is None:
                if not self._start_stream(row, first):
                    return
                first = False
            elif row is not None:
                frame = self.stream.advance(row, now_ms())
                before, after = self._after_read()
                self._enter(before)  # "live" again, then whatever changed meanwhile
                if frame is not None:
                    self._publish(self, frame, DIFF)
                self._enter(after)
            else:
                self._enter(st.after_missing_row(self.status))
            # A slow read skips the ticks it overran instead of bunching up behind them.
            await asyncio.sleep(self._first_tick_after(loop.time()) - loop.time())

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
