"""Broker fixtures: every shared test runs on the memory broker and on the real Redis.

Redis at 127.0.0.1:6379 (``TEST_REDIS_URL``) is required: a test that needs it and
cannot reach it fails with a clear message, never skips. Each test gets its own key
prefix; after it, every key under the prefix is deleted and the deletion is asserted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis

from gateway.broker import Broker, open_broker
from gateway.broker.space import drop_space, memory_space
from tests.broker.recorder import Recorder
from tests.support.private_redis import PrivateRedis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_admin() -> redis.Redis:
    """A blocking client on the shared Redis, or a test failure saying it is required."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is required for the broker tests and not reachable: {exc}",
                    pytrace=False)
    return client


class Cluster:
    """Brokers of one test, all on one backend and one fresh prefix."""

    def __init__(self, backend: str, prefix: str) -> None:
        self.backend = backend
        self.prefix = prefix
        self.url = REDIS_URL if backend == "redis" else f"memory://{prefix}"
        self.brokers: list[Broker] = []

    async def node(self, node_id: str | None = None, subscribe: bool = True, **options: Any) -> tuple[Broker, Recorder]:
        """A started broker of this cluster with a ``Recorder`` as its handler."""
        recorder = Recorder()
        if self.backend == "redis":
            # Fast failure detection keeps the suite short; defaults are for production.
            options = {"timeout": 2.0, "ping_interval": 0.5, "dead_after": 1.5, **options}
        broker = open_broker(self.url, self.prefix, node_id, handler=recorder if subscribe else None, **options)
        await broker.start()
        self.brokers.append(broker)
        return broker, recorder

    def keys(self) -> list[str]:
        """Every key currently stored under this cluster's prefix."""
        if self.backend == "redis":
            with redis_admin() as client:
                return sorted(k.decode() for k in client.scan_iter(match=f"{self.prefix}:*", count=1000))
        return sorted(memory_space(self.prefix).keys(f"{self.prefix}:"))

    def delete_keys(self) -> None:
        if self.backend == "redis":
            with redis_admin() as client:
                keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
                if keys:
                    client.delete(*keys)
        else:
            space = memory_space(self.prefix)
            space.delete(*space.keys(f"{self.prefix}:"))


@pytest.fixture(params=["memory", "redis"])
async def cluster(request) -> AsyncIterator[Cluster]:
    """A cluster on each backend; its keys are deleted (and checked gone) afterwards."""
    if request.param == "redis":
        redis_admin().close()
    cl = Cluster(request.param, f"gwtest-{uuid.uuid4().hex[:12]}")
    try:
        yield cl
    finally:
        for broker in cl.brokers:
            await broker.close()
        cl.delete_keys()
        assert cl.keys() == [], "keys left under the test prefix"
        if cl.backend == "memory":
            drop_space(cl.prefix)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A redis-server of this test alone (killed by pid afterwards)."""
    try:
        server = PrivateRedis(tmp_path / "redis")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    server.start()
    try:
        yield server
    finally:
        server.resume()
        server.kill()
