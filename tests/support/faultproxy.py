"""Fault-injecting TCP proxy for integration tests (simulated database outages)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from types import TracebackType
from typing import Self

_CHUNK = 64 * 1024
# SO_LINGER on with a zero timeout makes close() send RST instead of FIN, so the peer sees
# "connection reset" at once rather than a polite EOF it might treat as a clean shutdown.
_LINGER_RST = struct.pack("ii", 1, 0)


class _Mode(enum.Enum):
    NORMAL = "normal"
    CUT = "cut"
    BLACKHOLE = "blackhole"


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Abort a stream's transport with a TCP reset, ignoring already-dead sockets."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    writer.transport.abort()


class _Conn:
    """One proxied client connection and, once connected, its upstream leg."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.client_reader = reader
        self.client_writer = writer
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        _reset(self.client_writer)
        _reset(self.upstream_writer)


class FaultProxy:
    """Asyncio TCP proxy on 127.0.0.1 that can cut or blackhole traffic on demand."""

    def __init__(
        self, upstream_host: str, upstream_port: int, listen_host: str = "127.0.0.1"
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listen_host = listen_host
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._mode = _Mode.NORMAL
        # Set while bytes may flow; pumps park on it during a blackhole instead of dropping
        # data, so a restore resumes the byte stream intact (like a healed partition).
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._total = 0

    async def start(self) -> None:
        """Start listening on a free port of the listen host."""
        self._server = await asyncio.start_server(self._on_accept, self._listen_host, 0)

    @property
    def port(self) -> int:
        """The port the proxy listens on (only valid after start())."""
        if self._server is None:
            raise RuntimeError("FaultProxy not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections_total(self) -> int:
        """Number of client connections accepted so far, including ones aborted while cut."""
        return self._total

    @property
    def open_connections(self) -> int:
        """Number of client connections currently being proxied (or held)."""
        return len(self._conns)

    async def stop(self) -> None:
        """Close the listener and every connection, and wait for all proxy tasks to end."""
        if self._server is not None:
            self._server.close()
        await self._drop_all()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def cut(self) -> None:
        """Outage: reset every open connection and reset new ones until restore()."""
        self._mode = _Mode.CUT
        await self._drop_all()

    async def blackhole(self) -> None:
        """Outage: keep connections open but forward no bytes in either direction."""
        self._mode = _Mode.BLACKHOLE
        self._flowing.clear()

    async def restore(self) -> None:
        """Resume normal forwarding; connections held by a blackhole continue too."""
        self._mode = _Mode.NORMAL
        self._flowing.set()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _on_accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain (non-coroutine) callback, so asyncio creates no untracked handler task;
        # the only task per connection is ours and lives in self._conns.
        self._total += 1
        if self._mode is _Mode.CUT:
            _reset(writer)  # accept-then-reset: the client fails fast instead of hanging
            return
        conn = _Conn(reader, writer)
        self._conns.add(conn)
        conn.task = asyncio.create_task(self._serve(conn), name=f"faultproxy-conn-{self._total}")

    async def _drop_all(self) -> None:
        conns = list(self._conns)
        for conn in conns:
            conn.reset()
            if conn.task is not None:
                conn.task.cancel()
        tasks = [c.task for c in conns if c.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, conn: _Conn) -> None:
        try:
            # A blackholed network would not let the upstream handshake through either.
            await self._flowing.wait()
            up_reader, conn.upstream_writer = await asyncio.open_connection(*self._upstream)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pump(conn.client_reader, conn.upstream_writer, conn))
                tg.create_task(self._pump(up_reader, conn.client_writer, conn))
        except OSError:
            conn.reset()  # upstream unreachable: mirror that to the client as a reset
        finally:
            self._conns.discard(conn)
            for w in (conn.client_writer, conn.upstream_writer):
                if w is not None:
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn
    ) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    # Propagate a half-close so request/response protocols finish normally.
                    if writer.can_write_eof() and not writer.is_closing():
                        writer.write_eof()
                    return
                # Data read just before a blackhole started is held, not forwarded.
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            conn.reset()  # one side died abruptly: make the other side see that too
