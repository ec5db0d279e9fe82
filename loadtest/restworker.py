"""One worker process's polling dashboards: the status quo that push replaces.

A dashboard shows ``k`` trucks and refreshes every ``interval`` seconds: each refresh
GETs ``/v1/trucks/{id}/sensors`` for its trucks at once (or at most ``rest_parallel`` in
flight, as a browser holds at most 6 connections per host), with ``If-None-Match`` so an
unchanged row costs a 304 and no body. Refreshes run at a fixed rate from the
dashboard's start (a browser's ``setInterval``); a refresh that is still running when the
next is due delays it (counted as late) rather than piling requests up.

Per truck it records what a viewer would see: a 200 whose ``updated_at`` is newer than
the last one shown is one driven write observed, and its age is write-to-observe latency.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson

from loadtest.latency import LatencyRecorder
from loadtest.motion import us_of_iso
from loadtest.plan import ClientSpec, WorkerPlan
from loadtest.wstrack import NO_WINDOW_US
from loadtest.wsworker import close_sessions, failure_reason


class _Watch:
    """What one dashboard knows of one truck."""

    __slots__ = ("etag", "last_stamp_us", "ready_at", "writes")

    def __init__(self) -> None:
        self.etag: str | None = None
        self.last_stamp_us = 0
        self.ready_at = float("inf")
        self.writes = 0


class RestWorker:
    """The dashboards of one process and what they saw."""

    def __init__(self, plan: WorkerPlan, t0: float) -> None:
        self.plan = plan
        self.t0 = t0
        seconds = int(plan.hard_deadline - t0) + 2
        self.timeline = [0] * seconds  # requests answered per second
        self.fresh_timeline = [0] * seconds  # driven writes observed per second
        self.statuses: Counter[str] = Counter()
        self.request_latency = LatencyRecorder()
        self.write_latency = LatencyRecorder()
        self.late_polls = 0
        self.window_requests = 0
        self.window_answered = 0  # of those, 200 or 304: the refreshes that showed data (not 503 busy)
        self.drive_start = float("inf")
        self.drive_start_us = NO_WINDOW_US
        self.window = (float("inf"), float("inf"))
        self.watches: dict[int, dict[str, _Watch]] = {}
        self.stopping = False
        self.tasks: list[asyncio.Task] = []
        self.unsettled = len(plan.clients)
        self.settled = asyncio.Event()
        if not plan.clients:
            self.settled.set()
        self.sessions = [
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                limit=0, local_addr=(address, 0) if address else None))
            for address in plan.source_addresses
        ]

    def ramped_info(self) -> dict[str, int]:
        return {"connected": len(self.watches), "failed": 0}

    def set_window(self, drive_start: float, start: float, end: float) -> None:
        self.drive_start, self.drive_start_us = drive_start, int(drive_start * 1_000_000)
        self.window = (start, end)

    def _second(self, now: float) -> int:
        return min(max(int(now - self.t0), 0), len(self.timeline) - 1)

    async def _get(self, session: aiohttp.ClientSession, base: str, truck: str, watch: _Watch) -> None:
        headers = {"If-None-Match": watch.etag} if watch.etag else None
        url = f"{base}/v1/trucks/{truck}/sensors"
        started = time.time()
        try:
            async with asyncio.timeout(self.plan.connect_timeout), session.get(url, headers=headers) as resp:
                body = await resp.read()
                status = resp.status
                etag = resp.headers.get("ETag")
        except Exception as exc:  # counted by kind; a dashboard keeps polling
            self.statuses[failure_reason(exc)] += 1
            return
        now = time.time()
        self.statuses[str(status)] += 1
        self.request_latency.record(int((now - started) * 1e6))
        self.timeline[self._second(now)] += 1
        if self.window[0] <= now < self.window[1]:
            self.window_requests += 1
            if status in (200, 304):
                self.window_answered += 1
        if status != 200:
            if status == 304 and watch.ready_at == float("inf"):
                watch.ready_at = now
            return
        watch.etag = etag
        stamp = us_of_iso(orjson.loads(body).get("updated_at") or "1970-01-01T00:00:00Z")
        if watch.ready_at == float("inf"):
            watch.ready_at = now
        elif stamp > watch.last_stamp_us and stamp >= self.drive_start_us:
            watch.writes += 1
            self.write_latency.record(int(now * 1e6) - stamp)
            self.fresh_timeline[self._second(now)] += 1
        watch.last_stamp_us = max(watch.last_stamp_us, stamp)

    async def dashboard(self, spec: ClientSpec) -> None:
        """Refresh every ``interval`` seconds until stopped."""
        session = self.sessions[spec.index % len(self.sessions)]
        urls = self.plan.extra.get("urls") or (self.plan.url,)
        base = urls[spec.index % len(urls)]
        watches = {truck: _Watch() for truck in spec.trucks}
        self.watches[spec.index] = watches
        interval = self.plan.interval
        parallel = int(self.plan.extra.get("rest_parallel") or 0)
        gate = asyncio.Semaphore(parallel) if parallel > 0 else None

        async def get(truck: str, watch: _Watch) -> None:
            if gate is None:
                await self._get(session, base, truck, watch)
                return
            async with gate:
                await self._get(session, base, truck, watch)

        next_at = time.time()
        first = True
        while not self.stopping:
            await asyncio.gather(*(get(t, w) for t, w in watches.items()))
            if first:
                first = False
                self.unsettled -= 1
                if self.unsettled == 0:
                    self.settled.set()
            next_at += interval
            delay = next_at - time.time()
            if delay < 0:
                self.late_polls += 1
                next_at = time.time()
                continue
            await asyncio.sleep(delay)

    async def ramp(self) -> None:
        """Start each dashboard at its own time: ``t0 + index / ramp``."""
        loop = asyncio.get_running_loop()
        for spec in self.plan.clients:
            delay = self.t0 + spec.index / self.plan.ramp - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.tasks.append(loop.create_task(self.dashboard(spec)))

    async def close_all(self) -> None:
        self.stopping = True
        await close_sessions(self.tasks, self.sessions)

    def truck_totals(self) -> dict[str, list[int]]:
        """Per truck: [dashboards polling it since before the drive, writes observed, lowest/highest last stamp]."""
        totals: dict[str, list[int]] = {}
        for watches in self.watches.values():
            for truck, watch in watches.items():
                if watch.ready_at >= self.drive_start:
                    continue
                entry = totals.setdefault(truck, [0, 0, watch.last_stamp_us, watch.last_stamp_us])
                entry[0] += 1
                entry[1] += watch.writes
                entry[2] = min(entry[2], watch.last_stamp_us)
                entry[3] = max(entry[3], watch.last_stamp_us)
        return totals

    def result(self, cpu_window: dict[str, float]) -> dict[str, Any]:
        return {
            "kind": "rest", "worker": self.plan.worker, "pid": os.getpid(), "clients": len(self.plan.clients),
            "statuses": dict(self.statuses), "late_polls": self.late_polls,
            "window_requests": self.window_requests, "window_answered": self.window_answered,
            "timeline": self.timeline,
            "fresh_timeline": self.fresh_timeline,
            "request_hdr": self.request_latency.encode(), "write_hdr": self.write_latency.encode(),
            "trucks": self.truck_totals(), "cpu": cpu_window,
        }
