"""Coalesce the pollers' row reads into one query per moment.

Each poller still reads its truck on its own interval, but pollers whose ticks fall on the
same slot of the interval grid wake together, and every read asked for within a couple of
milliseconds goes to the database as one ``WHERE truck_id IN (...)``. A thousand watched
trucks then cost about twenty queries a second instead of a thousand, with the same
freshness; an outage fails every read of the batch with the same ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gateway.core.rows import Row
from gateway.store import Store

FLUSH_DELAY_S = 0.002  # long enough to gather pollers woken by the same timer slot
MAX_BATCH = 500  # ids per query: keeps the IN-list and the packet size modest


class RowBatcher:
    """Turns many concurrent ``read(truck_id)`` calls into few ``fetch_sensor_rows`` queries."""

    def __init__(self, store: Store, observe: Callable[[float], None] = lambda s: None) -> None:
        self._store = store
        self._observe = observe
        self._pending: dict[str, list[asyncio.Future[Row | None]]] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, truck_id: str) -> Row | None:
        """The truck's current row (None when it does not exist); may raise StoreUnavailable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Row | None] = loop.create_future()
        self._pending.setdefault(truck_id, []).append(future)
        if self._flush_handle is None:
            self._flush_handle = loop.call_later(FLUSH_DELAY_S, self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_handle = None
        pending, self._pending = self._pending, {}
        ids = list(pending)
        for start in range(0, len(ids), MAX_BATCH):
            chunk = {i: pending[i] for i in ids[start:start + MAX_BATCH]}
            task = asyncio.get_running_loop().create_task(self._fetch(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fetch(self, waiters: dict[str, list[asyncio.Future[Row | None]]]) -> None:
        started = time.perf_counter()
        try:
            rows = await self._store.fetch_sensor_rows(list(waiters))
        except Exception as exc:
            for futures in waiters.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        finally:
            self._observe(time.perf_counter() - started)
        for truck_id, futures in waiters.items():
            row = rows.get(truck_id)
            for future in futures:
                if not future.done():
                    future.set_result(row)

    async def close(self) -> None:
        """Cancel reads in flight (pollers are stopped first)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
