"""``gateway serve --workers N``: N serving processes on one host and port.

The supervisor reserves the port (a bound, never-listening socket with ``SO_REUSEPORT``,
so port 0 can be resolved once for all workers), starts N ``gateway serve`` children that
listen on it with ``SO_REUSEPORT`` (the kernel spreads new connections over them), and
prints ``listening on`` once every child does. With ``--broker`` the children are one
cluster. A child that dies is logged and started again (with a growing pause if it keeps
dying). SIGTERM or SIGINT is passed on to every child, each shuts down gracefully, and the
supervisor exits 0 when they all did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

from gateway.cli.signals import stop_on_signals
from gateway.config import Settings

log = logging.getLogger("gateway")

WORKER_ENV = "GATEWAY_WORKER"  # set in a child's environment: its index; it listens with SO_REUSEPORT
_STOP_TIMEOUT_S = 15.0
_RESTART_PAUSE_MAX_S = 10.0


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) a SO_REUSEPORT socket so the port is ours and known before the workers start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def worker_argv(argv: Sequence[str], port: int) -> list[str]:
    """The child's command line: the parent's, with one worker and the resolved port."""
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--port"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--port=")):
            continue
        args.append(arg)
    return [sys.executable, "-m", "gateway", *args, "--workers", "1", "--port", str(port)]


class Worker:
    """One child process, restarted when it dies on its own."""

    def __init__(self, index: int, argv: list[str]) -> None:
        self.index = index
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.listening = asyncio.Event()

    async def spawn(self) -> None:
        env = {**os.environ, WORKER_ENV: str(self.index)}
        env.pop("GATEWAY_WORKERS", None)
        env.pop("GATEWAY_PORT", None)
        self.proc = await asyncio.create_subprocess_exec(*self.argv, env=env, stdout=asyncio.subprocess.PIPE)
        asyncio.get_running_loop().create_task(self._pump(self.proc))

    async def _pump(self, proc: asyncio.subprocess.Process) -> None:
        """Watch the child's stdout for its ``listening on`` line; pass the rest through."""
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line.startswith("listening on "):
                self.listening.set()
            else:
                print(line, flush=True)


async def supervise(settings: Settings, argv: Sequence[str]) -> int:
    """Run ``settings.workers`` children until a signal; returns the exit code."""
    reservation = reserve_port(settings.host, settings.port)
    port = reservation.getsockname()[1]
    workers = [Worker(i, worker_argv(argv, port)) for i in range(settings.workers)]
    with stop_on_signals() as stop:
        for worker in workers:
            await worker.spawn()
        waits = [asyncio.ensure_future(w.listening.wait()) for w in workers]
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([stopped, asyncio.gather(*waits)], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            print(f"listening on http://{settings.host}:{port}", flush=True)
            log.info("%d workers on port %d (pids %s)", len(workers), port,
                     ", ".join(str(w.proc.pid) for w in workers if w.proc))
        while not stop.is_set():
            exits = {asyncio.ensure_future(w.proc.wait()): w for w in workers if w.proc}
            done, _ = await asyncio.wait([stopped, *exits], return_when=asyncio.FIRST_COMPLETED)
            for task in exits:
                if task not in done:
                    task.cancel()
            for task in done:
                worker = exits.get(task)
                if worker is None or stop.is_set():
                    continue
                worker.restarts += 1
                pause = min(_RESTART_PAUSE_MAX_S, 0.5 * 2 ** min(worker.restarts - 1, 5))
                log.warning("worker %d (pid %s) exited with %s; restarting in %.1f s", worker.index,
                            worker.proc.pid if worker.proc else "?", task.result(), pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                if not stop.is_set():
                    worker.listening.clear()
                    await worker.spawn()
        return await _stop_all(workers, reservation)


async def _stop_all(workers: list[Worker], reservation: socket.socket) -> int:
    """SIGTERM every child at once; each gets the graceful shutdown; kill what outlives the bound."""
    procs = [w.proc for w in workers if w.proc is not None and w.proc.returncode is None]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    codes: list[int] = []
    for proc in procs:
        try:
            codes.append(await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S))
        except TimeoutError:
            log.error("worker pid %d did not stop in %.0f s; killing it", proc.pid, _STOP_TIMEOUT_S)
            proc.kill()
            codes.append(await proc.wait())
    reservation.close()
    return 0 if all(code == 0 for code in codes) else 1
