"""The ``alerts`` channel's recent events: a ring with seq, for resume and the REST fallback.

Rules:
- Within one epoch every event gets seq + 1 and is encoded once (``payload``), as the
  other channels' diffs are; the ring keeps the last ``size`` events, contiguous in seq.
- ``replay`` is resume (docs/PROTOCOL.md): every event after the client's seq when the epoch still
  lives and the ring still holds all of them, else None (the client missed some).
- ``page`` is ``GET /v1/alerts``: events after a cursor, oldest first, filtered by time
  and by the caller's grant; ``next_after`` is the cursor of the next page, None when no
  further event would pass the filters.
- ``adopt`` takes an event derived elsewhere (another process of a cluster) with its own
  epoch and seq: a new epoch or a seq gap empties the ring, so replay never skips silently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

from gateway.core.alerts.events import ALERTS_CHANNEL, Event, event_frame
from gateway.core.protocol import ResumePoint

Allowed = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event with its seq in the log's epoch and its encoded ``event`` frame payload."""

    seq: int
    event: Event
    payload: bytes


class AlertLog:
    """The last ``size`` events of the alerts channel in one epoch."""

    __slots__ = ("_ring", "channel", "epoch", "last_seq")

    def __init__(self, epoch: str, size: int, channel: str = ALERTS_CHANNEL) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self.channel = channel
        self.epoch = epoch
        self.last_seq = 0
        self._ring: deque[LoggedEvent] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def first_seq(self) -> int:
        """Seq of the oldest event held (``last_seq + 1`` when the ring is empty)."""
        return self._ring[0].seq if self._ring else self.last_seq + 1

    def append(self, event: Event) -> LoggedEvent:
        """Give ``event`` the next seq, encode its frame once and keep it."""
        return self._keep(self.last_seq + 1, event, None)

    def adopt(self, epoch: str, seq: int, event: Event, payload: bytes | None = None) -> LoggedEvent | None:
        """Keep an event numbered elsewhere; None for one already held (a duplicate)."""
        if epoch != self.epoch:
            self.epoch, self.last_seq = epoch, 0
            self._ring.clear()
        elif seq <= self.last_seq:
            return None
        if seq != self.last_seq + 1:
            self._ring.clear()
        return self._keep(seq, event, payload)

    def missed(self, after_seq: int) -> bool:
        """Whether some event after ``after_seq`` is no longer held."""
        return after_seq < self.last_seq and after_seq + 1 < self.first_seq

    def replay(self, since: ResumePoint, allowed: Allowed | None = None) -> list[LoggedEvent] | None:
        """Events after ``since`` (those ``allowed`` lets through), or None when some are gone."""
        if since.epoch != self.epoch or since.seq > self.last_seq or self.missed(since.seq):
            return None
        return [e for e in self._after(since.seq) if allowed is None or allowed(e.event.truck_id)]

    def page(
        self, after_seq: int, since_ms: int | None, limit: int, allowed: Allowed
    ) -> tuple[list[LoggedEvent], int | None]:
        """One page of events, oldest first.

        Args:
            after_seq: Cursor: only events with a greater seq (0 for the oldest held).
            since_ms: Only events with ``ts`` at or after this (ms), None for all.
            limit: At most this many events (>= 1).
            allowed: The caller's grant: whether it may see a truck's events.

        Returns:
            The events and the ``after_seq`` of the next page, None when nothing further
            passes the filters. Events dropped from the ring are skipped (see ``missed``).
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        items: list[LoggedEvent] = []
        for logged in self._after(after_seq):
            event = logged.event
            if (since_ms is not None and event.ts < since_ms) or not allowed(event.truck_id):
                continue
            if len(items) == limit:
                # One more match exists: the page is full and the cursor is worth following.
                return items, items[-1].seq
            items.append(logged)
        return items, None

    def newest(
        self, before_seq: int | None, since_ms: int | None, limit: int, allowed: Allowed
    ) -> tuple[list[LoggedEvent], int | None]:
        """One page of events, newest first (a feed's backfill).

        Args:
            before_seq: Cursor: only events with a smaller seq (None: from the newest).
            since_ms: Only events with ``ts`` at or after this (ms), None for all.
            limit: At most this many events (>= 1).
            allowed: The caller's grant.

        Returns:
            The events and the ``before_seq`` of the next page, None when nothing older passes.
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        items: list[LoggedEvent] = []
        for logged in reversed(self._ring):
            if before_seq is not None and logged.seq >= before_seq:
                continue
            event = logged.event
            if since_ms is not None and event.ts < since_ms:
                break  # older still: none of the rest can pass
            if not allowed(event.truck_id):
                continue
            if len(items) == limit:
                return items, items[-1].seq
            items.append(logged)
        return items, None

    def _after(self, after_seq: int) -> Iterator[LoggedEvent]:
        # Seqs in the ring are contiguous, so the start is an offset, not a search.
        return islice(self._ring, max(0, after_seq - self.first_seq + 1), None)

    def _keep(self, seq: int, event: Event, payload: bytes | None) -> LoggedEvent:
        if payload is None:
            payload = event_frame(self.epoch, seq, event, self.channel)
        logged = LoggedEvent(seq=seq, event=event, payload=payload)
        self._ring.append(logged)
        self.last_seq = seq
        return logged
