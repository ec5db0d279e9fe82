"""A cluster's keys for one run: a unique ``--broker-prefix`` on a loopback Redis, deleted afterwards.

Every cluster run gets its own prefix (``lt<random>``), so runs never see each other's
leases or streams and other users of the same Redis are untouched; on the way out every
key under ``<prefix>:`` is deleted (SCAN + UNLINK, bounded), whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from loadtest import system

_SCAN_COUNT = 1000
_CLEANUP_TIMEOUT_S = 20.0


def check_broker_url(url: str) -> str:
    """The URL unchanged, or ValueError unless it is ``redis://`` on a loopback address."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"--broker must be redis://host:port/db, got {url!r}")
    if not system.is_loopback_host(parts.hostname or ""):
        raise ValueError(f"refusing broker {parts.hostname!r}: only loopback Redis is allowed")
    return url


async def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix:``; returns how many were deleted."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    deleted = 0
    try:
        async with asyncio.timeout(_CLEANUP_TIMEOUT_S):
            batch: list[bytes] = []
            async for key in client.scan_iter(match=f"{prefix}:*", count=_SCAN_COUNT):
                batch.append(key)
                if len(batch) >= _SCAN_COUNT:
                    deleted += await client.unlink(*batch)
                    batch.clear()
            if batch:
                deleted += await client.unlink(*batch)
    finally:
        await client.aclose()
    return deleted


async def check_answers(url: str) -> None:
    """RuntimeError unless Redis answers a PING: a cluster run without its broker measures nothing."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.ping()
    except Exception as exc:
        raise RuntimeError(f"Redis at {url} does not answer: {exc}") from exc
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def scratch_prefix(url: str) -> AsyncIterator[str]:
    """Yield a fresh key prefix on the Redis at ``url`` (which must answer); delete its keys afterwards."""
    check_broker_url(url)
    await check_answers(url)
    prefix = f"lt{secrets.token_hex(5)}"
    try:
        yield prefix
    finally:
        with contextlib.suppress(Exception):  # cleanup must not hide the run's own error
            await delete_prefix(url, prefix)
