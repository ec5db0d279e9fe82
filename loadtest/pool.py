"""The parent's side of the worker processes: spawn, talk, collect, and always reap.

Workers are spawned (not forked) with one duplex pipe each. The parent reads the pipes
with ``add_reader``, so waiting for workers never blocks its own event loop (which runs the
driver and the samplers at the same time). ``close`` is the one way out: it waits a
little for each worker to exit, then terminates, then kills, and joins every process, so
no run leaves a process behind whatever went wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from loadtest.plan import WorkerPlan
from loadtest.worker import main as worker_main

_JOIN_S = 3.0


class WorkerPool:
    """A set of worker processes, one per plan."""

    def __init__(self, plans: list[WorkerPlan]) -> None:
        self.plans = plans
        self.processes: list[BaseProcess] = []
        self.pipes: list[Connection] = []
        self._inbox: dict[tuple[int, str], asyncio.Future[tuple[Any, ...]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Spawn every worker and start listening to their pipes."""
        self._loop = asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        for index, plan in enumerate(self.plans):
            parent_end, child_end = ctx.Pipe(duplex=True)
            process = ctx.Process(target=worker_main, args=(child_end, plan), name=f"loadtest-{plan.kind}-{index}",
                                  daemon=True)
            process.start()
            child_end.close()
            self.processes.append(process)
            self.pipes.append(parent_end)
            self._loop.add_reader(parent_end.fileno(), self._on_readable, index)
            os.set_blocking(parent_end.fileno(), True)  # see control.py: uvloop made it non-blocking

    def _future(self, index: int, name: str) -> asyncio.Future[tuple[Any, ...]]:
        key = (index, name)
        if key not in self._inbox:
            assert self._loop is not None
            self._inbox[key] = self._loop.create_future()
        return self._inbox[key]

    def _on_readable(self, index: int) -> None:
        pipe = self.pipes[index]
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            assert self._loop is not None
            self._loop.remove_reader(pipe.fileno())
            message = ("gone",)
        for name in (message[0], "any"):
            future = self._future(index, name)
            if not future.done():
                future.set_result(tuple(message[1:]))
        if message[0] == "gone":  # nothing else will come: release whoever waits
            for (i, _), future in self._inbox.items():
                if i == index and not future.done():
                    future.set_result(())

    async def gather(self, name: str, timeout: float) -> list[tuple[Any, ...] | None]:
        """Each worker's ``name`` message (None for a worker that did not send it in time)."""
        futures = [self._future(i, name) for i in range(len(self.processes))]
        await asyncio.wait(futures, timeout=max(0.0, timeout))
        return [f.result() if f.done() and f.result() else None for f in futures]

    def broadcast(self, name: str, *args: Any) -> None:
        """Send one message to every worker still listening."""
        for pipe in self.pipes:
            with contextlib.suppress(BrokenPipeError, OSError):
                pipe.send((name, *args))

    async def close(self) -> None:
        """Stop listening, then make sure every worker process has ended and is joined."""
        if self._loop is not None:
            for pipe in self.pipes:
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(pipe.fileno())
        deadline = time.monotonic() + _JOIN_S
        for process in self.processes:
            while process.is_alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(_JOIN_S)
            if process.is_alive():
                process.kill()
                process.join()
        for pipe in self.pipes:
            pipe.close()

    def exit_codes(self) -> list[int | None]:
        """Each worker's exit code (negative: killed by that signal; None: still running)."""
        return [p.exitcode for p in self.processes]
