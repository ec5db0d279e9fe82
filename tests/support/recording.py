"""A hub-side connection that records the frames sent to it instead of writing a socket.

It has the attributes the hub reads and writes on ``gateway.server.connection.Connection``
(subscriptions, grant, closed, send, cancel_tasks), so hub tests drive whole conversations
in memory; the socket send path itself is tested with real sockets in tests/server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson

from gateway.server.auth import OPEN_GRANT, Grant


def payload_of(frame: bytes) -> dict:
    """Decode one unmasked server text frame (header + JSON payload)."""
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    return orjson.loads(frame[start:])


class RecordingConnection:
    """Collects every frame the hub sends, decoded, in order."""

    def __init__(self, grant: Grant = OPEN_GRANT) -> None:
        self.subscriptions: set[str] = set()
        self.feeds: set[str] = set()
        self.writes = 0
        self.grant = grant
        self.closed = False
        self.raw: list[bytes] = []
        self._sent = asyncio.Event()

    def send(self, frame: bytes, channel: str | None = None) -> None:
        self.raw.append(frame)
        self.writes += 1
        self._sent.set()

    def send_batch(self, blob: bytes, items: list[tuple[str, bytes]], tail: bytes) -> None:
        assert blob == b"".join(f for _, f in items) + tail  # what one socket write would carry
        self.raw.extend([*(f for _, f in items), tail])
        self.writes += 1
        self._sent.set()

    async def wait_for(self, done: Callable[[list[dict]], bool], timeout: float = 5.0) -> list[dict]:
        """Wait until ``done(frames)`` holds for the frames received so far; returns them."""
        async with asyncio.timeout(timeout):
            while not done(frames := self.frames):
                self._sent.clear()
                await self._sent.wait()
        return frames

    @property
    def frames(self) -> list[dict]:
        return [payload_of(f) for f in self.raw]

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in self.frames if f["type"] == kind]

    def cancel_tasks(self) -> None:
        self.closed = True
