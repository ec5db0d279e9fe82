"""The plain-data description of a load and of one worker process's share of it.

Everything a worker needs travels in one picklable ``WorkerPlan`` (workers are spawned,
not forked: forking a process that already runs an event loop and holds sockets is
asking for trouble). Clients are numbered globally; client ``i`` connects at
``t0 + i / ramp`` and watches trucks ``i*k .. i*k+k-1`` (mod the fleet), so every truck
has the same number of watchers within one, and worker ``w`` owns the clients with
``i % workers == w`` so all workers ramp side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """One client: its global index and the trucks it watches."""

    index: int
    trucks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """One worker process's share of a run."""

    kind: str  # "ws" or "rest"
    worker: int
    url: str  # ws: the socket URL; rest: the base URL
    clients: tuple[ClientSpec, ...]
    ramp: float  # connects (or dashboard starts) per second, over the whole run
    source_addresses: tuple[str | None, ...]
    connect_timeout: float
    hard_deadline: float  # wall time at which the worker stops whatever happens
    cpus: str | None = None
    interval: float = 1.0  # rest: seconds between two polls of one dashboard
    extra: dict = field(default_factory=dict)


def assign_trucks(clients: int, trucks: list[str], per_client: int) -> list[tuple[str, ...]]:
    """The trucks of each client, spread round-robin so watcher counts differ by at most one."""
    if not trucks or per_client <= 0:
        return [() for _ in range(clients)]
    per_client = min(per_client, len(trucks))
    n = len(trucks)
    return [tuple(trucks[(i * per_client + j) % n] for j in range(per_client)) for i in range(clients)]


def split(kind: str, url: str, assignments: list[tuple[str, ...]], workers: int, **common) -> list[WorkerPlan]:
    """Deal clients to ``workers`` plans (client ``i`` to worker ``i % workers``)."""
    workers = max(1, min(workers, len(assignments) or 1))
    return [
        WorkerPlan(
            kind=kind, worker=w, url=url,
            clients=tuple(ClientSpec(i, assignments[i]) for i in range(w, len(assignments), workers)),
            **common,
        )
        for w in range(workers)
    ]
