"""Choose a broker from its URL: ``memory://[name]`` or ``redis://host:port/db``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway.broker.base import Broker
from gateway.broker.keys import DEFAULT_PREFIX
from gateway.broker.memory import MemoryBroker
from gateway.broker.space import MemorySpace, memory_space

REDIS_SCHEMES = ("redis", "rediss", "unix")


def open_broker(url: str | None, prefix: str = DEFAULT_PREFIX, node_id: str | None = None, **options: Any) -> Broker:
    """Build (not start) the broker a URL names.

    Args:
        url: ``memory://<name>`` (brokers of one name share state inside this process),
            ``redis://host:port/db`` (also ``rediss://``, ``unix://``), or None for a
            private in-memory broker (a process that works alone).
        prefix: Key prefix of the cluster; processes sharing URL and prefix are one cluster.
        node_id: This process's id in the cluster; random when None.
        **options: Passed to the implementation (ring size, timeouts, handler, ...).

    Raises:
        ValueError: For an unsupported scheme.
    """
    if url is None:
        return MemoryBroker(MemorySpace(), prefix, node_id, **options)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryBroker(memory_space(urlsplit(url).netloc or "default"), prefix, node_id, **options)
    if scheme in REDIS_SCHEMES:
        # Imported here so a process without --broker never imports redis.
        from gateway.broker.redis import RedisBroker

        return RedisBroker(url, prefix, node_id, **options)
    raise ValueError(f"unsupported broker URL scheme {scheme!r}: use memory:// or redis://host:port/db")
