"""Extra things measured at a run's window edges: each process of a cluster, and Redis.

A single-process run reads its one server with ``ProcSampler``; a cluster run has several
server processes and a broker, and each is a *probe*. The runner calls every probe at the
same instants: ``before`` (run start) and ``ready`` (workers up, nothing connected yet:
the background rate of shared servers), then ``window_start`` and ``window_end``. Each
probe turns its readings into a plain dict for the report. Readings are from the OS
(psutil) and from the servers' own counters (``/metrics``, Redis ``INFO``), never
estimated.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

import aiohttp

from loadtest.procstats import ProcReading, ProcSampler, find_pid_by_port, window_usage
from loadtest.promscrape import deltas, scrape

EDGES = ("before", "ready", "window_start", "window_end")


class Probe(Protocol):
    """Something read at the run's edges and summarised into ``report["probes"][name]``."""

    name: str

    async def open(self) -> None: ...
    async def edge(self, name: str) -> None: ...
    def summary(self) -> dict[str, Any]: ...
    async def close(self) -> None: ...


class ProcessProbe:
    """One server process: CPU and RSS in the window, and its own /metrics deltas."""

    def __init__(self, name: str, pid: int, metrics_url: str | None = None) -> None:
        self.name = name
        self.pid = pid
        self.metrics_url = metrics_url
        self._sampler = ProcSampler(pid)
        self._metrics: dict[str, dict[str, float]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self.metrics_url:
            self._session = aiohttp.ClientSession()

    async def edge(self, name: str) -> None:
        self._sampler.mark(name)
        if self._session is not None and name in ("window_start", "window_end"):
            self._metrics[name] = await scrape(self._session, self.metrics_url or "")

    def readings(self) -> tuple[ProcReading | None, ProcReading | None]:
        marks = self._sampler.marks
        return marks.get("window_start"), marks.get("window_end")

    def summary(self) -> dict[str, Any]:
        begin, end = self.readings()
        out: dict[str, Any] = {"pid": self.pid}
        if begin and end:
            out.update(window_usage(begin, end))
            out["rss_mib"] = round(end.rss / 2**20, 1)
        if {"window_start", "window_end"} <= self._metrics.keys():
            out["metrics"] = deltas(self._metrics["window_start"], self._metrics["window_end"])
        return out

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class RedisProbe:
    """Redis's work in the window: commands/s (``INFO stats``) and its process's CPU.

    Both are server-wide: other clients of the same Redis count too, so the rate between
    ``before`` and ``ready`` (nothing of ours connected yet) is reported as the background.
    """

    name = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._pid: int | None = None
        self._proc: ProcSampler | None = None
        self._stats: dict[str, tuple[float, int]] = {}

    async def open(self) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
        port = self._client.connection_pool.connection_kwargs.get("port", 6379)
        self._pid = find_pid_by_port(int(port))
        if self._pid:
            self._proc = ProcSampler(self._pid)

    async def edge(self, name: str) -> None:
        if self._proc is not None:
            self._proc.mark(name)
        with contextlib.suppress(Exception):  # a probe never fails a run; a missing reading shows as absent
            info = await self._client.info("stats")
            self._stats[name] = (time.time(), int(info["total_commands_processed"]))

    def _rate(self, a: str, b: str) -> float | None:
        if a not in self._stats or b not in self._stats:
            return None
        (t1, c1), (t2, c2) = self._stats[a], self._stats[b]
        return round((c2 - c1) / max(t2 - t1, 1e-9), 1)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": self._pid, "commands_per_s": self._rate("window_start", "window_end"),
                               "background_commands_per_s": self._rate("before", "ready")}
        if "window_start" in self._stats and "window_end" in self._stats:
            out["commands"] = self._stats["window_end"][1] - self._stats["window_start"][1]
        marks = self._proc.marks if self._proc else {}
        if "window_start" in marks and "window_end" in marks:
            out.update(window_usage(marks["window_start"], marks["window_end"]))
        return out

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
