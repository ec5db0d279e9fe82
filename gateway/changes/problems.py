"""Is the binary log usable for change capture? One line saying why not, or None.

The reader needs: the log on, ROW format, FULL row images, and an account with
REPLICATION SLAVE (to stream) plus BINLOG MONITOR / REPLICATION CLIENT (to read the
position). It also needs ``binlog_row_metadata=FULL`` (MariaDB 10.5+, MySQL 8.0.14+):
only then does each table-map event carry the column names, signedness and charsets as
they were when the row was written. Without it mysql-replication 1.0.17 names no column
at all unless told to cache names from information_schema once per table for the whole
process, which after an ``ALTER TABLE ... ADD COLUMN`` mislabels the new column as
``UNKNOWN_COL<n>`` and reads every UNSIGNED column as signed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping

import pymysql

from gateway.changes.params import ConnParams
from gateway.changes.position import BinlogOff, read_position

REQUIRED = (
    ("log_bin", "ON", "the binary log is off (log_bin=OFF): start the server with --log-bin"),
    ("binlog_format", "ROW", "binlog_format is {value}, change capture needs ROW"),
    ("binlog_row_image", "FULL", "binlog_row_image is {value}, change capture needs FULL"),
    ("binlog_row_metadata", "FULL", "binlog_row_metadata is {value}, change capture needs FULL"),
)
_GLOBAL_GRANT = re.compile(r"^GRANT (.+?) ON \*\.\* TO ", re.IGNORECASE)
STREAM_PRIVILEGES = frozenset({"ALL PRIVILEGES", "REPLICATION SLAVE"})
MONITOR_PRIVILEGES = frozenset({"ALL PRIVILEGES", "BINLOG MONITOR", "REPLICATION CLIENT"})


def global_privileges(grants: Iterable[str]) -> set[str]:
    """Privileges granted ``ON *.*`` in ``SHOW GRANTS`` lines, upper-cased."""
    found: set[str] = set()
    for line in grants:
        match = _GLOBAL_GRANT.match(line.strip())
        if match:
            found.update(p.strip().upper() for p in match.group(1).split(","))
    return found


def binlog_problem(variables: Mapping[str, str | None], grants: Iterable[str]) -> str | None:
    """Why the binlog cannot be used, from the global variables and the account's grants.

    Args:
        variables: lower-case variable name to value (a missing one counts as unsupported).
        grants: the lines of ``SHOW GRANTS`` for the account the reader will use.

    Returns:
        None when usable, else one line naming the first problem found.
    """
    for name, wanted, message in REQUIRED:
        value = variables.get(name)
        if value is None:
            return f"the server has no {name} setting (needs MariaDB 10.5+ or MySQL 8.0.14+)"
        if str(value).upper() != wanted:
            return message.format(value=value)
    privileges = global_privileges(grants)
    if not privileges & STREAM_PRIVILEGES:
        return "the account lacks the REPLICATION SLAVE privilege (GRANT REPLICATION SLAVE ON *.*)"
    if not privileges & MONITOR_PRIVILEGES:
        return ("the account lacks the BINLOG MONITOR / REPLICATION CLIENT privilege "
                "(GRANT BINLOG MONITOR ON *.* on MariaDB, REPLICATION CLIENT on MySQL)")
    return None


def read_binlog_problem(conn: pymysql.connections.Connection) -> str | None:
    """``binlog_problem`` for the server and account of an open connection, then a real
    position read, which proves the monitor privilege whatever roles the grants hide."""
    with conn.cursor() as cur:
        names = [name for name, _, _ in REQUIRED]
        cur.execute(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({', '.join(['%s'] * len(names))})", names)
        variables = {str(k).lower(): v for k, v in cur.fetchall()}
        cur.execute("SHOW GRANTS")
        grants = [row[0] for row in cur.fetchall()]
    problem = binlog_problem(variables, grants)
    if problem:
        return problem
    try:
        read_position(conn)
    except BinlogOff:
        return "the binary log is off (SHOW MASTER STATUS is empty)"
    except pymysql.err.OperationalError as exc:
        return f"cannot read the binlog position: {exc.args[-1]}"
    return None


CANNOT_CONNECT = "cannot connect to"
CANNOT_CHECK = "cannot check the binlog settings"


def is_connection_problem(problem: str) -> bool:
    """Whether ``check_binlog``'s line says the server could not be asked (down, unreachable),
    rather than that its settings or the account's privileges are wrong."""
    return problem.startswith((CANNOT_CONNECT, CANNOT_CHECK))


def _check(params: ConnParams) -> str | None:
    try:
        conn = params.connect()
    except pymysql.err.MySQLError as exc:
        return f"{CANNOT_CONNECT} {params.host}:{params.port}: {exc.args[-1]}"
    try:
        return read_binlog_problem(conn)
    except pymysql.err.MySQLError as exc:
        return f"{CANNOT_CHECK}: {exc.args[-1]}"
    finally:
        conn.close()


async def check_binlog(params: ConnParams) -> str | None:
    """One line saying why the binlog is unusable with this account, or None if it is usable.

    The gateway logs the line once and polls instead; nothing is raised.
    """
    return await asyncio.to_thread(_check, params)
