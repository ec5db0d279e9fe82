"""Entry point of a worker process and the phases every worker goes through.

Phases, each bounded by the plan's hard deadline: ``ready`` → wait for ``start(t0)`` →
ramp (clients start at their own times) → ``ramped`` once every client has connected and
subscribed or failed → wait for ``window(drive_start, start, end)`` → measure → wait for
``stop`` → close everything → ``result``. Whatever happens (the parent vanishes, the
server stops answering), the worker reports and exits by the deadline.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import resource
import signal
import time
import traceback
from collections.abc import Awaitable
from multiprocessing.connection import Connection
from typing import Any, Protocol

from loadtest.control import Control
from loadtest.plan import WorkerPlan
from loadtest.system import parse_cpus, pin_to, raise_nofile


class LoadWorker(Protocol):
    """What the phases need from a kind of client (WebSocket or REST)."""

    settled: asyncio.Event

    async def ramp(self) -> None: ...
    def ramped_info(self) -> dict[str, int]: ...
    def set_window(self, drive_start: float, start: float, end: float) -> None: ...
    async def close_all(self) -> None: ...
    def result(self, cpu_window: dict[str, float]) -> dict[str, Any]: ...


def _make(plan: WorkerPlan, t0: float) -> LoadWorker:
    if plan.kind == "ws":
        from loadtest.wsworker import WsWorker

        return WsWorker(plan, t0)
    from loadtest.restworker import RestWorker

    return RestWorker(plan, t0)


def _cpu_now() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.time(), usage.ru_utime + usage.ru_stime


async def _until(wanted: Awaitable[Any], stop: asyncio.Future | None, deadline: float) -> Any:
    """Wait for ``wanted`` unless ``stop`` or the hard deadline comes first (then None)."""
    task = asyncio.ensure_future(wanted)
    waiters = {task} | ({stop} if stop is not None else set())
    await asyncio.wait(waiters, timeout=max(0.0, deadline - time.time()), return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    return None


async def run_phases(plan: WorkerPlan, control: Control) -> dict[str, Any] | None:
    """Run the worker through every phase; returns its result (None if never started)."""
    deadline = plan.hard_deadline
    stop = control.stop_future()
    started = await _until(control.wait("start"), stop, deadline)
    if started is None:
        return None
    worker = _make(plan, started[0])
    # The parent stops waiting for ``ramped`` at its settle timeout and opens the window
    # anyway (polling dashboards of an overloaded gateway may still be in their first
    # refresh): the window's bounds must hold from the moment they arrive, not from
    # whenever this worker settles, or the requests before that are not counted.
    window_wait = asyncio.ensure_future(control.wait("window"))
    window_wait.add_done_callback(lambda f: None if f.cancelled() else worker.set_window(*f.result()))
    ramp = asyncio.get_running_loop().create_task(worker.ramp())
    await _until(worker.settled.wait(), stop, deadline)
    # Start-up garbage is done; freezing what lives on keeps the cyclic GC off thousands of sockets.
    gc.collect()
    gc.freeze()
    control.send("ramped", worker.ramped_info())
    cpu_begin = cpu_end = _cpu_now()
    window = await _until(window_wait, stop, deadline)
    if window is not None:
        await _until(asyncio.sleep(max(0.0, window[1] - time.time())), stop, deadline)
        cpu_begin = _cpu_now()
        await _until(asyncio.sleep(max(0.0, window[2] - time.time())), stop, deadline)
        cpu_end = _cpu_now()
    await _until(stop, None, deadline)
    ramp.cancel()
    await asyncio.gather(ramp, return_exceptions=True)
    await worker.close_all()
    span = max(cpu_end[0] - cpu_begin[0], 1e-9)
    return worker.result({"seconds": round(span, 3), "cpu_pct": round(100 * (cpu_end[1] - cpu_begin[1]) / span, 1)})


async def _main(conn: Connection, plan: WorkerPlan) -> None:
    control = Control(conn)
    control.send("ready", os.getpid())
    try:
        control.send("result", await run_phases(plan, control))
    except Exception:  # reported to the parent, which says so; the run still ends in order
        control.send("result", {"error": traceback.format_exc(limit=8)})
        raise
    finally:
        control.close()


def main(conn: Connection, plan: WorkerPlan) -> None:
    """Process entry: pin, raise the descriptor limit, run on uvloop when available."""
    # Ctrl-C goes to the whole process group; the parent turns it into an orderly stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()  # a crash in a C extension still leaves a stack on stderr
    pin_to(parse_cpus(plan.cpus))
    raise_nofile()
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_main(conn, plan))
    conn.close()
