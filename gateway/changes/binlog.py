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
``filtered`` the reader steps over each row image to its key (``rowskip``) and asks
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
from gateway.changes.rowskip import ImageWalker, WalkMismatch
from gateway.changes.txn import DEFAULT_TABLES, Batch, Kind, TableSpec, TransactionBuffer
from gateway.changes.values import ConverterCache, layout_of

log = logging.getLogger(__name__)

STREAM_PROGRAM = "gateway-binlog"
CONTROL_PROGRAM = "gateway-binlog-ctl"
ER_BINLOG_READ = 1236  # ER_MASTER_FATAL_ERROR_READING_BINLOG: the position cannot be served
FL_STANDALONE = 0x01  # MariaDB GTID flag: the group is one statement (DDL), no COMMIT/XID follows
_EVENTS = [MariadbGtidEvent, GtidEvent, QueryEvent, XidEvent, XAPrepareEvent, WriteRowsEvent, UpdateRowsEvent,
           DeleteRowsEvent, RotateEvent, HeartbeatLogEvent]
# The library reads the OK byte and the 19-byte event header straight from the packet, then
# counts the body's bytes in ``read_bytes``: the body starts 20 bytes into the packet.
_BODY_OFFSET = 20
_WALK_RECHECK = 16
_KIND: dict[type, Kind] = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}


@dataclass
class ReaderCounters:
    """What the reader did (written by its thread; read them from anywhere).

    Attributes:
        events: binlog events received (any kind, heartbeats included).
        row_events: row events of followed tables.
        transactions: commits seen (every transaction of the server, followed or not).
        batches: batches handed to the loop.
        rows_decoded: JSON-safe after-images built.
        rows_skipped: rows of unwanted keys, dropped before any conversion.
        reconnects: stream connections established after the first.
        heartbeats: heartbeat events (the server's "still here" on an idle log).
        walk_mismatches: key-only walks the library contradicted (walking then stops).
    """

    events: int = 0
    row_events: int = 0
    transactions: int = 0
    batches: int = 0
    rows_decoded: int = 0
    rows_skipped: int = 0
    reconnects: int = 0
    heartbeats: int = 0
    walk_mismatches: int = 0


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
        self._wanted = wanted
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
        self._converters = ConverterCache()
        self._walkers: dict[tuple, ImageWalker | None] = {}
        self._no_walk: set[str] = set()
        self._walk_idle: dict[str, int] = {}
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
        elif isinstance(item, Mark):
            self._position = item.position
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
                self._no_walk.add(exc.table)
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
            self._rows(event, _KIND[kind])
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

    def _rows(self, event: Any, kind: Kind) -> None:
        spec = self._specs.get(event.table)
        if spec is None:
            return
        self.counters.row_events += 1
        convert = self._converters.get(event.table, event.columns)
        wanted = self._wanted if spec.filtered else None
        if wanted is not None and self._walk_pays(spec.name):
            walker = self._walker(spec, event, kind)
            if walker is not None:
                skipped = self.counters.rows_skipped
                self._walk_rows(event, kind, spec, walker, wanted, convert)
                self._walk_idle[spec.name] = 0 if self.counters.rows_skipped > skipped else 1
                return
        for row in event.rows:
            self._row(spec, kind, row, wanted, convert)

    def _walk_pays(self, table: str) -> bool:
        """Walking costs ~10 us a row on top of decoding: when the last walked event of the
        table skipped nothing (every truck watched), decode directly and re-check every
        ``_WALK_RECHECK`` events."""
        idle = self._walk_idle.get(table, 0)
        if idle == 0:
            return True
        self._walk_idle[table] = (idle + 1) % _WALK_RECHECK
        return self._walk_idle[table] == 0

    def _walker(self, spec: TableSpec, event: Any, kind: Kind) -> ImageWalker | None:
        """A key-only walker for this event's rows, when they can be walked."""
        if spec.name in self._no_walk or not event.complete:
            return None
        full = (1 << len(event.columns)) - 1
        bitmaps = [event.columns_present_bitmap] + ([event.columns_present_bitmap2] if kind == "update" else [])
        if any(int.from_bytes(b, "little") != full for b in bitmaps):
            return None  # not a FULL image: let the library sort out which columns are there
        layout = (spec.name, layout_of(event.columns))
        if layout not in self._walkers:
            if len(self._walkers) > 64:
                self._walkers.clear()
            self._walkers[layout] = ImageWalker.build(event.columns, spec.key)
        return self._walkers[layout]

    def _walk_rows(self, event: Any, kind: Kind, spec: TableSpec, walker: ImageWalker,
                   wanted: Callable[[Any], bool], convert: Callable[[Any], Any]) -> None:
        """Skip unwanted rows by their key alone; decode the others with the library."""
        packet = event.packet
        data = packet.packet.get_all_data()
        if len(data) - _BODY_OFFSET - event.event_size not in (0, 4):  # 4: the CRC32 checksum
            raise WalkMismatch(spec.name, "unexpected event framing")
        while packet.read_bytes < event.event_size:
            start = _BODY_OFFSET + packet.read_bytes
            try:
                end, key = walker.walk(data, start)
                moved = False
                if kind == "update":
                    end, after_key = walker.walk(data, end)
                    moved = after_key != key
                if not moved and not wanted(key):
                    self.counters.rows_skipped += 1
                    packet.advance(end - start)
                    continue
                row = event._fetch_one_row()
            except Exception as exc:  # a walk off the rails reads garbage: same verdict
                raise WalkMismatch(spec.name, f"{type(exc).__name__}: {exc}") from exc
            values = row["after_values"] if kind == "update" else row["values"]
            if _BODY_OFFSET + packet.read_bytes != end or (not moved and values.get(spec.key) != key):
                raise WalkMismatch(spec.name, f"row ends at {_BODY_OFFSET + packet.read_bytes}, walk said {end}")
            self._row(spec, kind, row, wanted if moved else None, convert)

    def _row(self, spec: TableSpec, kind: Kind, row: dict, wanted: Callable[[Any], bool] | None,
             convert: Callable[[Any], Any]) -> None:
        """Fold one decoded row into the open transaction (``wanted`` None: already asked)."""
        key = spec.key
        if kind == "update":
            before, values = row["before_values"], row["after_values"]
            old = before.get(key)
            if old != values.get(key):  # the key itself changed
                if wanted is None or wanted(old):
                    self._buffer.add(spec.name, "delete", old, None)
                kind = "insert"
        else:
            values = row["values"]
        value = values.get(key)
        if wanted is not None and not wanted(value):
            self.counters.rows_skipped += 1
            return
        if kind == "delete":
            self._buffer.add(spec.name, "delete", value, None)
        else:
            self.counters.rows_decoded += 1
            self._buffer.add(spec.name, kind, value, convert(values))

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
