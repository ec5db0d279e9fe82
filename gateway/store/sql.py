"""SQL text shared by both stores, written once with ``%s`` placeholders.

The SQLite store swaps ``%s`` for ``?``; both dialects accept backquoted identifiers.
Every value is a bound parameter; identifiers come only from the schema's own column
lists (``columns_of``), never from a caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any


def schema_text(dialect: str) -> str:
    """The shipped DDL of ``dialect`` (``mysql`` or ``sqlite``), read from the package data.

    The DBA's copy in the repository's ``sql/`` folder is the same text (a test holds them equal).
    """
    return resources.files("gateway.store.schema").joinpath(f"{dialect}.sql").read_text(encoding="utf-8")


SENSOR_ROW = "SELECT * FROM truck_sensors_cache WHERE truck_id = %s"
# The readiness probe touches a table, so a database without the schema is not "ready".
PROBE = "SELECT 1 FROM truck_sensors_cache LIMIT 1"


def list_trucks(only: int | None, exact: str = "truck_id") -> str:
    """Trucks after a keyset id, optionally only among ``only`` given ids (a token's claims).

    ``exact`` is the dialect's case-sensitive spelling of the column: the plain IN keeps
    the primary-key lookup, the exact one drops rows that only match under a
    case-insensitive collation (the grant names ids exactly). The ids are bound twice.
    """
    marks = ", ".join(["%s"] * (only or 0))
    among = f" AND truck_id IN ({marks}) AND {exact} IN ({marks})" if only else ""
    return (f"SELECT truck_id, `timestamp` FROM truck_sensors_cache WHERE truck_id > %s{among} "
            "ORDER BY truck_id LIMIT %s")


# Keyset paging on (timestamp_utc, id): the range on the indexed timestamp keeps the scan
# on idx_fuel_metrics_truck_time (InnoDB appends the primary key to it, so the ORDER BY
# needs no sort); the OR only trims ties at the cursor's own timestamp.
HISTORY = (
    "SELECT * FROM fuel_metrics WHERE truck_id = %s "
    "AND timestamp_utc >= %s AND timestamp_utc < %s "
    "AND (timestamp_utc > %s OR id > %s) "
    "ORDER BY timestamp_utc, id LIMIT %s"
)
# The alerts feed's reads of the event tables: by primary key only (ranges and id lists),
# so their cost does not grow with the tables; active DTCs through idx_dtc_events_status.
ACTIVE_DTCS = "SELECT * FROM dtc_events WHERE status = 'active' ORDER BY id LIMIT %s"
MAX_ID = {table: f"SELECT MAX(id) AS id FROM {table}" for table in ("dtc_events", "refuel_events")}
EVENTS_AFTER = {table: f"SELECT * FROM {table} WHERE id > %s ORDER BY id LIMIT %s"
                for table in ("dtc_events", "refuel_events")}


def dtcs_by_id(count: int) -> str:
    """DTC rows by primary key (the ones known active, re-read to see them cleared)."""
    return f"SELECT * FROM dtc_events WHERE id IN ({', '.join(['%s'] * count)})"


TRUCK_EXISTS = "SELECT truck_id FROM truck_sensors_cache WHERE truck_id = %s"
# Newest first with a keyset (time, id) below the previous page's last row; the range on
# the indexed time column keeps the scan on idx_refuel_events_truck_time, read backwards.
REFUELS = (
    "SELECT * FROM refuel_events WHERE truck_id = %s "
    "AND refuel_time >= %s AND refuel_time <= %s "
    "AND (refuel_time < %s OR id < %s) "
    "ORDER BY refuel_time DESC, id DESC LIMIT %s"
)


def sensor_rows(count: int) -> str:
    """Read several cache rows at once."""
    return f"SELECT * FROM truck_sensors_cache WHERE truck_id IN ({', '.join(['%s'] * count)})"


def dtc_events(n_status: int, n_severity: int, with_since: bool, with_before: bool) -> str:
    """DTC query with optional IN-lists; the leading truck_id uses the composite index."""
    where = ["truck_id = %s"]
    if n_status:
        where.append(f"status IN ({', '.join(['%s'] * n_status)})")
    if n_severity:
        where.append(f"severity IN ({', '.join(['%s'] * n_severity)})")
    if with_since:
        where.append("timestamp_utc >= %s")
    if with_before:
        where.append("timestamp_utc <= %s AND (timestamp_utc < %s OR id < %s)")
    return (
        f"SELECT * FROM dtc_events WHERE {' AND '.join(where)} "
        "ORDER BY timestamp_utc DESC, id DESC LIMIT %s"
    )


def clear_dtcs(count: int) -> str:
    """Mark DTC events cleared by id."""
    return (
        "UPDATE dtc_events SET status = 'cleared', cleared_at = %s "
        f"WHERE id IN ({', '.join(['%s'] * count)})"
    )


def insert(table: str, columns: Sequence[str]) -> str:
    """INSERT for a table whose columns were checked against the schema."""
    cols = ", ".join(f"`{c}`" for c in columns)
    return f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(columns))})"


def schema_statements(dialect: str) -> list[str]:
    """The statements of ``sql/<dialect>.sql``, comments removed, in order."""
    text = schema_text(dialect)
    text = re.sub(r"--[^\n]*", "", text)
    return [s.strip() for s in text.split(";") if s.strip()]


_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)", re.S)
_COLUMN = re.compile(r"^\s*[`\"]?(\w+)[`\"]?\s+\w+", re.M)
_CONSTRAINT_WORDS = {"PRIMARY", "KEY", "INDEX", "UNIQUE", "CONSTRAINT", "FOREIGN"}


def columns_of(dialect: str) -> dict[str, tuple[str, ...]]:
    """Column names per table, read from the shipped DDL (the whitelist for writes)."""
    tables: dict[str, tuple[str, ...]] = {}
    for statement in schema_statements(dialect):
        match = _CREATE_TABLE.match(statement)
        if match:
            names = [m for m in _COLUMN.findall(match.group(2)) if m.upper() not in _CONSTRAINT_WORDS]
            tables[match.group(1)] = tuple(names)
    return tables


def checked_columns(schema: dict[str, tuple[str, ...]], table: str, row: Mapping[str, Any]) -> list[str]:
    """Columns of ``row`` in schema order, after checking table and names against the DDL.

    Raises:
        ValueError: unknown table or column (identifiers are never taken on trust).
    """
    known = schema.get(table)
    if known is None:
        raise ValueError(f"unknown table {table!r}")
    unknown = set(row) - set(known)
    if unknown:
        raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
    return [c for c in known if c in row]
