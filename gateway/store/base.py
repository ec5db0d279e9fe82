"""The store protocol: the only way the gateway reads (and the simulator writes) data.

Both stores return rows already made JSON-safe (``gateway.core.rows``), run every query
parameterised and under a timeout, and turn any connectivity failure or timeout into
``StoreUnavailable`` so callers handle exactly one error for "the database is down".
Two kinds of it are told apart, for callers that can do better than "down": a wait for a
connection that REST load has taken (``StoreBusy``: the database is fine) and a database
without the gateway's tables (``StoreSchemaMissing``: run ``gateway initdb``).

Lanes: ``fetch_sensor_rows`` (the pollers' batched read) and ``stats`` (the readiness
probe) are the live path. A store keeps capacity for them that no other query may take
(MySQL: ``pool_live_reserve`` connections; SQLite: a connection and thread of their own),
so no amount of REST traffic can stop the pushes.

Truck ids are exact: a row is found only under the id it is stored with, whatever the
database's collation (MariaDB's default one ignores case; ``az0084`` is not ``AZ0084``).

They also count the queries they run by kind (``queries``), which is how tests and
``/metrics`` see how much work a poll or a request costs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.core.rows import Row
from gateway.store.url import DbUrl

TABLES = ("truck_sensors_cache", "fuel_metrics", "dtc_events", "refuel_events")


class StoreUnavailable(Exception):
    """The database could not be reached or did not answer in time."""


class StoreBusy(StoreUnavailable):
    """No connection was free in time: other queries hold them. Not an outage."""


class StoreSchemaMissing(StoreUnavailable):
    """The database answers but lacks the gateway's tables (``gateway initdb`` creates them)."""


class Store(Protocol):
    """Read (and, for the simulator, write) fleet telemetry."""

    kind: str
    queries: Counter[str]

    async def open(self) -> None:
        """Prepare the store; never fails because the database is down."""

    async def close(self) -> None:
        """Release connections; bounded in time."""

    async def stats(self) -> dict[str, Any]:
        """Check the database answers and has the tables (live lane); return pool statistics.

        Raises StoreUnavailable (``StoreSchemaMissing`` when the tables are missing)."""

    async def create_schema(self) -> None:
        """Create missing tables and indexes (idempotent)."""

    async def fetch_sensor_row(self, truck_id: str) -> Row | None:
        """One truck's cache row, or None when the truck does not exist."""

    async def fetch_sensor_rows(self, truck_ids: Sequence[str]) -> dict[str, Row]:
        """Several trucks' cache rows in one query, keyed by truck id (the live lane)."""

    async def fleet_ids(self, after: str | None, limit: int) -> list[str]:
        """Truck ids after ``after``, in order (the fleet channel's listing; live capacity)."""

    async def active_dtc_events(self, limit: int) -> list[Row]:
        """Active ``dtc_events`` rows, oldest first."""

    async def max_event_id(self, table: str) -> int:
        """The highest id of ``dtc_events`` or ``refuel_events``, 0 when empty."""

    async def events_after(self, table: str, after_id: int, limit: int) -> list[Row]:
        """``dtc_events`` or ``refuel_events`` rows with an id above ``after_id``, by id."""

    async def dtc_events_by_id(self, ids: Sequence[int]) -> list[Row]:
        """``dtc_events`` rows by id."""

    async def truck_exists(self, truck_id: str) -> bool:
        """Whether the truck has a cache row (cheaper than reading it)."""

    async def list_trucks(self, after: str | None, limit: int, only: Sequence[str] | None = None) -> list[Row]:
        """Trucks ordered by id after ``after`` (among ``only`` when given): ``truck_id``, ``timestamp``."""

    async def history(
        self,
        truck_id: str,
        since: dt.datetime,
        until: dt.datetime,
        after: tuple[dt.datetime, int] | None,
        limit: int,
    ) -> list[Row]:
        """``fuel_metrics`` rows in [since, until) after the keyset ``after``, oldest first."""

    async def dtc_events(
        self,
        truck_id: str,
        statuses: Sequence[str] | None,
        severities: Sequence[str] | None,
        since: dt.datetime | None,
        limit: int,
        before: tuple[dt.datetime, int] | None = None,
    ) -> list[Row]:
        """``dtc_events`` rows, newest first, below the keyset ``before``."""

    async def refuel_events(
        self, truck_id: str, since: dt.datetime, until: dt.datetime, limit: int,
        before: tuple[dt.datetime, int] | None = None,
    ) -> list[Row]:
        """``refuel_events`` rows in [since, until), newest first, below the keyset ``before``."""

    async def upsert_sensor_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert or replace cache rows (the fleet sync worker's write)."""

    async def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append rows to an event table."""

    async def clear_dtcs(self, ids: Sequence[int], cleared_at: dt.datetime) -> None:
        """Mark DTC events cleared."""


def open_store(url: DbUrl, **options: Any) -> Store:
    """Make the store for a URL; only the chosen backend's driver is imported."""
    if url.scheme == "mysql":
        from gateway.store.mysql import MySQLStore

        return MySQLStore(url, **options)
    from gateway.store.sqlite import SQLiteStore

    return SQLiteStore(url, query_timeout=options.get("query_timeout", 5.0))
