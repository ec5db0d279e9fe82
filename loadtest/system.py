"""Operating-system knobs a load run needs: file descriptors, CPU pinning, source addresses.

Why each exists:
- Every socket is a file descriptor and the default soft limit is often 1024, far below
  what one client process holds; the hard limit (20000 here) is the real ceiling.
- On a small machine the gateway and the clients fight for the same cores; pinning them
  apart makes CPU figures repeatable and keeps the clients from stealing the gateway's core.
- One source address can reach one destination from at most the ephemeral port range
  (about 28k ports); spreading clients over 127.0.0.2, 127.0.0.3, ... lifts that limit on
  loopback, where the whole 127.0.0.0/8 answers.
"""

from __future__ import annotations

import ipaddress
import os
import resource
from urllib.parse import urlsplit

# Addresses a run may target and bind: the loopback range only (never send traffic elsewhere).
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# Below the gateway's default --max-connections-per-ip (4096), and far below the ~28k ports of one address.
CLIENTS_PER_SOURCE_ADDRESS = 4000


def raise_nofile(wanted: int | None = None) -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None or hard == resource.RLIM_INFINITY else min(hard, max(wanted, soft))
    if target == resource.RLIM_INFINITY:
        target = max(soft, 1 << 20)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def parse_cpus(text: str | None) -> set[int] | None:
    """``"1"``, ``"0,2"`` or ``"2-3"`` as a set of CPU numbers; None or empty means no pinning."""
    if not text:
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def pin_to(cpus: set[int] | None) -> None:
    """Pin the calling process to ``cpus`` (no-op when None or when the platform cannot)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def default_cpu_split() -> tuple[str | None, str | None]:
    """(server cpus, client cpus): the first core for the server, the rest for clients, when there are two."""
    count = os.cpu_count() or 1
    if count < 2:
        return None, None
    return "0", f"1-{count - 1}" if count > 2 else "1"


def is_loopback_host(host: str) -> bool:
    """True for a literal address in 127.0.0.0/8, ``localhost`` or ``::1``."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address in _LOOPBACK or address == ipaddress.ip_address("::1")


def check_loopback_url(url: str) -> str:
    """Return the URL's host, or raise ValueError unless it is a loopback address.

    The tool opens thousands of sockets; aiming it at another machine by accident would be
    an attack, so a run refuses anything but this machine.
    """
    host = urlsplit(url).hostname or ""
    if not is_loopback_host(host):
        raise ValueError(f"refusing to load {host or url!r}: only loopback targets (127.0.0.0/8, ::1) are allowed")
    return host


def source_addresses(clients: int, count: int | None = None, target_host: str = "127.0.0.1") -> list[str | None]:
    """Local addresses to spread clients over: 127.0.0.2, 127.0.0.3, ... for an IPv4 loopback target.

    ``count`` None picks one address per ``CLIENTS_PER_SOURCE_ADDRESS`` clients. A target
    that is not IPv4 loopback gets ``[None]`` (let the kernel choose).
    """
    try:
        v4_loopback = ipaddress.ip_address(target_host) in _LOOPBACK
    except ValueError:
        v4_loopback = target_host == "localhost"
    if not v4_loopback:
        return [None]
    if count is None:
        count = max(1, -(-clients // CLIENTS_PER_SOURCE_ADDRESS))
    count = max(1, min(count, 250))
    return [f"127.0.0.{2 + i}" for i in range(count)]
