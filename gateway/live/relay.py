"""A watched truck in cluster mode: this process's copy of the channel the cluster's reader publishes.

The hub treats a ``RelayChannel`` like a poller (``stream``, ``status_frame``,
``first_read``, ``task``), so subscribing, snapshots, resume and fan-out do not change.

Rules:
- Following: subscribe to the truck's broker channel first, then read ``latest`` (and the
  history that fills the resume ring), then apply published frames strictly in seq order:
  a duplicate is dropped, a gap is filled from the broker's history, and when the history
  no longer reaches back, the copy resyncs from ``latest`` (subscribers get a snapshot,
  the seq jump visible, as for a slow consumer). A relay reconnect is treated as a gap.
- Every frame sent is the reader's own bytes, so clients of every process get the same
  frames (same epoch, seq and changed).
- Broker down: the channel reads the database itself through a local poller (its own
  epoch, starting with a snapshot) until the broker is back, then follows the cluster
  again (a new epoch for the subscribers, starting with a snapshot). No socket is closed.
- The truck's existence is taken from the cluster's state; only when the cluster has none
  is the database asked, once, so an unknown truck is ``unknown_truck`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from gateway.broker import DIFF, SNAPSHOT, STATUS, BrokerUnavailable, ChannelState, RelayCursor, Verdict
from gateway.config import Settings
from gateway.core import protocol
from gateway.core.channels import channel_of
from gateway.core.rows import Row
from gateway.core.stream import ChannelStream
from gateway.core.wsframe import text_frame
from gateway.live import poller as kinds
from gateway.live.poller import FirstRead, Poller
from gateway.store import StoreUnavailable

if TYPE_CHECKING:
    from gateway.live.cluster import Cluster

log = logging.getLogger(__name__)

_RECONNECT, _UP, _DOWN, _UNKNOWN = "reconnect", "up", "down", "unknown"
_MAX_INBOX = 4096  # frames waiting for this channel's task; past it the copy resyncs


class RelayChannel:
    """The local copy of one truck's cluster channel, and what feeds it."""

    def __init__(
        self,
        truck_id: str,
        cluster: Cluster,
        settings: Settings,
        publish: kinds.Publish,
        read: Callable[[str], Awaitable[Row | None]],
        exists: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.truck_id = truck_id
        self.channel = channel_of(truck_id)
        self._cluster = cluster
        self._settings = settings
        self._publish = publish
        self._read = read
        self._exists = exists
        self._copy: ChannelStream | None = None
        self._status: bytes | None = None  # the cluster's current status frame when not live
        self._state = "live"
        self._local: Poller | None = None
        self._cursor = RelayCursor()
        self._inbox: asyncio.Queue[tuple[str, str, int, bytes]] = asyncio.Queue()
        self._overflow = False
        self.first_read: asyncio.Future[FirstRead] = asyncio.get_running_loop().create_future()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"relay-{truck_id}")

    # -- what the hub reads ------------------------------------------------------------
    @property
    def stream(self) -> ChannelStream | None:
        return self._local.stream if self._local is not None else self._copy

    @property
    def state(self) -> str:
        """``live``, ``stale`` or ``degraded``, as the cluster's reader (or the local poller) says."""
        return self._local.state if self._local is not None else self._state

    def status_frame(self) -> bytes | None:
        """The channel's status frame while not live, else None."""
        return self._local.status_frame() if self._local is not None else self._status

    # -- what the cluster feeds in (on the loop, never blocking) ------------------------
    def deliver(self, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        if self._inbox.qsize() >= _MAX_INBOX:
            self._overflow = True  # the copy resyncs from latest once it catches up
            return
        self._inbox.put_nowait((kind, epoch, seq, payload))

    def signal(self, what: str) -> None:
        """``reconnect`` (gap-fill), ``up``/``down`` (broker health), ``unknown`` (the reader found no row)."""
        self._inbox.put_nowait((what, "", 0, b""))

    # -- the task ----------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while True:
                if self._cluster.up:
                    with contextlib.suppress(BrokerUnavailable):
                        if await self._follow():
                            return
                if await self._run_local():
                    return
        finally:
            self._cluster.relay_ended(self)
            if self._local is not None:
                await self._local.stop()

    async def _follow(self) -> bool:
        """Follow the cluster's channel until the broker goes down; True when the channel ends."""
        broker = self._cluster.broker
        await broker.subscribe(self.truck_id)
        state = await broker.latest(self.truck_id)
        if state is not None and await broker.holder(self.truck_id) is not None:
            await self._adopt_state(state)
        elif self._copy is None and not self.first_read.done():
            try:
                if not await self._exists(self.truck_id):
                    self.first_read.set_result(FirstRead.UNKNOWN)
                    return True
            except StoreUnavailable:
                pass  # the reader will tell: its snapshot, or "unknown"
        self._cluster.kick()
        while True:
            kind, epoch, seq, payload = await self._next()
            if kind == _DOWN:
                return False
            if kind == _UNKNOWN:
                return self._gone()
            if kind in (_RECONNECT, _UP) or self._overflow:
                await self._fill()
                continue
            if kind not in (SNAPSHOT, DIFF, STATUS):
                continue
            verdict = self._cursor.observe(kind, epoch, seq)
            if verdict is Verdict.NEW_EPOCH:
                self._new_epoch(epoch, payload)
            elif verdict is Verdict.DELIVER:
                self._apply(kind, seq, payload)
            elif verdict is Verdict.GAP:
                await self._fill()

    async def _next(self) -> tuple[str, str, int, bytes]:
        if self.first_read.done() or self._copy is not None:
            return await self._inbox.get()
        # Nothing to show yet: bound the wait so the subscriber hears "degraded" rather than nothing.
        try:
            return await asyncio.wait_for(self._inbox.get(), 2 * self._settings.lease_ttl)
        except TimeoutError:
            self._set_status(protocol.status(self.channel, "degraded", "waiting for the cluster's reader"), "degraded")
            self.first_read.set_result(FirstRead.UNAVAILABLE)
            return await self._inbox.get()

    def _set_status(self, payload: bytes | None, state: str) -> None:
        self._status = text_frame(payload) if payload is not None and state != "live" else None
        self._state = state

    def _back_to_live(self) -> None:
        """Leaving a status of our own making (waiting, or a local poller's): tell subscribers."""
        if self._state != "live" and self.first_read.done():
            self._publish(self, text_frame(protocol.status(self.channel, "live", "following the cluster")),
                          kinds.STATUS)
        self._set_status(None, "live")

    def _new_epoch(self, epoch: str, payload: bytes) -> None:
        frame = orjson.loads(payload)
        self._copy = ChannelStream(self.channel, epoch, frame["data"], frame["ts"], self._settings.ring_size)
        self._end_local()
        self._back_to_live()
        self._first_copy(text_frame(payload))

    def _first_copy(self, snapshot: bytes) -> None:
        """The copy exists: a first one is STARTED (as a poller's first read), a later one a new snapshot."""
        if not self.first_read.done():
            self._publish(self, snapshot, kinds.STARTED)
            self.first_read.set_result(FirstRead.FOUND)
        else:
            self._publish(self, snapshot, kinds.SNAPSHOT)

    def _apply(self, kind: str, seq: int, payload: bytes) -> None:
        if kind == STATUS:
            self._set_status(payload, orjson.loads(payload)["state"])
            self._publish(self, text_frame(payload), kinds.STATUS)
            return
        assert self._copy is not None
        frame = self._copy.adopt(seq, payload)
        if frame is not None:
            self._publish(self, frame, kinds.DIFF)

    async def _fill(self) -> None:
        """Catch up after a gap: the missed diffs from history, else a resync from latest."""
        broker = self._cluster.broker
        self._overflow = False
        copy = self._copy
        if copy is not None:
            missed = await broker.history(self.truck_id, copy.epoch, copy.seq)
            if missed is not None:
                for seq, payload in missed:
                    self._apply(DIFF, seq, payload)
                self._cursor.reset(copy.epoch, copy.seq)
                return
        state = await broker.latest(self.truck_id)
        if state is not None:
            await self._adopt_state(state)

    async def _adopt_state(self, state: ChannelState) -> None:
        """Take the cluster's current state as this copy's base (a join or a resync)."""
        copy = ChannelStream(self.channel, state.epoch, state.row, state.ts, self._settings.ring_size, seq=state.seq)
        if state.seq:
            low = max(0, state.seq - self._settings.ring_size)
            copy.preload(await self._cluster.broker.history(self.truck_id, state.epoch, low) or [])
        same = self._copy is not None and self._copy.epoch == state.epoch and self._copy.seq == state.seq
        self._copy = copy
        self._end_local()
        self._back_to_live()
        if state.status is not None:
            self._set_status(state.status, orjson.loads(state.status)["state"])
        self._cursor.reset(state.epoch, state.seq)
        if not self.first_read.done():
            self._first_copy(copy.snapshot_frame())
        elif not same:  # subscribers see the jump (seq, or a new epoch) with a fresh snapshot
            self._publish(self, copy.snapshot_frame(), kinds.SNAPSHOT)
            if self._status is not None:
                self._publish(self, self._status, kinds.STATUS)

    def _gone(self) -> bool:
        if not self.first_read.done():
            self.first_read.set_result(FirstRead.UNKNOWN)
        else:
            self._publish(self, text_frame(protocol.error(
                None, protocol.UNKNOWN_TRUCK, f"no truck {self.truck_id!r}; unsubscribed", channel=self.channel)),
                kinds.GONE)
        return True

    # -- broker down: read the database here --------------------------------------------
    async def _run_local(self) -> bool:
        """Poll locally until the broker is back; True when the channel ends (unknown truck)."""
        if self._local is None or self._local.task.done():
            self._local = Poller(self.truck_id, self._read, self._settings, self._local_frame)
            self._copy = None
            self._set_status(None, "live")
        result = await asyncio.shield(self._local.first_read)
        if not self.first_read.done():
            self.first_read.set_result(result)
        if result is FirstRead.UNKNOWN:
            return True
        while True:
            # Always wait at least once: following may have failed while the cluster still
            # looks up (the relay link reconnecting), and retrying at once would spin.
            # Frames relayed meanwhile belong to the cluster's copy, rebuilt on return.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._inbox.get(), self._settings.lease_ttl / 3)
            if self._cluster.up:
                return False

    def _local_frame(self, poller: Poller, frame: bytes, kind: str) -> None:
        if poller is not self._local:
            return
        if kind == kinds.STARTED and self.first_read.done():
            kind = kinds.SNAPSHOT  # a new epoch for subscribers who had the cluster's
        self._publish(self, frame, kind)

    def _end_local(self) -> None:
        local, self._local = self._local, None
        if local is not None:
            self._state = local.state  # so a degraded or stale local view is announced as left
            local.task.cancel()

    async def stop(self) -> None:
        """End the channel (its last subscriber left, or shutdown)."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
