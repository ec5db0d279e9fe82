"""One worker process's WebSocket clients: ramp them up, keep them reading, close them, report.

All clients of the process share one event loop and one ``aiohttp`` connector per source
address with ``limit=0`` (the default of 100 would hold the 101st ``ws_connect`` until
another socket closes). Each client is one task reading its socket; nothing is awaited
per frame but the read itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson

from loadtest.latency import LatencyRecorder
from loadtest.plan import ClientSpec, WorkerPlan
from loadtest.wstrack import ClientTracker, WorkerCounts

_CLOSE_ALL_TIMEOUT_S = 10.0
_WS_CLOSE_TIMEOUT_S = 3.0


async def close_sessions(tasks: list[asyncio.Task], sessions: list[aiohttp.ClientSession]) -> None:
    """Cancel the client tasks and close the sessions, bounded: a worker must always get to report."""
    for task in tasks:
        task.cancel()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_CLOSE_ALL_TIMEOUT_S):
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def failure_reason(exc: BaseException) -> str:
    """A short, countable name for why a connect failed."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"handshake_{exc.status}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        return f"connect_{errno.errorcode.get(code, code)}" if code else "connect_error"
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return "disconnected"
    return type(exc).__name__


class WsWorker:
    """The clients of one process and what they saw."""

    def __init__(self, plan: WorkerPlan, t0: float) -> None:
        self.plan = plan
        self.t0 = t0
        seconds = int(plan.hard_deadline - t0) + 2
        self.counts = WorkerCounts(t0, seconds, track_writes=bool(plan.extra.get("track_writes")))
        self.connect_latency = LatencyRecorder()
        self.ready_latency = LatencyRecorder()  # connect start -> every snapshot in (a fleet's whole first load)
        self.urls: tuple[str, ...] = tuple(plan.extra.get("urls") or (plan.url,))
        self.fleet = bool(plan.extra.get("fleet"))
        self.connect_failures: Counter[str] = Counter()
        self.connect_timeline = [0] * seconds
        self.drop_timeline = [0] * seconds
        self.dropped: Counter[str] = Counter()
        self.connected = 0
        self.unsettled = len(plan.clients)
        self.settled = asyncio.Event()
        if not plan.clients:
            self.settled.set()
        self.stopping = False
        self.tasks: list[asyncio.Task] = []
        self.sockets: dict[int, aiohttp.ClientWebSocketResponse] = {}
        self.trackers: dict[int, ClientTracker] = {}
        self.dropped_clients: set[int] = set()
        self.sessions = [
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                limit=0, local_addr=(address, 0) if address else None, enable_cleanup_closed=False))
            for address in plan.source_addresses
        ]

    def ramped_info(self) -> dict[str, int]:
        return {"connected": self.connected, "failed": sum(self.connect_failures.values())}

    def set_window(self, drive_start: float, start: float, end: float) -> None:
        self.counts.set_window(drive_start, start, end)

    def _second(self) -> int:
        return min(max(int(time.time() - self.t0), 0), len(self.connect_timeline) - 1)

    def _settle_one(self) -> None:
        self.unsettled -= 1
        if self.unsettled == 0:
            self.settled.set()

    async def client(self, spec: ClientSpec) -> None:
        """Connect, read the welcome, subscribe, then account for every frame until closed."""
        plan = self.plan
        session = self.sessions[spec.index % len(self.sessions)]
        tracker = ClientTracker(self.counts, spec.trucks)
        started = time.time()
        try:
            async with asyncio.timeout(plan.connect_timeout):
                ws = await session.ws_connect(
                    self.urls[spec.index % len(self.urls)], autoping=True, heartbeat=None, compress=0, max_msg_size=0,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_WS_CLOSE_TIMEOUT_S))
                first = await ws.receive()
        except Exception as exc:  # every failure is counted by kind, none ends the run
            self.connect_failures[failure_reason(exc)] += 1
            self._settle_one()
            return
        if first.type is not aiohttp.WSMsgType.TEXT:
            self.connect_failures["no_welcome"] += 1
            self._settle_one()
            await ws.close()
            return
        now = time.time()
        self.connect_latency.record(int((now - started) * 1e6))
        self.connected += 1
        self.connect_timeline[self._second()] += 1
        self.sockets[spec.index] = ws
        self.trackers[spec.index] = tracker
        tracker.on_frame(orjson.loads(first.data), now)
        settled = False
        try:
            if spec.trucks:
                # A fleet client asks for every truck in one channel and expects each one's snapshot.
                channels = ["fleet"] if self.fleet else [f"truck:{t}" for t in spec.trucks]
                message = {"op": "subscribe", "id": 1, "channels": channels}
                await ws.send_str(orjson.dumps(message).decode())
            else:
                settled = True
                self._settle_one()
            loads, clock, text = orjson.loads, time.time, aiohttp.WSMsgType.TEXT
            async for msg in ws:
                if msg.type is text:
                    tracker.on_frame(loads(msg.data), clock())
                    if not settled and tracker.ready:
                        settled = True
                        self.ready_latency.record(int((clock() - started) * 1e6))
                        self._settle_one()
                else:
                    self.counts.frames["binary"] += 1
        except (aiohttp.ClientError, ConnectionError, orjson.JSONDecodeError) as exc:
            self.counts.frames[f"error_{type(exc).__name__}"] += 1
        finally:
            if not settled:
                self._settle_one()
            if not self.stopping:
                self.dropped[str(ws.close_code)] += 1
                self.dropped_clients.add(spec.index)
                self.drop_timeline[self._second()] += 1

    async def ramp(self) -> None:
        """Start each client at its own time: ``t0 + index / ramp``."""
        loop = asyncio.get_running_loop()
        for spec in self.plan.clients:
            delay = self.t0 + spec.index / self.plan.ramp - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.tasks.append(loop.create_task(self.client(spec)))

    async def close_all(self) -> None:
        """Close every socket at once (each close waits for the server's reply), bounded."""
        self.stopping = True
        closes = [ws.close() for ws in self.sockets.values() if not ws.closed]
        if closes:
            try:
                async with asyncio.timeout(_CLOSE_ALL_TIMEOUT_S):
                    await asyncio.gather(*closes, return_exceptions=True)
            except TimeoutError:
                self.counts.frames["close_timeout"] += 1
        await close_sessions(self.tasks, self.sessions)

    def truck_totals(self) -> tuple[dict[str, list[int]], int]:
        """Per truck: [eligible subscriptions, writes received, lowest and highest last stamp].

        A subscription is eligible when its snapshot arrived before the driver started and
        its socket stayed open to the end: only those can be expected to see every write.
        """
        totals: dict[str, list[int]] = {}
        ineligible = 0
        drive_start = self.counts.drive_start
        for index, tracker in self.trackers.items():
            dropped = index in self.dropped_clients
            for channel, state in tracker.channels.items():
                if dropped or state.ready_at >= drive_start:
                    ineligible += 1
                    continue
                truck = channel.removeprefix("truck:")
                entry = totals.get(truck)
                if entry is None:
                    totals[truck] = [1, state.writes, state.last_stamp_us, state.last_stamp_us]
                else:
                    entry[0] += 1
                    entry[1] += state.writes
                    entry[2] = min(entry[2], state.last_stamp_us)
                    entry[3] = max(entry[3], state.last_stamp_us)
        return totals, ineligible

    def result(self, cpu_window: dict[str, float]) -> dict[str, Any]:
        """Everything the parent merges, as plain picklable data."""
        counts = self.counts
        trucks, ineligible = self.truck_totals()
        not_ready = sum(1 for t in self.trackers.values() if not t.ready)
        return {
            "kind": "ws", "worker": self.plan.worker, "pid": os.getpid(), "clients": len(self.plan.clients),
            "connect": {"ok": self.connected, "failed": sum(self.connect_failures.values()),
                        "reasons": dict(self.connect_failures), "latency_hdr": self.connect_latency.encode(),
                        "ready_hdr": self.ready_latency.encode()},
            "connect_timeline": self.connect_timeline, "drop_timeline": self.drop_timeline,
            "dropped": dict(self.dropped), "not_ready": not_ready,
            "frames": dict(counts.frames), "subscribe_errors": dict(counts.subscribe_errors),
            "status": dict(counts.status), "seq_gaps": counts.seq_gaps, "resyncs": counts.resyncs,
            "new_epochs": counts.new_epochs, "diff_before_snapshot": counts.diff_before_snapshot,
            "diffs": counts.diffs, "window_diffs": counts.window_diffs, "timeline": counts.timeline,
            "publish_hdr": counts.publish.encode(), "write_hdr": counts.write.encode(),
            "trucks": trucks, "ineligible_subscriptions": ineligible, "cpu": cpu_window,
        }

