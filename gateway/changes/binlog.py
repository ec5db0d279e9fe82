"""Follow the binary log of one database and hand committed after-images to the loop.

``BinlogReader`` runs mysql-replication 1.0.17 (blocking only) in a thread of its own.
Each committed transaction that touched a followed table becomes one ``Batch`` delivered
in the event loop through ``Handoff`` (``loop.call_soon_threadsafe``), in commit order,
with the position just after that commit. Rows are folded per transaction
(``TransactionBuffer``), so subscribers see a row only as it was committed.

Connection handling is the reader's, not the library's: on a lost connection the library
would silently reconnect from the position it was *started* with (GTID mode: every
transaction since then arrives a second time; file mode: from the middle of a
half-read transaction). The connection factory given to the library therefore refuses a
second stream connection, and the reader reconnects itself, with backoff, from the last
position it committed. A resume position the server no longer has (purged logs: error
1236) is reported as ``position_lost`` and the reader continues from the server's
current position; the integrator re-reads the rows it watches.

Rows of trucks nobody watches cost as little as the format allows: for tables marked
``filtered`` the reader steps over each row image to its key (``rowsink``, ``rowskip``) and asks
``wanted(key)`` before the library decodes anything; measured here, 9 us per unwatched
UPDATE row instead of ~120 us. When every truck is wanted the walk is skipped (checked
again every 16 events).

States given to ``on_state(state, detail)``, always in the loop:
``streaming`` (connected; detail is the position), ``disconnected`` (detail is the
reason; a retry follows after a backoff), ``position_lost`` (detail is the server's
reason and the new position, already in ``reader.position``), ``stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XAPrepareEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from gateway.changes.handoff import Handoff, Mark
from gateway.changes.params import ConnParams
from gateway.changes.position import BinlogOff, Position, advance_gtid, read_position_at
from gateway.changes.rowsink import ReaderCounters, RowSink
from gateway.changes.rowskip import WalkMismatch
from gateway.changes.txn import DEFAULT_TABLES, Batch, Kind, TableSpec, TransactionBuffer

log = logging.getLogger(__name__)

STREAM_PROGRAM = "gateway-binlog"
CONTROL_PROGRAM = "gateway-binlog-ctl"
ER_BINLOG_READ = 1236  # ER_MASTER_FATAL_ERROR_READING_BINLOG: the position cannot be served
FL_STANDALONE = 0x01  # MariaDB GTID flag: the group is one statement (DDL), no COMMIT/XID follows
_EVENTS = [MariadbGtidEvent, GtidEvent, QueryEvent, XidEvent, XAPrepareEvent, WriteRowsEvent, UpdateRowsEvent,
           DeleteRowsEvent, RotateEvent, HeartbeatLogEvent]
_KIND: dict[type, Kind] = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}


@dataclass(frozen=True, slots=True)
class _State:
    state: str
    detail: str
    position: Position | None = None


class _StreamLost(Exception):
    """The library tried to reconnect on its own: the reader does that itself."""


class _Stopped(Exception):
    """stop() was called."""


def _describe(exc: BaseException) -> str:
    detail = exc.args[-1] if exc.args else ""
    return f"{type(exc).__name__}: {detail}"[:300]


class BinlogReader:
    """Follows ROW events of the followed tables of one database, from a saved position.

    Args:
        params: server and account (needs REPLICATION SLAVE and BINLOG MONITOR /
            REPLICATION CLIENT; see ``check_binlog``).
        database: the one schema followed.
        server_id: this reader's replica id; unique among the server's replicas and
            readers (a second connection with the same id makes the server drop the first).
        start: resume after this position (from ``current_position`` or a saved one).
        on_batch: called in the loop with each committed transaction's changes.
        on_state: called in the loop with ``(state, detail)``; see the module doc.
        wanted: for tables with ``filtered=True`` (truck rows), ``wanted(key)`` is asked
            before a row is converted; False drops it (``rows_skipped``). Called in the
            reader's thread, so it must be a cheap, thread-safe read (a set lookup). A
            truck must be made wanted before its snapshot is read. None wants every key.
        tables: the followed tables; deletes of ``dtc_events``/``refuel_events`` are not
            delivered by default.
        on_position: called in the loop with ``position`` each time it moves (after the
            batch's ``on_batch``, and for commits with nothing to deliver), so a consumer can
            tell when the reader has passed a point of the log.
        heartbeat: seconds between the server's heartbeats on an idle log; a link silent
            for three heartbeats counts as lost.
        backoff: first and longest wait between reconnection attempts, in seconds.
        use_gtid: resume by MariaDB GTID (default when ``start.gtid`` is set) or by file
            and offset.
    """

    def __init__(
        self,
        params: ConnParams,
        database: str,
        server_id: int,
        start: Position,
        on_batch: Callable[[Batch], None],
        on_state: Callable[[str, str], None],
        *,
        wanted: Callable[[Any], bool] | None = None,
        tables: Sequence[TableSpec] = DEFAULT_TABLES,
        on_position: Callable[[Position], None] | None = None,
        heartbeat: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        use_gtid: bool | None = None,
    ) -> None:
        if use_gtid and start.gtid is None:
            raise ValueError("use_gtid needs a start position with a GTID")
        if not 0 < server_id < 2**32:
            raise ValueError("server_id must be in 1..4294967295")
        self._params = params
        self._database = database
        self._server_id = server_id
        self._on_batch = on_batch
        self._on_state = on_state
        self._on_position = on_position
        self._specs = {spec.name: spec for spec in tables}
        self._kinds = {spec.name: spec.kinds for spec in tables}
        self._heartbeat = heartbeat
        self._backoff_min, self._backoff_max = backoff
        self._use_gtid = start.gtid is not None if use_gtid is None else use_gtid
        self.counters = ReaderCounters()
        self.state = "new"
        self._position = start  # last position delivered in the loop
        # Thread-side state: the last commit read, the open transaction, the live stream.
        self._resume = start
        self._buffer = TransactionBuffer()
        self._sink = RowSink(self._specs, wanted, self._buffer, self.counters)
        self._gtid_state = start.gtid
        self._group_gtid: str | None = None
        self._in_txn = False
        self._stream_conn: pymysql.connections.Connection | None = None
        self._streams = 0
        self._delay = self._backoff_min
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._handoff: Handoff | None = None

    @property
    def position(self) -> Position:
        """The position after the last commit delivered to the loop (save this one)."""
        return self._position

    @property
    def lag(self) -> float:
        """During a delivery: seconds the oldest item of the burst waited for the loop."""
        return self._handoff.lag if self._handoff is not None else 0.0

    @property
    def stream_connection_id(self) -> int | None:
        """The server's connection id of the binlog stream now (``KILL``-able), if connected."""
        conn = self._stream_conn
        return conn.thread_id() if conn is not None and conn.open else None

    def start(self) -> None:
        """Start the reader thread; call from inside the running event loop."""
        if self._thread is not None:
            raise RuntimeError("BinlogReader already started")
        self._handoff = Handoff(asyncio.get_running_loop(), self._deliver)
        self._thread = threading.Thread(target=self._run, name=f"binlog-{self._database}", daemon=True)
        self._thread.start()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop reading: wake the thread, join it (bounded), deliver what it had read.

        After this returns no callback runs again, except the final ``stopped`` state.
        """
        thread = self._thread
        if thread is None or self.state == "stopped":
            return
        self._stopping.set()
        self._interrupt()
        await asyncio.to_thread(thread.join, timeout)
        handoff = self._handoff
        if handoff is not None:
            handoff.flush()
            handoff.close()
        detail = ""
        if thread.is_alive():
            detail = f"reader thread still busy after {timeout:g} s; it ends on its next event or timeout"
            log.warning("binlog reader for %s: %s", self._database, detail)
        self.state = "stopped"
        self._call(self._on_state, "stopped", detail)

    def _interrupt(self) -> None:
        # shutdown() (unlike close()) wakes a recv() blocked in another thread at once.
        sock = getattr(self._stream_conn, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # --- in the loop -----------------------------------------------------------------

    def _deliver(self, item: Any) -> None:
        if isinstance(item, Batch):
            self._position = item.position
            self._call(self._on_batch, item)
            if self._on_position is not None:
                self._call(self._on_position, item.position)
        elif isinstance(item, Mark):
            self._position = item.position
            if self._on_position is not None:
                self._call(self._on_position, item.position)
        elif isinstance(item, _State):
            if item.position is not None:
                self._position = item.position
            self.state = item.state
            self._call(self._on_state, item.state, item.detail)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # a consumer's bug must not stop the change stream
            log.exception("binlog reader callback %r failed", callback)

    # --- in the reader thread --------------------------------------------------------

    def _put(self, item: Any) -> None:
        if self._handoff is not None and not self._handoff.put(item):
            self._stopping.set()  # the loop is gone

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._follow()
                reason = "the server ended the stream"
            except _Stopped:
                break
            except _StreamLost:
                reason = "connection to the server lost"
            except WalkMismatch as exc:
                # Stop walking this table and re-read the transaction the library's way.
                log.error("binlog reader: key-only walk of %s disagreed with the library (%s); "
                          "decoding every row of it from now on", exc.table, exc.detail)
                self._sink.stop_walking(exc.table)
                self.counters.walk_mismatches += 1
                continue
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] == ER_BINLOG_READ and self._relocate(exc):
                    continue
                reason = _describe(exc)
            except (pymysql.err.MySQLError, OSError) as exc:
                reason = _describe(exc)
            except Exception as exc:  # a decoding bug: keep the gateway alive, say why, retry
                log.exception("binlog reader for %s failed", self._database)
                reason = _describe(exc)
            if self._stopping.is_set():
                break
            self._put(_State("disconnected", reason))
            self._stopping.wait(self._delay)  # backoff; stop() wakes it at once
            self._delay = min(self._delay * 2, self._backoff_max)

    def _relocate(self, exc: BaseException) -> bool:
        """The resume position is gone: continue from the server's current one."""
        try:
            now = read_position_at(self._params)
        except (pymysql.err.MySQLError, BinlogOff, OSError) as err:
            log.warning("binlog position lost and the current one unreadable: %s", _describe(err))
            return False
        self._resume = now
        self._gtid_state = now.gtid
        self._put(_State("position_lost", f"{exc.args[-1]}; continuing from {now}", now))
        return True

    def _connect(self, **settings: Any) -> pymysql.connections.Connection:
        """The library's connection factory: one stream connection per ``_follow``."""
        if settings.get("program_name") == STREAM_PROGRAM:
            if self._stopping.is_set():
                raise _Stopped
            if self._stream_conn is not None:
                raise _StreamLost
            self._stream_conn = pymysql.connect(**settings)
            return self._stream_conn
        return pymysql.connect(**settings)

    def _open(self) -> BinLogStreamReader:
        start = self._resume
        where: dict[str, Any]
        if self._use_gtid and start.gtid is not None:
            where = {"auto_position": start.gtid, "is_mariadb": True}
        else:
            where = {"log_file": start.file, "log_pos": start.pos, "resume_stream": True}
        # Three heartbeats of silence means the link is dead (the library halves it).
        read_timeout = self._heartbeat * 3
        return BinLogStreamReader(
            connection_settings=self._params.stream_settings(read_timeout=read_timeout, program_name=STREAM_PROGRAM),
            ctl_connection_settings=self._params.stream_settings(read_timeout=read_timeout,
                                                                 program_name=CONTROL_PROGRAM),
            server_id=self._server_id,
            blocking=True,
            only_events=_EVENTS,
            only_schemas=[self._database],
            only_tables=list(self._specs),
            slave_heartbeat=self._heartbeat,
            pymysql_wrapper=self._connect,
            enable_logging=False,  # it would log the control connection's settings, password included
            **where,
        )

    def _follow(self) -> None:
        """Stream from ``_resume`` until the connection ends (returns or raises)."""
        self._stream_conn = None
        self._buffer.clear()
        self._group_gtid, self._in_txn = None, False
        self._gtid_state = self._resume.gtid
        stream = self._open()
        first = True
        try:
            while True:
                event = stream.fetchone()
                if self._stopping.is_set():
                    raise _Stopped
                if event is None:
                    return
                self.counters.events += 1
                if first:
                    first = False
                    self._streams += 1
                    if self._streams > 1:
                        self.counters.reconnects += 1
                    self._delay = self._backoff_min
                    self._put(_State("streaming", str(self._resume)))
                self._handle(stream, event)
        finally:
            stream.close()

    def _handle(self, stream: BinLogStreamReader, event: Any) -> None:
        kind = type(event)
        if kind in _KIND:
            self._sink.rows(event, _KIND[kind])
        elif kind is MariadbGtidEvent:
            self._buffer.clear()
            self._group_gtid = event.gtid
            self._in_txn = not event.flags & FL_STANDALONE
        elif kind is XidEvent or kind is XAPrepareEvent:
            self._commit(stream, event)
        elif kind is QueryEvent:
            query = event.query.strip().upper() if isinstance(event.query, str) else ""
            if query == "BEGIN":
                self._in_txn = True
            elif query == "ROLLBACK":
                self._buffer.clear()
                self._commit(stream, event)
            elif query == "COMMIT" or not self._in_txn:
                # Outside a transaction a query (DDL) is its own commit. SAVEPOINT and
                # ROLLBACK TO inside one are not commits.
                self._commit(stream, event)
        elif kind is GtidEvent:  # MySQL: the transaction starts with a BEGIN query
            self._buffer.clear()
            self._in_txn = False
        elif kind is HeartbeatLogEvent:
            self.counters.heartbeats += 1

    def _commit(self, stream: BinLogStreamReader, event: Any) -> None:
        if self._group_gtid is not None and self._gtid_state is not None:
            self._gtid_state = advance_gtid(self._gtid_state, self._group_gtid)
        position = Position(stream.log_file, int(stream.log_pos), self._gtid_state)
        self._group_gtid, self._in_txn = None, False
        self._resume = position
        self.counters.transactions += 1
        changes = self._buffer.take(self._kinds)
        if changes:
            self.counters.batches += 1
            self._put(Batch(position, changes, int(event.timestamp)))
        else:
            self._put(Mark(position))
