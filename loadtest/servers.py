"""Start and stop the servers a run measures: ``gateway serve`` and the reference server.

Each runs as its own process, so its CPU and memory can be read apart from the clients'.
The child gets the descriptor limit raised to the hard limit (what ``ulimit -n`` does in
a shell) and, optionally, pinned CPUs. Its stderr goes to a log file, not a pipe: a
server logging under load must never block on a pipe nobody reads. ``stop`` sends
SIGTERM, waits, and kills if it must; every started server is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sys
import tempfile
from collections.abc import Sequence

from loadtest.system import parse_cpus

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0


def _preexec(cpus: set[int] | None):
    def setup() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


class ServerProcess:
    """A server child process that prints ``listening on http://HOST:PORT`` when ready."""

    def __init__(self, name: str, argv: Sequence[str], cpus: str | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.cpus = parse_cpus(cpus)
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.log_path = ""
        self._drain: asyncio.Task | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> str:
        """Start the server and return its base URL once it listens."""
        log = tempfile.NamedTemporaryFile(prefix=f"loadtest-{self.name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = log.name
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=log, stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=_preexec(self.cpus))
        log.close()
        assert self.proc.stdout is not None
        try:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), _START_TIMEOUT_S)).decode().strip()
        except TimeoutError:
            line = ""
        if not line.startswith("listening on "):
            await self.stop()
            raise RuntimeError(f"{self.name} did not start: {line or 'no output'} (log: {self.log_path})")
        self.url = line.removeprefix("listening on ")
        self._drain = asyncio.get_running_loop().create_task(self._drain_stdout())
        return self.url

    async def _drain_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.read(65536):
            pass

    async def stop_reporting(self) -> int | None:
        """``stop``, then one warning line naming the log when the exit code was not 0."""
        code = await self.stop()
        if code not in (0, None):
            print(f"warning: {self.name} exited with {code}; its log: {self.log_path}", file=sys.stderr, flush=True)
        return code

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a bound; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)
        if proc.returncode == 0 and self.log_path:  # a clean exit leaves nothing worth reading
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)
        return proc.returncode


def gateway_server(db_url: str, poll_interval: float, cpus: str | None, extra: Sequence[str] = ()) -> ServerProcess:
    """``gateway serve`` on a free port of 127.0.0.1.

    The per-client REST rate limit is off: every simulated dashboard shares a few source
    addresses, and a run measures the gateway's capacity, not its limiter.
    """
    argv = [sys.executable, "-m", "gateway", "serve", "--db", db_url, "--host", "127.0.0.1", "--port", "0",
            "--poll-interval", str(poll_interval), "--log-level", "WARNING", "--rest-rate-limit", "0", *extra]
    return ServerProcess("gateway", argv, cpus)


def reference_server(trucks: Sequence[str], cpus: str | None) -> ServerProcess:
    """The reference broadcast server on a free port of 127.0.0.1, knowing ``trucks``."""
    argv = [sys.executable, "-m", "loadtest", "reference-server", "--host", "127.0.0.1", "--port", "0",
            "--truck-ids", ",".join(trucks)]
    return ServerProcess("reference", argv, cpus)
