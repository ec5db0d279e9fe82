"""Rate limits and budgets: pure, the caller passes the clock.

- ``TokenBucket``: ``rate`` per second sustained, ``burst`` at once (client messages, REST).
- ``LeakyBucket``: a budget of violations that drains over time, so a client that slips now
  and then is forgiven while one that keeps misbehaving fills it and is closed. A plain
  counter never forgets: a client averaging below the limit was closed after a few bursts.
- ``KeyedBuckets``: one token bucket per client key (an address), bounded in memory: the
  least recently seen keys are forgotten first (a forgotten key simply starts full again).
"""

from __future__ import annotations

import math
from collections import OrderedDict


class TokenBucket:
    """Allows ``burst`` messages at once and ``rate`` per second sustained."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    def allow(self, now: float) -> bool:
        """Take one token if there is one; refills by elapsed time first."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def retry_after(self, now: float) -> float:
        """Seconds until one token is available again (0 when one is)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    @property
    def full(self) -> bool:
        """True when nothing was taken since the last refill reached the burst."""
        return self._tokens >= self.burst


class LeakyBucket:
    """A budget that holds ``capacity`` and drains at ``leak_per_s``.

    ``add`` pours violations in; it answers True once the level overflows the capacity,
    which is when the caller gives up on the client. With ``capacity = n - 1`` the n-th
    violation in a quick run overflows, as with a plain counter; spaced out, they drain.
    """

    __slots__ = ("_last", "capacity", "leak_per_s", "level")

    def __init__(self, capacity: float, leak_per_s: float, now: float) -> None:
        self.capacity = float(capacity)
        self.leak_per_s = leak_per_s
        self.level = 0.0
        self._last = now

    def add(self, amount: float, now: float) -> bool:
        """Drain by elapsed time, then add ``amount``; True when the budget is exhausted."""
        elapsed = max(0.0, now - self._last)
        self._last = now
        self.level = max(0.0, self.level - elapsed * self.leak_per_s) + amount
        return self.level > self.capacity


class KeyedBuckets:
    """A token bucket per key, at most ``max_keys`` of them (least recently used go first)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float) -> float:
        """Take one token for ``key``: 0 when allowed, else the seconds to wait (> 0)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        if bucket.allow(now):
            return 0.0
        return max(bucket.retry_after(now), 1e-3)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1 (RFC 9110 allows no fractions)."""
    return str(max(1, math.ceil(seconds)))
