"""Redis commands and Lua scripts as counted, timed round trips bounded by one timeout.

Every call is one round trip on a ``BlockingConnectionPool`` (a burst waits for a free
connection instead of failing), bounded as a whole by ``timeout`` (pool wait, connect,
one redis-py retry on a stale pooled connection, reply). Connectivity failures and
timeouts become ``BrokerUnavailable``; a Lua or protocol error is a bug and propagates.
Scripts are loaded by ``load_scripts`` and reloaded transparently when Redis lost them
(a restart, ``SCRIPT FLUSH``), which costs one extra, counted, round trip.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.broker import lua
from gateway.broker.base import BrokerUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError, TimeoutError)


def make_pool(
    url: str,
    timeout: float,
    max_connections: int,
    health_check_interval: float,
    retries: int,
    connection_class: type[Connection] = Connection,
) -> BlockingConnectionPool:
    """A blocking pool whose every socket operation and pool wait is bounded by ``timeout``."""
    return BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        # How long a call may wait for a free connection (then: unavailable).
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=health_check_interval,
        retry=Retry(NoBackoff(), retries),
        connection_class=connection_class,
    )


class RedisCommands:
    """Runs calls on one pool; ``round_trips``, ``up`` and ``observe_rtt`` describe them."""

    def __init__(self, pool: BlockingConnectionPool, timeout: float) -> None:
        self._client = Redis(connection_pool=pool)
        self._timeout = timeout
        self._shas = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in lua.SCRIPTS.items()}
        self.up = False
        self.round_trips = 0
        self.observe_rtt: Callable[[float], None] | None = None

    async def round_trip(self, call: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``call(client)`` as one bounded round trip.

        Raises:
            BrokerUnavailable: Redis unreachable, or no answer within the timeout.
        """
        self.round_trips += 1
        began = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                result = await call(self._client)
        except UNAVAILABLE as exc:
            self.up = False
            raise BrokerUnavailable(f"redis: {exc!r}") from exc
        self.up = True
        if self.observe_rtt is not None:
            self.observe_rtt(time.perf_counter() - began)
        return result

    async def load_scripts(self) -> None:
        """Load every script in one pipelined round trip."""

        async def load(client: Redis) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for src in lua.SCRIPTS.values():
                    pipe.script_load(src)
                shas = await pipe.execute()
            self._shas.update(zip(lua.SCRIPTS, (s.decode() if isinstance(s, bytes) else s for s in shas), strict=True))

        await self.round_trip(load)

    async def eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the script ``lua.SCRIPTS[name]`` by its SHA (one round trip)."""

        async def run(client: Redis) -> Any:
            try:
                return await client.evalsha(self._shas[name], len(keys), *keys, *args)
            except NoScriptError:
                # Redis restarted (or flushed its scripts) since they were loaded.
                self.round_trips += 1
                self._shas[name] = await client.script_load(lua.SCRIPTS[name])
                return await client.evalsha(self._shas[name], len(keys), *keys, *args)

        return await self.round_trip(run)

    async def close(self) -> None:
        """Close the pool's connections; bounded in time."""
        self.up = False
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.connection_pool.aclose()
        except Exception:
            log.warning("broker connections did not close cleanly", exc_info=True)
