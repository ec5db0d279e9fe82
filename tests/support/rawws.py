"""A minimal raw WebSocket client for tests that need control a library would hide.

It can stop reading (a stalled consumer), keep a tiny receive buffer, ignore pings, and
send frames a well-behaved client never would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class RawWebSocket:
    """Client side of one WebSocket over a plain TCP socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, path: str = "/v1/ws", *, rcvbuf: int | None = None,
                      headers: dict[str, str] | None = None) -> RawWebSocket:
        """Open the socket (optionally with a small SO_RCVBUF) and complete the handshake."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        # A small stream limit too, so the client process itself does not absorb the data.
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
        if rcvbuf is not None:
            writer.transport.pause_reading()
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
        )
        if rcvbuf is not None:
            writer.transport.resume_reading()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        return cls(reader, writer)

    def send(self, payload: bytes, opcode: int = OP_TEXT, *, fin: bool = True) -> None:
        """Send one masked frame (clients must mask)."""
        mask = os.urandom(4)
        length = len(payload)
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    def pause(self) -> None:
        """Stop reading from the socket: the server sees a consumer that does not keep up."""
        self.writer.transport.pause_reading()

    def resume(self) -> None:
        self.writer.transport.resume_reading()

    async def recv(self) -> tuple[int, bytes]:
        """Next frame as (opcode, payload); pings are returned, not answered."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def recv_close_code(self) -> int | None:
        """Read until a close frame; its code, or None when the socket just ends."""
        try:
            while True:
                opcode, payload = await self.recv()
                if opcode == OP_CLOSE:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
