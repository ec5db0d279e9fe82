"""A short memory of truck ids that do not exist: pure, the caller passes the clock.

Looking up a made-up id costs a query; without a memory a client can make the gateway run
one per message. A miss is remembered for ``ttl`` seconds only, so a truck created later
becomes subscribable within that time. The memory is bounded: past ``max_entries`` the
oldest misses are forgotten first (they are also the first to expire).
"""

from __future__ import annotations

from collections import OrderedDict


class MissCache:
    """Remembers misses (keys known not to exist) for ``ttl`` seconds."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._until: OrderedDict[str, float] = OrderedDict()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._until)

    def add(self, key: str, now: float) -> None:
        """Remember that ``key`` does not exist (as of ``now``)."""
        if self.ttl <= 0:
            return
        self._until.pop(key, None)
        self._until[key] = now + self.ttl
        # Every entry has the same ttl, so the oldest is also the first to expire.
        while self._until and next(iter(self._until.values())) <= now:
            self._until.popitem(last=False)
        while len(self._until) > self.max_entries:
            self._until.popitem(last=False)

    def forget(self, key: str) -> None:
        """Drop ``key`` (it was found after all)."""
        self._until.pop(key, None)

    def known_missing(self, key: str, now: float) -> bool:
        """True while ``key`` is remembered as missing; expired entries are dropped."""
        until = self._until.get(key)
        if until is None:
            return False
        if until <= now:
            del self._until[key]
            return False
        self.hits += 1
        return True
