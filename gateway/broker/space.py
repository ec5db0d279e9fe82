"""Keys with millisecond expiries and Pub/Sub subscribers, in process memory.

The ``MemoryBroker`` twin of a Redis server: brokers opened on the same
``memory://<name>`` share one space (and so form a cluster inside the process). Expiry
is lazy, on a monotonic clock, as Redis's is from a client's point of view.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.broker.memory import MemoryBroker


class MemorySpace:
    """Keys with expiries and Pub/Sub subscribers shared by the brokers of one memory URL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, Any] = {}
        self._expiry: dict[str, float] = {}
        self.subscribers: dict[str, set[MemoryBroker]] = {}

    def now_ms(self) -> float:
        """The space's clock in milliseconds."""
        return self._clock() * 1000.0

    def get(self, key: str) -> Any:
        """The live value of ``key`` or None (an expired key is removed on the way)."""
        expiry = self._expiry.get(key)
        if expiry is not None and expiry <= self.now_ms():
            self.delete(key)
        return self._data.get(key)

    def set(self, key: str, value: Any, ttl_ms: float | None = None) -> None:
        """Store ``value``; ``ttl_ms`` None clears any expiry (as Redis SET does)."""
        self._data[key] = value
        if ttl_ms is None:
            self._expiry.pop(key, None)
        else:
            self._expiry[key] = self.now_ms() + ttl_ms

    def expire(self, key: str, ttl_ms: float) -> None:
        """Set the expiry of an existing key."""
        if self.get(key) is not None:
            self._expiry[key] = self.now_ms() + ttl_ms

    def expire_at(self, key: str, when_ms: float) -> None:
        """Set the absolute expiry (space clock, ms) of an existing key."""
        if self.get(key) is not None:
            self._expiry[key] = when_ms

    def delete(self, *keys: str) -> None:
        """Remove keys (missing ones are ignored)."""
        for key in keys:
            self._data.pop(key, None)
            self._expiry.pop(key, None)

    def keys(self, prefix: str) -> list[str]:
        """Live keys starting with ``prefix``."""
        return [k for k in list(self._data) if k.startswith(prefix) and self.get(k) is not None]

    def publish(self, channel: str, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        """Hand one message to every broker subscribed to ``channel``."""
        for broker in self.subscribers.get(channel, ()):
            broker.deliver(truck, kind, epoch, seq, payload)


_SPACES: dict[str, MemorySpace] = {}


def memory_space(name: str) -> MemorySpace:
    """The process-wide space for ``memory://<name>`` (created on first use)."""
    space = _SPACES.get(name)
    if space is None:
        space = _SPACES[name] = MemorySpace()
    return space


def drop_space(name: str) -> None:
    """Forget the space of ``memory://<name>`` (its keys go with it)."""
    _SPACES.pop(name, None)
