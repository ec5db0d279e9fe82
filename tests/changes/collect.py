"""Collects a reader's callbacks and lets a test await a condition on them (bounded)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway.changes import Batch, Change


class Collector:
    """``on_batch`` / ``on_state`` for a BinlogReader under test."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.states: list[tuple[str, str]] = []
        self._news = asyncio.Event()

    def on_batch(self, batch: Batch) -> None:
        self.batches.append(batch)
        self._news.set()

    def on_state(self, state: str, detail: str) -> None:
        self.states.append((state, detail))
        self._news.set()

    @property
    def changes(self) -> list[Change]:
        return [c for b in self.batches for c in b.changes]

    def state_names(self) -> list[str]:
        return [s for s, _ in self.states]

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` is true, failing the test after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                # Callbacks run in this loop, so nothing can slip in between check and wait.
                while not condition():
                    self._news.clear()
                    await self._news.wait()
        except TimeoutError:
            raise AssertionError(
                f"condition not met in {timeout} s; states={self.states[-5:]} "
                f"changes={[(c.table, c.kind, c.key) for c in self.changes[-10:]]}"
            ) from None

    async def poll_until(self, condition: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> None:
        """For conditions no callback announces (a reader's counters): poll, bounded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"condition not met in {timeout} s; states={self.states[-5:]}")
            await asyncio.sleep(step)

    async def wait_changes(self, count: int, timeout: float = 10.0) -> list[Change]:
        """Wait until at least ``count`` changes arrived; return them all."""
        await self.wait_for(lambda: len(self.changes) >= count, timeout)
        return self.changes

    async def wait_state(self, state: str, timeout: float = 10.0, after: int = 0) -> str:
        """Wait for ``state`` among the states from index ``after``; return its detail."""
        await self.wait_for(lambda: any(s == state for s, _ in self.states[after:]), timeout)
        return next(d for s, d in self.states[after:] if s == state)
