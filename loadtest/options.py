"""The settings of one load run, shared by every mode."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

SPAWN_ALLOWANCE_S = 30.0  # importing aiohttp in a fresh interpreter, times the workers, on a busy box
CLOSE_ALLOWANCE_S = 15.0


@dataclass
class LoadOptions:
    """One run: who connects, how fast, for how long, and how the data is driven."""

    url: str = "http://127.0.0.1:8080"
    clients: int = 100
    trucks: list[str] = field(default_factory=list)
    trucks_per_client: int = 1
    ramp: float = 500.0  # connects per second, whole run
    duration: float = 30.0  # seconds the data is driven (the measured window lies inside it)
    processes: int = 0  # 0: one per spare core, at least enough to stay under the fd limit
    source_ips: int | None = None
    connect_timeout: float = 10.0
    settle_timeout: float = 30.0  # after the ramp, how long to wait for every subscribe to finish
    warmup: float = 0.0  # seconds of driven load before the measured window opens
    drain: float = 3.0  # seconds after the last write for deliveries to arrive
    client_cpus: str | None = None
    rate: float = 1.0  # driven updates per truck per second
    interval: float = 1.0  # rest: seconds between two refreshes of a dashboard
    timeout: float | None = None  # hard cap on the whole run; None: computed from the phases
    targets: list[str] = field(default_factory=list)  # servers to spread clients over (i -> i % n); []: url
    watch: list[str] | None = None  # trucks dealt to clients (None: all of ``trucks``, which are driven)
    fleet: bool = False  # subscribe to the ``fleet`` channel (every truck) instead of trucks by name
    rest_parallel: int = 0  # rest: requests one dashboard has in flight at once (0: all its trucks at once)

    def server_urls(self) -> list[str]:
        """The base URLs clients connect to: ``targets``, else the one ``url``."""
        return list(self.targets) or [self.url]

    def worker_count(self) -> int:
        """Worker processes: as asked, else one per core left after the server, but 12k sockets at most each."""
        if self.processes > 0:
            return min(self.processes, max(1, self.clients))
        spare = max(1, (os.cpu_count() or 2) - 1)
        return max(1, min(max(spare, math.ceil(self.clients / 12_000)), max(1, self.clients)))

    def ramp_seconds(self) -> float:
        return self.clients / self.ramp if self.ramp > 0 else 0.0

    def hard_timeout(self) -> float:
        """Seconds from spawn after which everything is stopped, whatever its state."""
        if self.timeout is not None:
            return self.timeout
        return (SPAWN_ALLOWANCE_S + self.ramp_seconds() + self.settle_timeout + self.warmup + self.duration
                + 1.0 / max(self.rate, 0.01) + self.drain + CLOSE_ALLOWANCE_S)
