"""MariaDB's own counters, read before and after the measured window.

The comparison push-versus-polling is about database load, so it is measured by the
database, not taken from the gateway's word: ``SHOW GLOBAL STATUS`` ``Com_select`` (every
SELECT the server ran) and ``Questions`` (every statement clients sent). Both are
server-wide: anything else using the server in the window counts too, so run on a quiet
server (a reading taken before the load starts shows how quiet it was). The sampler's own
``SHOW`` statements count in ``Questions``, not in ``Com_select``; the driver's writes
are ``Com_insert``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiomysql

from gateway.store.url import DbUrl

COUNTERS = ("Com_select", "Com_insert", "Com_update", "Questions", "Threads_connected")


@dataclass(frozen=True, slots=True)
class StatusSample:
    """One reading of the counters and when it was taken."""

    at: float
    values: dict[str, int]


class DbCounters:
    """Reads global status counters on one dedicated connection."""

    def __init__(self, url: DbUrl) -> None:
        self._url = url
        self._conn: aiomysql.Connection | None = None

    async def open(self) -> None:
        self._conn = await aiomysql.connect(
            host=self._url.host, port=self._url.port, user=self._url.user, password=self._url.password,
            autocommit=True, connect_timeout=10,
        )

    async def sample(self, at: float) -> StatusSample:
        """Read the counters now; ``at`` is the wall time to file the reading under."""
        assert self._conn is not None, "open() first"
        names = ", ".join(f"'{name}'" for name in COUNTERS)  # constants, not input
        async with self._conn.cursor() as cur:
            await cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
            rows = await cur.fetchall()
        return StatusSample(at, {name: int(value) for name, value in rows})

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def rates(first: StatusSample, last: StatusSample, background: tuple[StatusSample, StatusSample] | None = None,
          gateway_queries: float | None = None) -> dict[str, Any]:
    """Per-second deltas between two samples.

    ``background`` is a pair of samples taken before the load started: the server's own
    SELECT rate without us, to judge whether it was quiet. ``gateway_queries`` is what
    the gateway says it ran in the same window (its /metrics), as a cross-check.
    """
    seconds = max(last.at - first.at, 1e-9)

    def per_s(a: StatusSample, b: StatusSample, name: str) -> float:
        return round((b.values.get(name, 0) - a.values.get(name, 0)) / max(b.at - a.at, 1e-9), 1)

    out: dict[str, Any] = {
        "seconds": round(seconds, 3),
        "com_select": last.values.get("Com_select", 0) - first.values.get("Com_select", 0),
        "com_select_per_s": per_s(first, last, "Com_select"),
        "com_insert_per_s": per_s(first, last, "Com_insert"),
        "questions_per_s": per_s(first, last, "Questions"),
        "threads_connected": last.values.get("Threads_connected", 0),
        "note": "server-wide counters (SHOW GLOBAL STATUS): valid on an otherwise quiet MariaDB; "
                "the driver's writes are Com_insert, each of the sampler's SHOWs one Question",
    }
    if background is not None:
        out["background_select_per_s"] = per_s(*background, "Com_select")
    if gateway_queries is not None:
        out["gateway_reported_queries_per_s"] = round(gateway_queries / seconds, 1)
    return out
