"""What a WebSocket client checks in every frame: order, gaps, resyncs, latencies, driven writes.

Pure bookkeeping, no I/O: the socket loop hands decoded frames in with the time they
arrived. Rules it holds the server to (docs/PROTOCOL.md):
- each channel's first data frame is a ``snapshot``; a ``diff`` before it is an error;
- within an epoch a diff's seq is exactly the previous seq + 1, else it is a *seq gap*;
- any later snapshot of a channel is a *resync* (slow-consumer recovery or a new epoch).

Latencies, in µs: publish-to-receive is arrival time minus the frame's ``ts`` (the
server's read time, whole ms, so this reads up to 1 ms high); write-to-receive is arrival
time minus the ``updated_at`` the driver wrote (µs exact), counted only for writes made
inside the measured window. Both clocks are this machine's wall clock.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadtest.latency import LatencyRecorder
from loadtest.motion import us_of_iso

NO_WINDOW_US = 1 << 62  # "window not started yet": no stamp is that late


class WorkerCounts:
    """Counters shared by all clients of one worker process (one object, no per-frame allocation)."""

    def __init__(self, t0: float, seconds: int, track_writes: bool) -> None:
        self.t0 = t0
        self.track_writes = track_writes
        self.frames: Counter[str] = Counter()
        self.subscribe_errors: Counter[str] = Counter()
        self.status: Counter[str] = Counter()
        self.seq_gaps = 0
        self.resyncs = 0
        self.new_epochs = 0
        self.diff_before_snapshot = 0
        self.diffs = 0
        self.window_diffs = 0
        self.timeline = [0] * max(1, seconds)
        self.publish = LatencyRecorder()
        self.write = LatencyRecorder()
        self.drive_start = float("inf")
        self.window_start = float("inf")
        self.window_end = float("inf")
        self.window_start_us = NO_WINDOW_US

    def set_window(self, drive_start: float, start: float, end: float) -> None:
        """Writes stamped from ``drive_start`` on are counted; throughput is counted in [start, end)."""
        self.drive_start = drive_start
        self.window_start, self.window_end = start, end
        self.window_start_us = int(drive_start * 1_000_000)


class ChannelState:
    """One subscription as the client sees it."""

    __slots__ = ("epoch", "last_stamp_us", "ready_at", "seq", "writes")

    def __init__(self, epoch: str, seq: int, ready_at: float, last_stamp_us: int) -> None:
        self.epoch = epoch
        self.seq = seq
        self.ready_at = ready_at
        self.last_stamp_us = last_stamp_us
        self.writes = 0


def _stamp_us(value: Any) -> int:
    return us_of_iso(value) if isinstance(value, str) else 0


class ClientTracker:
    """The frame-by-frame checks of one client."""

    __slots__ = ("acked", "channels", "counts", "wanted", "welcomed")

    def __init__(self, counts: WorkerCounts, trucks: tuple[str, ...]) -> None:
        self.counts = counts
        self.wanted = {f"truck:{t}" for t in trucks}
        self.channels: dict[str, ChannelState] = {}
        self.welcomed = False
        self.acked = False

    @property
    def ready(self) -> bool:
        """Welcomed, acked, and every accepted channel has had its snapshot."""
        return self.welcomed and (self.acked or not self.wanted) and len(self.channels) >= len(self.wanted)

    def on_frame(self, frame: dict[str, Any], now: float) -> None:
        """Account for one decoded frame that arrived at wall time ``now``."""
        kind = frame.get("type")
        counts = self.counts
        if kind == "diff":
            self._on_diff(frame, now)
            return
        counts.frames[kind if isinstance(kind, str) else "?"] += 1
        if kind == "snapshot":
            self._on_snapshot(frame, now)
        elif kind == "welcome":
            self.welcomed = True
        elif kind == "ack":
            self.acked = True
            for error in frame.get("errors") or ():
                counts.subscribe_errors[str(error.get("code"))] += 1
                self.wanted.discard(error.get("channel"))
        elif kind == "status":
            counts.status[str(frame.get("state"))] += 1

    def _on_snapshot(self, frame: dict[str, Any], now: float) -> None:
        channel = frame.get("channel")
        data = frame.get("data") or {}
        stamp = _stamp_us(data.get("updated_at"))
        state = self.channels.get(channel)
        if state is None:
            self.channels[channel] = ChannelState(frame.get("epoch"), frame.get("seq"), now, stamp)
            return
        counts = self.counts
        counts.resyncs += 1
        if frame.get("epoch") != state.epoch:
            counts.new_epochs += 1
        state.epoch, state.seq = frame.get("epoch"), frame.get("seq")
        if counts.track_writes and stamp > state.last_stamp_us and stamp >= counts.window_start_us:
            state.writes += 1  # the snapshot carries the latest write; the ones skipped show as missing
            state.last_stamp_us = stamp

    def _on_diff(self, frame: dict[str, Any], now: float) -> None:
        counts = self.counts
        counts.diffs += 1
        index = int(now - counts.t0)
        if 0 <= index < len(counts.timeline):
            counts.timeline[index] += 1
        if counts.window_start <= now < counts.window_end:
            counts.window_diffs += 1
        state = self.channels.get(frame.get("channel"))
        if state is None:
            counts.diff_before_snapshot += 1
            return
        seq = frame.get("seq")
        if seq != state.seq + 1 or frame.get("epoch") != state.epoch:
            counts.seq_gaps += 1
        state.seq = seq
        now_us = int(now * 1_000_000)
        counts.publish.record(now_us - frame.get("ts", 0) * 1000)
        if counts.track_writes:
            stamp = _stamp_us((frame.get("changed") or {}).get("updated_at"))
            if stamp >= counts.window_start_us:
                state.writes += 1
                state.last_stamp_us = stamp
                counts.write.record(now_us - stamp)
