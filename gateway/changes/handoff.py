"""Hand items from the reader's thread to the asyncio loop, in order, one wake-up per burst.

The reader thread appends to a deque under a lock; the first item after the loop has
drained schedules one ``drain`` with ``loop.call_soon_threadsafe``, and everything that
piles up before the loop runs it is delivered in that same call. Position marks (commits
that touched no followed row) replace a mark still waiting at the tail, so a burst of
unrelated transactions costs the loop one position update, and the loop never sees a
position ahead of a batch it has not yet delivered. ``lag`` says, during a delivery, how
long the oldest item of the burst waited for the loop: how far behind the loop is.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class Mark:
    """A position-only item: commits with nothing to deliver moved the position."""

    __slots__ = ("position",)

    def __init__(self, position: Any) -> None:
        self.position = position


class Handoff:
    """A thread-to-loop queue whose consumer is ``deliver(item)`` running in the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[Any], None]) -> None:
        self._loop = loop
        self._deliver = deliver
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._since = 0.0  # when the oldest queued item was put
        self.lag = 0.0  # seconds the oldest item of the burst being delivered waited
        self.closed = False
        self.wakeups = 0

    def put(self, item: Any) -> bool:
        """Queue an item from any thread; False once the loop is gone or the handoff closed."""
        with self._lock:
            if self.closed:
                return False
            if isinstance(item, Mark) and self._items and isinstance(self._items[-1], Mark):
                self._items[-1] = item
                return True
            if not self._items:
                self._since = time.monotonic()
            self._items.append(item)
            if self._scheduled:
                return True
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody is left to deliver to
            self.closed = True
            return False
        return True

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, deque()
            self._scheduled = False
            since = self._since
        self.lag = time.monotonic() - since if items else 0.0
        self.wakeups += 1
        for item in items:
            if self.closed:
                return
            self._deliver(item)

    def flush(self) -> None:
        """Deliver everything queued now; call in the loop (used when stopping)."""
        self._drain()

    def close(self) -> None:
        """Deliver nothing more (items still queued are dropped)."""
        with self._lock:
            self.closed = True
            self._items.clear()
