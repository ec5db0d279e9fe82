"""The ``fleet`` channel: every truck a grant allows, as one subscription.

Rules:
- The fan-out is itself a subscriber of every truck watch it needs, so those watches live
  (and linger) exactly as if a client watched each truck by name, and its frames are the
  ordinary ``truck:<id>`` frames, each truck with its own epoch and seq.
- Frames that reach it in one turn of the event loop (the trucks of one poll slot wake
  together) go out to each fleet subscriber as ONE socket write; subscribers whose grant
  sees every truck and who hold no truck by name share one joined buffer (encoded once).
- Every frame is logged in the ``FleetLog`` with a position, and each write ends with a
  ``position`` frame: on reconnect a dashboard resumes from it and gets only what changed.
- A truck a subscriber also holds by name reaches it once, by name.
- A subscriber that joins while frames of this turn wait to be written does not get
  those frames: its starting frames (the trucks' current snapshots, or a replay up to the
  log's position) already hold them.
- New trucks are found by re-listing the table's keys every ``--fleet-refresh`` seconds
  (an index-only scan of the primary key) while anyone is subscribed.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterable

from gateway.core.fleetlog import FleetLog
from gateway.core.wsframe import text_frame
from gateway.live.subscriber import Subscriber

FLEET = "fleet"


class FleetFanout:
    """Batches truck frames per loop turn for the fleet's subscribers, and logs them."""

    def __init__(self, log_size: int, on_sent: Callable[[int, int], None]) -> None:
        self.log = FleetLog(secrets.token_hex(4), log_size)
        self.subscribers: set[Subscriber] = set()
        self.trucks: set[str] = set()  # the truck watches the fleet holds
        self._pending: list[tuple[str, bytes]] = []
        self._joined: dict[Subscriber, int] = {}  # joined this turn: pending frames its start held
        self._scheduled = False
        self._on_sent = on_sent  # (frames, writes), counted once per flush

    # -- as a subscriber of each truck watch --------------------------------------------
    subscriptions: set[str] = frozenset()  # type: ignore[assignment]  # never holds a channel itself
    closed = False

    def send(self, frame: bytes, channel: str | None = None) -> None:
        """A frame of one fleet truck (``channel`` is its id): logged now, written at the turn's end."""
        assert channel is not None
        self.log.append(channel, frame)
        if not self.subscribers:
            return
        self._pending.append((channel, frame))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def cancel_tasks(self) -> None:
        return None

    # -- writing ------------------------------------------------------------------------
    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        joined, self._joined = self._joined, {}
        if not pending:
            return
        tail = text_frame(self.log.position_frame())
        shared: bytes | None = None
        frames = writes = 0
        for conn in self.subscribers:
            held = joined.get(conn, 0)
            if held:
                items = [(t, f) for t, f in pending[held:] if conn.grant.allows(t) and t not in conn.subscriptions]
                if not items:
                    continue
                blob = b"".join(frame for _, frame in items) + tail
            elif conn.grant.trucks is None and not conn.subscriptions:
                if shared is None:
                    shared = b"".join(frame for _, frame in pending) + tail
                items = pending
                blob = shared
            else:
                items = [(t, f) for t, f in pending if conn.grant.allows(t) and t not in conn.subscriptions]
                if not items:
                    continue
                blob = b"".join(frame for _, frame in items) + tail
            conn.send_batch(blob, items, tail)
            frames += len(items) + 1
            writes += 1
        self._on_sent(frames, writes)

    def initial(self, conn: Subscriber, items: Iterable[tuple[str, bytes]]) -> int:
        """Send a new subscriber its starting frames (snapshots or a replay) and its position."""
        chosen = [(t, f) for t, f in items if t not in conn.subscriptions]
        if self._pending:
            self._joined[conn] = len(self._pending)
        tail = text_frame(self.log.position_frame())
        conn.send_batch(b"".join(f for _, f in chosen) + tail, chosen, tail)
        return len(chosen) + 1
