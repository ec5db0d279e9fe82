"""One client's send path: write straight to the socket, queue only under backpressure.

Why this shape: a queue and a writer task per connection costs a put, a get
and a task switch per frame per recipient. Here a frame for a socket whose transport is
not paused is written at once with one ``transport.write`` of pre-built bytes. Only when
the transport reports backpressure (``writing_paused``) do frames wait, in a per-connection
queue bounded in bytes, drained by one task that exists only while the queue does.

When the queue passes its bound, the pending data frames of each channel are replaced by
one fresh snapshot of that channel (the client sees the seq jump); a connection still over
the bound, or unwritable for longer than the hard limit, is closed with 4008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.server.auth import OPEN_GRANT, Grant

log = logging.getLogger(__name__)

CONTROL, DATA = 0, 1  # queued frame kinds: control frames are never dropped
CLOSE_SLOW_CONSUMER = 4008
_CLOSE_GRACE_S = 2.0


class Connection:
    """Server side of one WebSocket client."""

    __slots__ = (
        "_closer", "_flusher", "_protocol", "_transport", "buffer_limit", "closed", "feeds", "grant", "on_slow",
        "pending",
        "pending_bytes", "remote", "send_timeout", "session", "snapshot_of", "subscriptions", "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.BaseRequest,
        *,
        buffer_limit: int,
        send_timeout: float,
        snapshot_of: Callable[[str], bytes | None],
        on_slow: Callable[[str], None],
    ) -> None:
        self.ws = ws
        self._transport: Any = request.transport
        self._protocol: Any = request.protocol
        self.remote = request.remote or "?"
        self.session = secrets.token_hex(8)
        self.buffer_limit = buffer_limit
        self.send_timeout = send_timeout
        self.snapshot_of = snapshot_of
        self.on_slow = on_slow
        self.subscriptions: set[str] = set()
        self.feeds: set[str] = set()  # "fleet", "alerts"
        self.grant: Grant = OPEN_GRANT
        self.pending: deque[tuple[int, str | None, bytes]] | None = None
        self.pending_bytes = 0
        self.closed = False
        self._flusher: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def send(self, frame: bytes, channel: str | None = None) -> None:
        """Send a complete frame; ``channel`` marks channel data that a resync may replace."""
        if self._written_now(frame) or self.closed:
            return
        self._enqueue(DATA if channel else CONTROL, channel, frame)

    def send_batch(self, blob: bytes, items: list[tuple[str, bytes]], tail: bytes) -> None:
        """Send the fleet's frames of one tick: ``blob`` is ``items`` then ``tail``, joined.

        A writable socket takes the whole blob in one write; a backpressured one queues the
        trucks' frames one by one (so a resync can replace them per truck) and the tail.
        """
        if self._written_now(blob) or self.closed:
            return
        for truck, frame in items:
            self._enqueue(DATA, truck, frame)
        self._enqueue(CONTROL, None, tail)

    def _written_now(self, data: bytes) -> bool:
        """Write ``data`` at once when nothing is queued and the socket takes it; True when
        that happened or the socket is gone (``closed`` then says so), False: queue it."""
        if self.pending is not None:
            return False
        transport = self._transport
        if transport is None or transport.is_closing():
            self.closed = True
            return True
        if self._protocol.writing_paused:
            return False
        transport.write(data)
        return True

    def _enqueue(self, kind: int, channel: str | None, frame: bytes) -> None:
        if self.pending is None:
            self.pending = deque()
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name=f"flush-{self.session}")
        self.pending.append((kind, channel, frame))
        self.pending_bytes += len(frame)
        if self.pending_bytes > self.buffer_limit:
            self._resync()

    def _resync(self) -> None:
        """Replace queued channel data by one fresh snapshot per channel, or give up (4008)."""
        assert self.pending is not None
        channels: list[str] = []
        kept: deque[tuple[int, str | None, bytes]] = deque()
        for item in self.pending:
            kind, channel, _ = item
            if kind == DATA and channel is not None:
                if channel not in channels:
                    channels.append(channel)
            else:
                kept.append(item)
        for channel in channels:
            followed = channel in self.subscriptions or ("fleet" in self.feeds and self.grant.allows(channel))
            snapshot = self.snapshot_of(channel) if followed else None
            if snapshot is not None:
                kept.append((DATA, channel, snapshot))
        self.pending = kept
        self.pending_bytes = sum(len(f) for _, _, f in kept)
        if self.pending_bytes > self.buffer_limit:
            self.on_slow("close")
            self.abort_slow("send buffer still over its bound after a resync")
        else:
            self.on_slow("resync")

    async def _flush(self) -> None:
        """Drain the queue as the transport accepts data; close on the hard limit."""
        try:
            while self.pending:
                if self._protocol.writing_paused:
                    # A stuck peer never resumes us: bound the wait (hard limit).
                    await asyncio.wait_for(self._protocol._drain_helper(), self.send_timeout)
                transport = self._transport
                if transport is None or transport.is_closing():
                    break
                while self.pending and not self._protocol.writing_paused:
                    _, _, frame = self.pending.popleft()
                    self.pending_bytes -= len(frame)
                    transport.write(frame)
        except TimeoutError:
            self.on_slow("close")
            self.abort_slow(f"socket unwritable for {self.send_timeout:g} s")
        except (ConnectionError, RuntimeError):
            self.closed = True
        finally:
            if not self.closed:
                self.pending = None
                self.pending_bytes = 0
            self._flusher = None

    def abort_slow(self, reason: str) -> None:
        """Close a connection that cannot keep up with 4008, without waiting on its buffer."""
        if self.closed:
            return
        self.closed = True
        self.pending = None
        self.pending_bytes = 0
        log.info("closing slow consumer %s (%s): %s", self.session, self.remote, reason)
        self._closer = asyncio.get_running_loop().create_task(self._close_slow(), name=f"close-{self.session}")

    async def _close_slow(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=CLOSE_SLOW_CONSUMER, message=b"slow consumer", drain=False),
                                   _CLOSE_GRACE_S)
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        elif transport is not None:
            # close() waits for the buffer to flush, which a stalled peer never allows.
            asyncio.get_running_loop().call_later(_CLOSE_GRACE_S, transport.abort)

    def abort(self) -> None:
        """Drop the TCP connection now, discarding anything still buffered."""
        self.closed = True
        if self._transport is not None:
            self._transport.abort()  # also after a graceful close() that a stalled peer never lets finish

    def cancel_tasks(self) -> None:
        """Stop the flusher when the connection ends (the closer finishes by itself)."""
        self.closed = True
        if self._flusher is not None:
            self._flusher.cancel()
