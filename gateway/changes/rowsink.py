"""Row events of the followed tables into the open transaction's buffer.

For each row: which table and key it is, whether its key is wanted at all (asked before
anything is converted), and its JSON-safe after-image (``values.RowConverter``). Rows of
``filtered`` tables are first stepped over to their key (``rowskip``) so unwanted ones
are never decoded. The walk of inserts and deletes is skipped while every row turns out
wanted (the fleet case) and checked again every ``WALK_RECHECK`` events. Updates are
always walked: the before-image of a wanted row whose key did not change is stepped over
too, and only its after-image is decoded (the before-image is never used, and decoding
it cost as much as the after-image: a third of the reader's time at 10,000 trucks).
Where the layout allows it (``rowdecode``), that after-image is read straight into the
JSON row; the first such row of a layout and one in every ``FAST_RECHECK`` after it are
also decoded by the library and compared, and a difference turns the fast path off for
the table (``decode_mismatches``), the library's row being the one used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pymysqlreplication.row_event import UpdateRowsEvent

from gateway.changes.rowdecode import ImageDecoder, Unhandled
from gateway.changes.rowskip import ImageWalker, WalkMismatch
from gateway.changes.txn import Kind, TableSpec, TransactionBuffer
from gateway.changes.values import ConverterCache, layout_of
from gateway.core.rows import Row

# The library reads the OK byte and the 19-byte event header straight from the packet, then
# counts the body's bytes in ``read_bytes``: the body starts 20 bytes into the packet.
BODY_OFFSET = 20
WALK_RECHECK = 16
FAST_RECHECK = 64


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
        before_images_skipped: update before-images stepped over instead of decoded.
        rows_fast: after-images read straight into JSON rows (``rowdecode``).
        decode_mismatches: fast-path rows the library decoded differently (the fast path
            then stops for that table).
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
    before_images_skipped: int = 0
    rows_fast: int = 0
    decode_mismatches: int = 0
    reconnects: int = 0
    heartbeats: int = 0
    walk_mismatches: int = 0


class RowSink:
    """Folds decoded rows of the followed tables into a ``TransactionBuffer``."""

    def __init__(self, specs: Mapping[str, TableSpec], wanted: Callable[[Any], bool] | None,
                 buffer: TransactionBuffer, counters: ReaderCounters) -> None:
        self._specs = specs
        self._wanted = wanted
        self._buffer = buffer
        self._counters = counters
        self._converters = ConverterCache()
        self._walkers: dict[tuple, ImageWalker | None] = {}
        self._decoders: dict[tuple, ImageDecoder | None] = {}
        self._fast_seen: dict[tuple, int] = {}  # fast-path rows per layout (to pick the checked ones)
        self._no_fast: set[str] = set()
        self._checking: ImageDecoder | None = None
        self._no_walk: set[str] = set()
        self._walk_idle: dict[str, int] = {}

    def stop_walking(self, table: str) -> None:
        """Decode every row of ``table`` from now on (its walk was contradicted)."""
        self._no_walk.add(table)

    def rows(self, event: Any, kind: Kind) -> None:
        """Take one row event (write/update/delete) of any table."""
        spec = self._specs.get(event.table)
        if spec is None:
            return
        self._counters.row_events += 1
        convert = self._converters.get(event.table, event.columns)
        wanted = self._wanted if spec.filtered else None
        if wanted is not None and (kind == "update" or self._walk_pays(spec.name)):
            walker = self._walker(spec, event, kind)
            if walker is not None:
                skipped = self._counters.rows_skipped
                self._walk_rows(event, kind, spec, walker, wanted, convert)
                self._walk_idle[spec.name] = 0 if self._counters.rows_skipped > skipped else 1
                return
        for row in event.rows:
            self._row(spec, kind, row, wanted, convert)

    def _walk_pays(self, table: str) -> bool:
        # Walking costs ~10 us a row on top of decoding: after a walked event that skipped
        # nothing, decode directly for the next WALK_RECHECK - 1 events.
        idle = self._walk_idle.get(table, 0)
        if idle == 0:
            return True
        self._walk_idle[table] = (idle + 1) % WALK_RECHECK
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

    def _decoder(self, spec: TableSpec, event: Any) -> tuple[tuple, ImageDecoder] | None:
        """The fast after-image decoder of this event's layout, when there is one."""
        if spec.name in self._no_fast:
            return None
        layout = (spec.name, layout_of(event.columns))
        if layout not in self._decoders:
            if len(self._decoders) > 64:
                self._decoders.clear()
            self._decoders[layout] = ImageDecoder.build(event.columns)
        decoder = self._decoders[layout]
        return None if decoder is None else (layout, decoder)

    def _fast_row(self, fast: tuple[tuple, ImageDecoder], data: bytes, start: int) -> tuple[int, Row] | None:
        """The after-image at ``start`` read by the fast path: (its end, its row); None when
        the library must read it (a value left to it, or a row picked to be checked, in
        which case ``_checking`` holds the decoder to compare with)."""
        layout, decoder = fast
        seen = self._fast_seen.get(layout, 0)
        self._fast_seen[layout] = seen + 1
        if seen % FAST_RECHECK == 0:
            self._checking = decoder
            return None
        try:
            return decoder.decode(data, start)
        except Unhandled:
            return None

    def _check(self, spec: TableSpec, decoder: ImageDecoder, data: bytes, start: int, end: int, library_row: Row
               ) -> None:
        """Compare the fast path with the library on one row; a difference turns it off."""
        try:
            fast_end, fast_row = decoder.decode(data, start)
        except Unhandled:
            return
        if fast_end != end or fast_row != library_row:
            self._counters.decode_mismatches += 1
            self._no_fast.add(spec.name)

    def _walk_rows(self, event: Any, kind: Kind, spec: TableSpec, walker: ImageWalker,
                   wanted: Callable[[Any], bool], convert: Callable[[Any], Any]) -> None:
        """Skip unwanted rows by their key alone; decode the others (the fast path or the library)."""
        packet = event.packet
        data = packet.packet.get_all_data()
        # Only the plain update event has two whole images in a row (MySQL's partial JSON
        # updates do not): there the before-image can be stepped over.
        after_only = kind == "update" and type(event) is UpdateRowsEvent
        fast = self._decoder(spec, event) if after_only else None
        if len(data) - BODY_OFFSET - event.event_size not in (0, 4):  # 4: the CRC32 checksum
            raise WalkMismatch(spec.name, "unexpected event framing")
        counters = self._counters
        while packet.read_bytes < event.event_size:
            start = BODY_OFFSET + packet.read_bytes
            self._checking = None
            try:
                end, key = walker.walk(data, start)
                before_end = end
                if fast is not None and wanted(key):
                    # The common case: a watched truck's update. The after-image is read
                    # once, straight into its row; no walk of it, no library decoding.
                    quick = self._fast_row(fast, data, before_end)
                    if quick is not None and quick[1].get(spec.key) == key:
                        end, row = quick
                        packet.advance(end - start)
                        counters.before_images_skipped += 1
                        counters.rows_fast += 1
                        counters.rows_decoded += 1
                        self._buffer.add(spec.name, "update", key, row)
                        continue
                moved = False
                if kind == "update":
                    end, after_key = walker.walk(data, end)
                    moved = after_key != key
                if not moved and not wanted(key):
                    counters.rows_skipped += 1
                    packet.advance(end - start)
                    continue
                if after_only and not moved:
                    packet.advance(before_end - start)
                    counters.before_images_skipped += 1
                    values = event._read_column_data(event.columns_present_bitmap2)
                    if self._checking is not None:
                        self._check(spec, self._checking, data, before_end, BODY_OFFSET + packet.read_bytes,
                                    convert(values))
                    row = {"before_values": {spec.key: key}, "after_values": values}
                else:
                    row = event._fetch_one_row()
            except Exception as exc:  # a walk off the rails reads garbage: same verdict
                raise WalkMismatch(spec.name, f"{type(exc).__name__}: {exc}") from exc
            values = row["after_values"] if kind == "update" else row["values"]
            if BODY_OFFSET + packet.read_bytes != end or (not moved and values.get(spec.key) != key):
                raise WalkMismatch(spec.name, f"row ends at {BODY_OFFSET + packet.read_bytes}, walk said {end}")
            self._row(spec, kind, row, wanted if moved else None, convert)
        if packet.read_bytes != event.event_size:
            raise WalkMismatch(spec.name, f"rows end at {packet.read_bytes}, the event at {event.event_size}")

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
            self._counters.rows_skipped += 1
            return
        if kind == "delete":
            self._buffer.add(spec.name, "delete", value, None)
        else:
            self._counters.rows_decoded += 1
            self._buffer.add(spec.name, kind, value, convert(values))
