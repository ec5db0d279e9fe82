"""CPU and memory of the server under test, read from the OS (psutil), not from the server itself.

A sampler reads the process's CPU times and RSS twice a second for the timeline, and
takes exact readings at the marks that matter (before the ramp, window start, window
end), so CPU% and CPU per frame cover exactly the measured window.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

SAMPLE_EVERY_S = 0.5


def find_pid_by_port(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` on this machine, if it can be seen."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


@dataclass(frozen=True, slots=True)
class ProcReading:
    """CPU seconds (user, system), resident memory and open descriptors at one instant."""

    at: float
    user_s: float
    system_s: float
    rss: int
    fds: int


@dataclass
class ProcSampler:
    """Samples one process in the background; ``mark`` files an exact reading under a name."""

    pid: int
    timeline: list[ProcReading] = field(default_factory=list)
    marks: dict[str, ProcReading] = field(default_factory=dict)
    _proc: psutil.Process | None = None
    _task: asyncio.Task | None = None

    def read(self) -> ProcReading | None:
        """One reading now, or None once the process is gone."""
        if self._proc is None:
            self._proc = psutil.Process(self.pid)
        try:
            with self._proc.oneshot():
                cpu = self._proc.cpu_times()
                rss = self._proc.memory_info().rss
                fds = self._proc.num_fds()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return ProcReading(time.time(), cpu.user, cpu.system, rss, fds)

    def mark(self, name: str) -> None:
        reading = self.read()
        if reading is not None:
            self.marks[name] = reading

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            reading = self.read()
            if reading is None:
                return
            self.timeline.append(reading)
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def peak_rss(self) -> int:
        return max((r.rss for r in self.timeline), default=0)


def host_busy_seconds() -> tuple[float, float]:
    """(wall time, CPU seconds spent busy on all cores of the machine so far)."""
    cpu = psutil.cpu_times()
    idle = cpu.idle + getattr(cpu, "iowait", 0.0)
    return time.time(), sum(cpu) - idle


def window_usage(begin: ProcReading, end: ProcReading) -> dict[str, float]:
    """CPU use between two readings: seconds and percent of one core, user and system apart."""
    seconds = max(end.at - begin.at, 1e-9)
    user, system = end.user_s - begin.user_s, end.system_s - begin.system_s
    return {
        "seconds": round(seconds, 3),
        "user_s": round(user, 3),
        "system_s": round(system, 3),
        "cpu_pct": round(100 * (user + system) / seconds, 1),
        "user_pct": round(100 * user / seconds, 1),
    }


def cpu_timeline(readings: list[ProcReading], t0: float) -> list[list[float]]:
    """[seconds since t0, CPU % of one core, RSS MiB] between consecutive samples."""
    points: list[list[float]] = []
    for prev, cur in itertools.pairwise(readings):
        span = cur.at - prev.at
        if span <= 0:
            continue
        pct = 100 * ((cur.user_s - prev.user_s) + (cur.system_s - prev.system_s)) / span
        points.append([round(cur.at - t0, 2), round(pct, 1), round(cur.rss / 2**20, 1)])
    return points


def server_summary(sampler: ProcSampler, connections: int, frames: int) -> dict[str, Any]:
    """The server's figures for the report: CPU in the window, RSS, RSS per connection, CPU per frame."""
    marks = sampler.marks
    out: dict[str, Any] = {"pid": sampler.pid}
    base, begin, end = marks.get("baseline"), marks.get("window_start"), marks.get("window_end")
    if begin and end:
        out.update(window_usage(begin, end))
        if frames:
            out["user_us_per_frame"] = round(1e6 * (end.user_s - begin.user_s) / frames, 2)
            out["cpu_us_per_frame"] = round(1e6 * ((end.user_s - begin.user_s) + (end.system_s - begin.system_s))
                                            / frames, 2)
    if base:
        out["rss_baseline_mib"] = round(base.rss / 2**20, 1)
    if begin:
        out["rss_window_start_mib"] = round(begin.rss / 2**20, 1)
        out["fds_window_start"] = begin.fds
    out["rss_peak_mib"] = round(sampler.peak_rss() / 2**20, 1)
    if base and begin and connections:
        out["rss_per_connection_kib"] = round((begin.rss - base.rss) / connections / 1024, 2)
    return out
