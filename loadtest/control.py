"""The worker's end of its pipe to the parent, as awaitable messages on the worker's event loop.

Messages are small tuples ``(name, *args)``. Parent to worker: ``start(t0)``,
``window(start, end)``, ``stop()``. Worker to parent: ``ready(pid)``, ``ramped(stats)``,
``result(dict)``. The pipe's descriptor is watched with ``add_reader`` so the loop never
blocks on it; a closed pipe (the parent died) counts as ``stop``, so no worker outlives
its parent's run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from multiprocessing.connection import Connection
from typing import Any


class Control:
    """Receives the parent's messages into futures keyed by name; sends replies."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._got: dict[str, asyncio.Future[tuple[Any, ...]]] = {}
        self._loop.add_reader(conn.fileno(), self._on_readable)
        # uvloop (libuv) switches a watched descriptor to non-blocking; a large message
        # would then be cut short by EAGAIN and lost. Messages are read whole when ready.
        os.set_blocking(conn.fileno(), True)

    def _future(self, name: str) -> asyncio.Future[tuple[Any, ...]]:
        if name not in self._got:
            self._got[name] = self._loop.create_future()
        return self._got[name]

    def _on_readable(self) -> None:
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            self._loop.remove_reader(self._conn.fileno())
            message = ("stop",)
        future = self._future(message[0])
        if not future.done():
            future.set_result(tuple(message[1:]))

    async def wait(self, name: str) -> tuple[Any, ...]:
        """Wait for the message ``name`` and return its arguments."""
        return await self._future(name)

    def received(self, name: str) -> tuple[Any, ...] | None:
        """The arguments of ``name`` when it has arrived, else None."""
        future = self._got.get(name)
        return future.result() if future is not None and future.done() else None

    def stop_future(self) -> asyncio.Future[tuple[Any, ...]]:
        """Done when the parent says stop (or goes away)."""
        return self._future("stop")

    def send(self, name: str, *args: Any) -> None:
        """Send a message to the parent; a parent that went away is not an error here."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send((name, *args))

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._conn.fileno())
