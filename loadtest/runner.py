"""One bounded load run, from the parent's side: workers, driver, samplers, in phase.

Timeline (wall clock):

    spawn ─ ready ─ t0 ─ ramp (clients/ramp s) ─ settled ─ drive_start ─ warm-up ─ window ─ drive_end ─ drain ─ stop

The driver (if any) writes whole rounds from ``drive_start``; throughput and server CPU
are measured in the window [drive_start + warmup, drive_end), so the pipeline is full
at both edges; the drain lets the last writes arrive before the clients close. Every wait
is bounded, and the worker pool is always closed (processes joined or killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp

from gateway.store.url import DbUrl
from loadtest import system
from loadtest.dbstats import DbCounters, StatusSample, rates
from loadtest.options import CLOSE_ALLOWANCE_S, SPAWN_ALLOWANCE_S, LoadOptions
from loadtest.plan import assign_trucks, split
from loadtest.pool import WorkerPool
from loadtest.probes import Probe
from loadtest.procstats import ProcSampler, cpu_timeline, find_pid_by_port, host_busy_seconds, window_usage
from loadtest.promscrape import deltas, scrape
from loadtest.report import build_report
from loadtest.schedule import DriveResult, Schedule


class Driver(Protocol):
    """Something that updates the trucks on a schedule: the database, or the reference server."""

    async def prepare(self, trucks: list[str]) -> None: ...
    async def run(self, schedule: Schedule, stop: asyncio.Event | None = None) -> DriveResult: ...
    async def close(self) -> None: ...


def ws_url(base: str) -> str:
    """The socket URL of a server given as ``http://host:port`` (a ws:// URL is kept as is)."""
    if base.startswith(("ws://", "wss://")):
        return base
    return base.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/") + "/v1/ws"


class LoadRun:
    """Everything measured in one run, assembled into a report at the end."""

    def __init__(self, kind: str, opts: LoadOptions, *, driver: Driver | None = None,
                 server_pid: int | None = None, db: DbUrl | None = None, label: str = "",
                 probes: Sequence[Probe] = ()) -> None:
        self.kind = kind
        self.opts = opts
        self.driver = driver
        self.label = label or kind
        self.sampler = ProcSampler(server_pid) if server_pid else None
        # A cluster run: each server process and the broker, read at the same edges.
        self.probes = list(probes)
        self.counters = DbCounters(db) if db else None
        # MariaDB's own CPU, when it runs on this machine: the cost of polling shows there too.
        db_pid = find_pid_by_port(db.port) if db and system.is_loopback_host(db.host) else None
        self.db_proc = ProcSampler(db_pid) if db_pid else None
        self.host: dict[str, tuple[float, float]] = {}
        self.own_cpu: dict[str, float] = {}
        self.db_samples: list[StatusSample] = []
        self.db_background: list[StatusSample] = []
        self.metrics: list[dict[str, float]] = []
        self.phases: dict[str, float] = {}
        self.ramped: list[Any] = []
        self.drive: DriveResult | None = None

    def _plans(self, hard_deadline: float) -> list:
        opts = self.opts
        targets = opts.server_urls()
        host = system.check_loopback_url(targets[0])
        for target in targets[1:]:
            system.check_loopback_url(target)
        addresses = system.source_addresses(opts.clients, opts.source_ips, host)
        watched = opts.watch if opts.watch is not None else opts.trucks
        per_client = len(watched) if opts.fleet else opts.trucks_per_client
        assignments = assign_trucks(opts.clients, watched, per_client)
        urls = tuple(ws_url(t) if self.kind == "ws" else t.rstrip("/") for t in targets)
        return split(self.kind, urls[0], assignments, opts.worker_count(), ramp=opts.ramp,
                     source_addresses=tuple(addresses), connect_timeout=opts.connect_timeout,
                     hard_deadline=hard_deadline, cpus=opts.client_cpus, interval=opts.interval,
                     extra={"track_writes": self.driver is not None, "urls": urls, "fleet": opts.fleet,
                            "rest_parallel": opts.rest_parallel})

    async def _edge(self, name: str, session: aiohttp.ClientSession) -> None:
        """Readings at a window edge: server process, database counters, server metrics."""
        if self.sampler:
            self.sampler.mark(name)
        if self.db_proc:
            self.db_proc.mark(name)
        self.host[name] = host_busy_seconds()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.own_cpu[name] = usage.ru_utime + usage.ru_stime
        if self.counters:
            self.db_samples.append(await self.counters.sample(time.time()))
        for probe in self.probes:
            await probe.edge(name)
        self.metrics.append(await self._scrape_all(session))

    async def _scrape_all(self, session: aiohttp.ClientSession) -> dict[str, float]:
        """Every server's /metrics, summed per name: a cluster's figures as one gateway's."""
        total: dict[str, float] = {}
        for url in self.opts.server_urls():
            for name, value in (await scrape(session, url)).items():
                total[name] = total.get(name, 0.0) + value
        return total

    async def run(self) -> dict[str, Any]:
        """Run every phase and return the report (also on a partial run)."""
        opts = self.opts
        system.raise_nofile()
        spawned = time.time()
        hard_deadline = spawned + opts.hard_timeout()
        pool = WorkerPool(self._plans(hard_deadline))
        results: list[Any] = []
        if self.counters:
            await self.counters.open()
            self.db_background.append(await self.counters.sample(time.time()))
        if self.sampler:
            self.sampler.mark("baseline")
            self.sampler.start()
        for probe in self.probes:
            await probe.open()
            await probe.edge("before")
        try:
            async with aiohttp.ClientSession() as session:
                pool.start()
                ready = await pool.gather("ready", min(SPAWN_ALLOWANCE_S, hard_deadline - time.time()))
                if any(r is None for r in ready):
                    raise RuntimeError("a worker process did not start in time")
                if self.counters:
                    self.db_background.append(await self.counters.sample(time.time()))
                for probe in self.probes:
                    await probe.edge("ready")
                if self.driver:
                    await self.driver.prepare(opts.trucks)
                results = await self._phases(pool, session, hard_deadline)
        finally:
            with contextlib.suppress(Exception):
                pool.broadcast("stop")
            await pool.close()
            for index, code in enumerate(pool.exit_codes()):
                if code:  # a worker that crashed or had to be killed: say how it ended
                    print(f"warning: worker {index} exited with code {code}", file=sys.stderr, flush=True)
            if self.sampler:
                await self.sampler.stop()
            if self.counters:
                await self.counters.close()
            for probe in self.probes:
                with contextlib.suppress(Exception):
                    await probe.close()
            if self.driver:
                await self.driver.close()
        return self._report(results)

    async def _phases(self, pool: WorkerPool, session: aiohttp.ClientSession, hard_deadline: float) -> list[Any]:
        opts = self.opts
        t0 = time.time() + 0.3
        self.phases["t0"] = t0
        pool.broadcast("start", t0)
        ramp_wait = opts.ramp_seconds() + opts.settle_timeout + 0.3
        self.ramped = await pool.gather("ramped", min(ramp_wait, hard_deadline - time.time()))
        self.phases["settled"] = time.time()
        drive_start = time.time() + 0.5  # room for the window message to reach every worker
        schedule = Schedule(tuple(opts.trucks), opts.rate, drive_start, opts.duration)
        drive_end = schedule.end if self.driver else drive_start + opts.duration
        window_start = min(drive_start + opts.warmup, drive_end)
        self.phases.update(drive_start=drive_start, window_start=window_start, window_end=drive_end)
        pool.broadcast("window", drive_start, window_start, drive_end)
        stop = asyncio.Event()
        drive_task = (asyncio.get_running_loop().create_task(self.driver.run(schedule, stop))
                      if self.driver else None)
        try:
            await asyncio.sleep(max(0.0, window_start - time.time()))
            await self._edge("window_start", session)
            await asyncio.sleep(max(0.0, drive_end - time.time()))
            await self._edge("window_end", session)
            if drive_task is not None:
                self.drive = await asyncio.wait_for(drive_task, max(1.0, hard_deadline - time.time()))
            await asyncio.sleep(min(opts.drain, max(0.0, hard_deadline - time.time())))
        finally:
            stop.set()
            if drive_task is not None and not drive_task.done():
                drive_task.cancel()
                await asyncio.gather(drive_task, return_exceptions=True)
        self.phases["stop"] = time.time()
        pool.broadcast("stop")
        answers = await pool.gather("result", max(hard_deadline - time.time(), CLOSE_ALLOWANCE_S) + 5)
        results = []
        for index, answer in enumerate(answers):
            result = answer[0] if answer else None
            if not result or "error" in result:
                detail = result["error"] if result else f"no result (exit code {pool.processes[index].exitcode})"
                print(f"warning: worker {index} did not report: {detail}", file=sys.stderr, flush=True)
                result = None
            results.append(result)
        return results

    def _report(self, results: list[Any]) -> dict[str, Any]:
        opts = self.opts
        server: dict[str, Any] = {}
        t0 = self.phases.get("t0", time.time())
        if self.sampler:
            server["timeline"] = cpu_timeline(self.sampler.timeline, t0)
        database = None
        metrics = deltas(self.metrics[0], self.metrics[-1]) if len(self.metrics) >= 2 else {}
        if len(self.db_samples) >= 2:
            background = (self.db_background[0], self.db_background[-1]) if len(self.db_background) >= 2 else None
            database = rates(self.db_samples[0], self.db_samples[-1], background,
                             metrics.get("gateway_db_queries_total"))
        if database is not None and self.db_proc and {"window_start", "window_end"} <= self.db_proc.marks.keys():
            usage = window_usage(self.db_proc.marks["window_start"], self.db_proc.marks["window_end"])
            database["mariadb_cpu_pct"] = usage["cpu_pct"]
        report = build_report(
            kind=self.kind, label=self.label, opts=opts, results=results, phases=self.phases,
            drive=self.drive, sampler=self.sampler, server_extra=server, database=database, metrics=metrics,
        )
        if self.probes:
            report["probes"] = {probe.name: probe.summary() for probe in self.probes}
        if {"window_start", "window_end"} <= self.host.keys():
            report["machine"].update(self._machine_load(report))
        return report

    def _machine_load(self, report: dict[str, Any]) -> dict[str, float]:
        """The whole machine's CPU in the window, and what was left for processes not in this run.

        On a shared machine another job can steal the cores a figure depends on; a large
        ``other_pct`` says the run was disturbed and should be repeated.
        """
        (t1, busy1), (t2, busy2) = self.host["window_start"], self.host["window_end"]
        seconds = max(t2 - t1, 1e-9)
        busy = 100 * (busy2 - busy1) / seconds
        ours = 100 * (self.own_cpu["window_end"] - self.own_cpu["window_start"]) / seconds
        ours += report.get("server", {}).get("cpu_pct", 0.0)
        ours += report.get("database", {}).get("mariadb_cpu_pct", 0.0)
        ours += sum(c or 0.0 for c in report["workers"]["cpu_pct"])
        ours += sum(p.get("cpu_pct", 0.0) for p in report.get("probes", {}).values())
        return {"busy_pct_all_cores": round(busy, 1), "other_pct": round(max(0.0, busy - ours), 1)}
