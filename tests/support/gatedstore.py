"""A real store whose poller reads wait for the test's go-ahead.

It delegates every call to the real store underneath (MariaDB in these tests); only
``fetch_sensor_rows`` (the pollers' batched read) is gated, so a test decides exactly when
a poll happens instead of racing a timer. Everything else (REST reads, writes) passes
straight through.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.store import Store


class GatedStore:
    """Wraps a Store; each poller read takes one permit from ``allow``."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self._permits = asyncio.Semaphore(0)
        self._done = asyncio.Condition()
        self.reads_done = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def allow(self, reads: int = 1) -> None:
        """Let ``reads`` more poller reads through."""
        for _ in range(reads):
            self._permits.release()

    async def wait_reads(self, total: int, timeout: float = 5.0) -> None:
        """Wait until ``total`` gated reads have finished (and been published)."""
        async with self._done:
            await asyncio.wait_for(self._done.wait_for(lambda: self.reads_done >= total), timeout)

    async def step(self, reads: int = 1) -> None:
        """Allow ``reads`` reads and wait for them to finish."""
        target = self.reads_done + reads
        self.allow(reads)
        await self.wait_reads(target)

    async def fetch_sensor_rows(self, truck_ids: list[str]) -> Any:
        await self._permits.acquire()
        try:
            return await self._inner.fetch_sensor_rows(truck_ids)
        finally:
            async with self._done:
                self.reads_done += 1
                self._done.notify_all()
