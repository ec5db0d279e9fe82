"""Binary-log positions: where a reader is, and where the server's log ends now.

A position names the point just after a committed transaction, both as a binlog file and
offset and, on MariaDB, as a GTID position (``domain-server-seq`` per replication domain,
comma-separated). The reader resumes by GTID when it has one: a GTID means the same
transaction on every server of a replication group, so a saved position survives a
failover to a replica whose binlog files are named and cut differently; file and offset
are the MySQL fallback. ``read_position`` takes both in one consistent step: the file and
offset from ``SHOW MASTER STATUS``, then ``BINLOG_GTID_POS`` of exactly that point (two
separate reads could straddle a commit and disagree).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pymysql

from gateway.changes.params import ConnParams

ER_PARSE_ERROR = 1064


class BinlogOff(RuntimeError):
    """The server has no binary log (``SHOW MASTER STATUS`` is empty)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A point in the binary log just after a commit.

    Attributes:
        file: binlog file name, e.g. ``mysql-bin.000003``.
        pos: byte offset in ``file`` where the next event starts.
        gtid: MariaDB GTID position (``""`` when the log holds no transaction yet); None
            on MySQL, where the reader resumes by file and offset.
    """

    file: str
    pos: int
    gtid: str | None = None

    def encode(self) -> str:
        """A JSON text to save and later give to ``Position.decode``."""
        return orjson.dumps({"file": self.file, "pos": self.pos, "gtid": self.gtid}).decode()

    @classmethod
    def decode(cls, text: str | bytes) -> Position:
        """Parse ``encode``'s output.

        Raises:
            ValueError: the text is not a saved position.
        """
        try:
            data = orjson.loads(text)
            file, pos, gtid = data["file"], data["pos"], data.get("gtid")
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            raise ValueError(f"not a binlog position: {exc}") from None
        if not isinstance(file, str) or not file or isinstance(pos, bool) or not isinstance(pos, int) or pos < 4:
            raise ValueError("not a binlog position: bad file or offset")
        if gtid is not None and not isinstance(gtid, str):
            raise ValueError("not a binlog position: bad gtid")
        return cls(file, pos, gtid)

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}" + (f" gtid={self.gtid}" if self.gtid is not None else "")


def log_order(position: Position) -> tuple[int, int]:
    """A sort key of one server's positions: the log file's sequence number, then the offset.

    Binlog files are ``<basename>.<number>`` and the number only grows (it is compared as a
    number: ``.999999`` is followed by ``.1000000``). A position taken from the server
    (``current_position``) and a batch's position compare equal at the same commit, so
    "the batch is after the position" is ``log_order(batch) > log_order(position)``.
    """
    _, _, suffix = position.file.rpartition(".")
    return (int(suffix) if suffix.isdigit() else 0, position.pos)


def advance_gtid(state: str, gtid: str) -> str:
    """The GTID position ``state`` after the transaction ``gtid`` (``domain-server-seq``).

    Each replication domain keeps only its latest GTID; domains are listed in order.
    """
    domains = {part.split("-", 1)[0]: part for part in state.split(",") if part}
    domains[gtid.split("-", 1)[0]] = gtid
    return ",".join(domains[d] for d in sorted(domains, key=int))


def _log_status(cur: Any, mariadb: bool) -> tuple[str, int] | None:
    if mariadb:
        cur.execute("SHOW MASTER STATUS")
    else:
        try:  # MySQL 8.2+ renamed it; 8.4 removed the old name
            cur.execute("SHOW BINARY LOG STATUS")
        except pymysql.err.ProgrammingError as exc:
            if exc.args[0] != ER_PARSE_ERROR:
                raise
            cur.execute("SHOW MASTER STATUS")
    row = cur.fetchone()
    return (row[0], int(row[1])) if row else None


def is_mariadb(conn: pymysql.connections.Connection) -> bool:
    """Whether the server is MariaDB (its GTIDs differ from MySQL's)."""
    return "mariadb" in conn.get_server_info().lower()


def read_position(conn: pymysql.connections.Connection) -> Position:
    """The end of the server's binary log now, on an open blocking connection.

    Raises:
        BinlogOff: the server has no binary log.
        pymysql.err.MySQLError: the account may not ask (needs BINLOG MONITOR /
            REPLICATION CLIENT), or the connection failed.
    """
    mariadb = is_mariadb(conn)
    with conn.cursor() as cur:
        status = _log_status(cur, mariadb)
        if status is None:
            raise BinlogOff("the binary log is off")
        file, pos = status
        gtid = None
        if mariadb:
            cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, pos))
            row = cur.fetchone()
            gtid = row[0] if row and row[0] is not None else None
    return Position(file, pos, gtid)


def read_position_at(params: ConnParams) -> Position:
    """``read_position`` on a connection of its own (blocking)."""
    conn = params.connect()
    try:
        return read_position(conn)
    finally:
        conn.close()


async def current_position(params: ConnParams) -> Position:
    """Where the binary log ends now: take it BEFORE reading a snapshot.

    "Position first, snapshot second, apply events after the position": every change
    committed after the snapshot's read is then after the position too, so a reader
    started from it misses nothing (it may repeat a change the snapshot already holds,
    which applying an after-image makes harmless).

    Raises:
        BinlogOff, pymysql.err.MySQLError: as ``read_position``.
    """
    return await asyncio.to_thread(read_position_at, params)
