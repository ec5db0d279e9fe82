"""One life (epoch) of a channel: the current row, its seq, recent diffs, cached frames.

Rules (docs/PROTOCOL.md): a new epoch starts at seq 0 with a snapshot; every change of the row is
exactly one diff with seq + 1; an unchanged row produces nothing; a diff frame is encoded
once, as a complete WebSocket frame, and the same bytes go to every subscriber and into
the resume ring. Applying the ring's diffs after ``seq`` to the snapshot at ``seq`` gives
the current row, which is what makes resume and slow-consumer resync safe.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import deque
from typing import Any

import orjson

from gateway.core import protocol
from gateway.core.diff import Diff, apply, diff
from gateway.core.protocol import ResumePoint
from gateway.core.wsframe import text_frame

Row = dict[str, Any]


class ChannelStream:
    """Diffs of one channel's row within one epoch."""

    __slots__ = ("_body", "_ring", "_snapshot", "channel", "epoch", "row", "seq", "ts")

    def __init__(self, channel: str, epoch: str, row: Row, ts: int, ring_size: int, seq: int = 0) -> None:
        self.channel = channel
        self.epoch = epoch
        self.row = row
        self.seq = seq
        self.ts = ts
        self._ring: deque[tuple[int, bytes]] = deque(maxlen=ring_size)
        self._snapshot: bytes | None = None
        self._body: tuple[bytes, str] | None = None

    def advance(self, row: Row, ts: int) -> bytes | None:
        """Take a newly read row; return the diff frame, or None when nothing changed."""
        change = diff(self.row, row)
        if change is None:
            return None
        self.seq += 1
        self.row = row
        self.ts = ts
        self._snapshot = None
        self._body = None
        frame = text_frame(protocol.diff_frame(self.channel, self.epoch, self.seq, ts, change.changed, change.removed))
        if self._ring.maxlen:
            self._ring.append((self.seq, frame))
        return frame

    def adopt(self, seq: int, payload: bytes) -> bytes | None:
        """Take a diff made by this epoch's reader elsewhere (a cluster relay's copy).

        ``payload`` is the diff frame's JSON exactly as the reader encoded it, so every
        process sends the same bytes. Returns the wire frame, or None when ``seq`` is not
        the next one (the caller fills the gap or resyncs).
        """
        if seq != self.seq + 1:
            return None
        change = orjson.loads(payload)
        self.row = apply(self.row, Diff(change.get("changed", {}), change.get("removed", [])))
        self.seq = seq
        self.ts = change.get("ts", self.ts)
        self._snapshot = None
        self._body = None
        frame = text_frame(payload)
        if self._ring.maxlen:
            self._ring.append((seq, frame))
        return frame

    def preload(self, diffs: list[tuple[int, bytes]]) -> None:
        """Fill the resume ring with diff payloads of seq <= the current one (a relay joining mid-epoch)."""
        for seq, payload in diffs:
            if seq <= self.seq and self._ring.maxlen and (not self._ring or seq > self._ring[-1][0]):
                self._ring.append((seq, text_frame(payload)))

    def snapshot_frame(self) -> bytes:
        """The whole current row as a snapshot frame, encoded once per seq."""
        if self._snapshot is None:
            self._snapshot = text_frame(protocol.snapshot(self.channel, self.epoch, self.seq, self.ts, self.row))
        return self._snapshot

    def row_body(self) -> tuple[bytes, str]:
        """The row as a REST body and its ETag, encoded once per seq."""
        if self._body is None:
            self._body = encode_row(self.row)
        return self._body

    def replay(self, since: ResumePoint) -> list[bytes] | None:
        """Diff frames after ``since`` when this epoch still holds all of them, else None."""
        if since.epoch != self.epoch or since.seq > self.seq:
            return None
        if since.seq == self.seq:
            return []
        if not self._ring or self._ring[0][0] > since.seq + 1:
            return None
        return [frame for seq, frame in self._ring if seq > since.seq]


def encode_row(row: Row) -> tuple[bytes, str]:
    """A row as JSON bytes and a strong ETag derived from exactly those bytes."""
    body = orjson.dumps(row)
    return body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def reading_age_seconds(row: Row, now: dt.datetime) -> float | None:
    """Seconds since the row's ``timestamp`` (UTC), or None when it has none readable."""
    stamp = row.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        when = dt.datetime.fromisoformat(stamp.removesuffix("Z"))
    except ValueError:
        return None
    return (now - when).total_seconds()
