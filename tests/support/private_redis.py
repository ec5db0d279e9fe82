"""A private redis-server for tests that must kill, stop or restart the server.

It listens on 127.0.0.1 on a free port, keeps nothing on disk (``--save ''``,
``--appendonly no``, its own working directory) and is only ever signalled by its own
pid, so the shared Redis at 6379 and other tests' servers are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

_READY_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """One redis-server process owned by a test; ``start`` again reuses the same port."""

    def __init__(self, workdir: Path, port: int | None = None, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RuntimeError("redis-server is not installed; the broker fault tests need it")
        self.binary = found
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A short-timeout blocking client for setup and for acting on the server."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("private redis already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir,
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} on port {self.port}")
            with contextlib.suppress(redis.RedisError), self.client() as client:
                if client.ping():
                    return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server on port {self.port} did not answer in {_READY_TIMEOUT} s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the server (by its pid) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP the server: sockets stay open but nothing answers (a half-open peer)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self.proc is not None and self._paused:
            os.kill(self.proc.pid, signal.SIGCONT)
        self._paused = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()
