"""One task per watched truck: read the row, diff it, publish at most one frame per tick.

A Poller is one life of a channel: its epoch is made when it starts and dies with it, so
a new poller always begins with a snapshot. Ticks are phase-shifted at random within the
interval, so a thousand pollers started together do not hit the database in the same
millisecond. A database error never ends the task: subscribers get ``degraded``, the
poller backs off exponentially with jitter (capped), and the first good read sends
``live`` and whatever changed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import secrets
import time
from collections.abc import Callable
from enum import Enum

from gateway.config import Settings
from gateway.core import protocol
from gateway.core.channels import channel_of
from gateway.core.stream import ChannelStream, reading_age_seconds
from gateway.core.wsframe import text_frame
from gateway.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


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
        store: Store,
        settings: Settings,
        publish: Callable[[Poller, bytes], None],
        observe_poll: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.truck_id = truck_id
        self.channel = channel_of(truck_id)
        self.epoch = secrets.token_hex(4)
        self._store = store
        self._settings = settings
        self._publish = publish
        self._observe_poll = observe_poll
        self.stream: ChannelStream | None = None
        self.state = "live"
        self.reason = ""
        self.first_read: asyncio.Future[FirstRead] = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"poller-{truck_id}")

    def status_frame(self) -> bytes | None:
        """The current status as a frame, or None while live (the snapshot says enough)."""
        if self.state == "live":
            return None
        return text_frame(protocol.status(self.channel, self.state, self.reason))

    def _set_state(self, state: str, reason: str) -> None:
        if state == self.state:
            return
        self.state, self.reason = state, reason
        self._publish(self, text_frame(protocol.status(self.channel, state, reason)))

    async def _read(self) -> dict | None:
        started = time.perf_counter()
        try:
            return await self._store.fetch_sensor_row(self.truck_id)
        finally:
            self._observe_poll(time.perf_counter() - started)

    async def _run(self) -> None:
        interval = self._settings.poll_interval
        failures = 0
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + random.uniform(0, interval)
        first = True
        while True:
            try:
                row = await self._read()
            except StoreUnavailable as exc:
                failures += 1
                if first:
                    first = False
                    self.state, self.reason = "degraded", "database unavailable"
                    self.first_read.set_result(FirstRead.UNAVAILABLE)
                else:
                    self._set_state("degraded", "database unavailable")
                log.warning("poller %s: %s (try %d)", self.truck_id, exc, failures)
                delay = min(self._settings.backoff_max, interval * 2 ** min(failures, 16))
                await asyncio.sleep(random.uniform(delay / 2, delay))
                next_tick = loop.time()
                continue
            failures = 0
            if first or self.stream is None:
                if not self._start_stream(row, first):
                    return
                first = False
            elif row is not None:
                frame = self.stream.advance(row, now_ms())
                if self.state == "degraded":
                    self._set_state("live", "database reachable again")
                if frame is not None:
                    self._publish(self, frame)
            else:
                self._set_state("degraded", "truck row missing")
            self._check_staleness()
            next_tick += interval
            delay = next_tick - loop.time()
            if delay < 0:  # fell behind (slow database): skip missed ticks, keep the phase
                next_tick += -delay // interval * interval + interval
                delay = next_tick - loop.time()
            await asyncio.sleep(delay)

    def _start_stream(self, row: dict | None, first: bool) -> bool:
        """Begin the epoch with the first row read; False when the truck does not exist."""
        if row is None:
            if first:
                self.first_read.set_result(FirstRead.UNKNOWN)
            else:  # subscribed while the database was down, and the truck turned out not to exist
                self._publish(self, text_frame(protocol.error(
                    None, protocol.UNKNOWN_TRUCK, f"no truck {self.truck_id!r}; unsubscribed", channel=self.channel)))
            return False
        self.stream = ChannelStream(self.channel, self.epoch, row, now_ms(), self._settings.ring_size)
        if first:
            self.first_read.set_result(FirstRead.FOUND)
        else:  # recovered after a degraded start: subscribers get the snapshot they are owed
            self.state, self.reason = "live", ""
            self._publish(self, text_frame(protocol.status(self.channel, "live", "database reachable again")))
            self._publish(self, self.stream.snapshot_frame())
        return True

    def _check_staleness(self) -> None:
        if self.stream is None or self.state == "degraded":
            return
        age = reading_age_seconds(self.stream.row, dt.datetime.now(dt.UTC).replace(tzinfo=None))
        if age is not None and age > self._settings.stale_after:
            self._set_state("stale", f"no reading for {int(age)} s")
        elif self.state == "stale":
            self._set_state("live", "reporting again")

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
