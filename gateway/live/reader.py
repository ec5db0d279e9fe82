"""The cluster's one reader of a truck: a poller whose frames go to the broker, not to sockets.

The process holding a truck's lease runs one ``Reader``. Its poller reads the row exactly as
a local poller does (same batching, same statuses, its own epoch); every frame it makes is
handed to the broker in order, through one drain task, and reaches the sockets of every
process (this one included) through the broker's relay. A publish the broker refuses
(fenced: the lease is no longer ours) or cannot take (broker down) ends the reader: it may
no longer speak for the truck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from gateway.broker import Broker, BrokerUnavailable
from gateway.config import Settings
from gateway.core.rows import Row
from gateway.core.wsframe import payload_of
from gateway.live.poller import DIFF, GONE, STARTED, STATUS, FirstRead, Poller

if TYPE_CHECKING:
    from gateway.live.feed import ChangeFeed

log = logging.getLogger(__name__)


class Reader:
    """Reads one truck for the cluster while this process holds its lease (fencing ``token``)."""

    def __init__(
        self,
        truck_id: str,
        token: int,
        broker: Broker,
        read: Callable[[str], Awaitable[Row | None]],
        settings: Settings,
        ended: Callable[[Reader, str], None],
        feed: ChangeFeed | None = None,
    ) -> None:
        self.truck_id = truck_id
        self.token = token
        self._broker = broker
        self._ended = ended
        self._queue: deque[tuple[str, bytes, int, int, bytes]] = deque()
        self._wake = asyncio.Event()
        self.poller = Poller(truck_id, read, settings, self._on_frame, feed=feed)
        self._drain = asyncio.get_running_loop().create_task(self._publish_all(), name=f"reader-{truck_id}")
        self.poller.first_read.add_done_callback(self._first_read)

    def _first_read(self, result: asyncio.Future[FirstRead]) -> None:
        if not result.cancelled() and result.result() is FirstRead.UNKNOWN:
            self._finish("unknown")

    def _on_frame(self, poller: Poller, frame: bytes, kind: str) -> None:
        stream = poller.stream
        if kind == GONE:
            self._finish("unknown")
            return
        if kind not in (STARTED, DIFF, STATUS) or stream is None:
            return  # SNAPSHOT repeats STARTED's frame for local subscribers: relays already had it
        # The row is encoded now, as of this frame: the stream may move on before it is published.
        row_json = orjson.dumps(stream.row) if kind != STATUS else b""
        self._queue.append((kind, payload_of(frame), stream.seq, stream.ts, row_json))
        self._wake.set()

    async def _publish_all(self) -> None:
        broker, truck, epoch = self._broker, self.truck_id, self.poller.epoch
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    kind, payload, seq, ts, row_json = self._queue.popleft()
                    if kind == STARTED:
                        ok = await broker.publish_snapshot(truck, self.token, epoch, ts, row_json)
                    elif kind == DIFF:
                        ok = await broker.publish_diff(truck, self.token, epoch, seq, ts, payload, row_json)
                    else:
                        ok = await broker.publish_status(truck, self.token, epoch, payload)
                    if not ok:
                        self._finish("fenced")
                        return
        except BrokerUnavailable:
            self._finish("broker unavailable")

    def _finish(self, reason: str) -> None:
        if self._drain.done() and reason != "stopped":
            return
        self.poller.task.cancel()
        if not self._drain.done() and asyncio.current_task() is not self._drain:
            self._drain.cancel()
        self._ended(self, reason)

    async def stop(self) -> None:
        """Stop reading and publishing; wait for both tasks."""
        self.poller.task.cancel()
        self._drain.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.poller.task
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._drain
