"""A private MariaDB with server-wide settings the machine's shared one must not get.

The shared MariaDB has ``log_bin=OFF``, and neither the tests nor the load tester change
server-wide settings, so whatever needs the binary log (the change-capture tests, the
``changes`` load mode) starts its own server: ``mariadb-install-db`` into a temp dir,
then ``mariadbd`` on a free port of 127.0.0.1, both with ``--no-defaults`` (the system
my.cnf would force ``user=mysql`` and its own datadir). It is stopped by its pid and the
dir is removed. A server that does not come up raises ``ServerStartError`` carrying the
tail of its error log, so the caller can fail with the reason instead of skipping.

``die_with_parent`` asks the kernel to SIGTERM the server when the process that started
it dies (Linux ``PR_SET_PDEATHSIG``), so a load run killed at its hard cap leaves no
server behind. The signal follows the starting *thread*: start such a server from the
thread that lives as long as the run (the main thread), never from a pool thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

INSTALL_DB = "mariadb-install-db"
SERVER = "mariadbd"
# Binlog settings the change reader needs (see gateway.changes.problems).
BINLOG_OPTIONS = (
    "--log-bin=mysql-bin",
    "--binlog-format=ROW",
    "--binlog-row-image=FULL",
    "--binlog-row-metadata=FULL",
)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM this process when its parent thread exits."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """The private server did not install or answer; the message ends with its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path | None, lines: int = 25) -> str:
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


@dataclass
class PrivateMariaDB:
    """One private server: where it lives, how to reach it, and its process."""

    binlog: bool = True
    extra_args: tuple[str, ...] = ()
    die_with_parent: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    root: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def error_log(self) -> Path | None:
        """The server's error log (None before ``start``)."""
        return self.root / "mdb.err" if self.root else None

    def connect(self, database: str | None = None, **options) -> pymysql.connections.Connection:
        """A blocking root connection (autocommit) for setup and writes."""
        return pymysql.connect(host=self.host, port=self.port, user="root", password="", database=database,
                               autocommit=True, connect_timeout=5, **options)

    def start(self, timeout: float = 30.0) -> None:
        """Install a datadir, start the server and wait (bounded) until it answers.

        Raises:
            ServerStartError: with the reason and the server's error log tail.
        """
        for tool in (INSTALL_DB, SERVER):
            if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
                raise ServerStartError(f"{tool} is not installed")
        self.root = Path(tempfile.mkdtemp(prefix="mdb-"))
        data = self.root / "data"
        install = subprocess.run(
            [INSTALL_DB, "--no-defaults", "--user=root", f"--datadir={data}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        if install.returncode != 0:
            detail = (install.stderr or install.stdout)[-2000:]
            self.remove()
            raise ServerStartError(f"mariadb-install-db failed ({install.returncode}):\n{detail}")
        for _ in range(3):  # a free port can be taken before mariadbd binds it: try another
            problem = self._launch(data, timeout)
            if problem is None:
                return
            log = _tail(self.error_log)
            if "Bind on TCP/IP port" not in log:
                break
        self.stop()  # also removes the dir, so the tail was read first
        raise ServerStartError(f"private MariaDB did not answer on port {self.port}: {problem}\n--- {log}")

    def _launch(self, data: Path, timeout: float) -> str | None:
        """Start mariadbd on a fresh free port; None once it answers, else why not."""
        assert self.root is not None
        self.port = free_port()
        binary = shutil.which(SERVER) or str(Path("/usr/sbin", SERVER))
        args = [
            binary, "--no-defaults", "--user=root", f"--datadir={data}", f"--port={self.port}",
            f"--bind-address={self.host}", f"--socket={self.root / 'mdb.sock'}",
            f"--pid-file={self.root / 'mdb.pid'}", f"--log-error={self.error_log}", "--server-id=1",
            "--innodb-buffer-pool-size=64M", "--skip-name-resolve",
            *(BINLOG_OPTIONS if self.binlog else ()), *self.extra_args,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=_die_with_parent if self.die_with_parent else None)
        deadline = time.monotonic() + timeout
        problem = "not started"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"mariadbd exited with {self.process.returncode}"
            try:
                self.connect().close()
                return None
            except pymysql.err.MySQLError as exc:
                problem = str(exc)
            time.sleep(0.05)  # polling a port that has no readiness notification
        return f"no answer in {timeout:g} s ({problem})"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server by its pid (SIGTERM, then SIGKILL) and remove its directory."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.remove()

    def remove(self) -> None:
        """Delete the server's temp dir."""
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PrivateMariaDB:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
