"""A relay handler that records what it gets, and bounded waits on conditions."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import NamedTuple


class Message(NamedTuple):
    truck: str
    kind: str
    epoch: str
    seq: int
    payload: bytes


class Recorder:
    """``RelayHandler`` keeping every message and reconnect notice, in arrival order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.reconnects = 0
        self._changed = asyncio.Event()

    def on_message(self, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        self.messages.append(Message(truck, kind, epoch, seq, payload))
        self._changed.set()

    def on_reconnect(self) -> None:
        self.reconnects += 1
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, woken by each message; fail after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; got {self.messages}") from None

    async def wait_count(self, count: int, timeout: float = 5.0) -> list[Message]:
        """Wait until at least ``count`` messages arrived; return them all."""
        await self.wait_for(lambda: len(self.messages) >= count, f"{count} messages", timeout)
        return list(self.messages)


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 5.0, interval: float = 0.01
) -> None:
    """Poll ``check`` (sync or async) until it is true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
