"""The ``alerts`` channel of this process: events derived from row changes and the event tables.

Rules:
- Sensor events (refuel by level jump, fuel low and recovered, stale and reporting again)
  come from the rows the live path already reads: every snapshot or diff of a watched truck
  is handed to the deriver with the row before it. Subscribing to ``alerts`` makes the hub
  watch the whole fleet the grant allows, so the whole fleet feeds it.
- Time alone makes a truck stale: the deriver's clock ticks once a second.
- DTC raised/cleared and refuel rows come from ``dtc_events`` and ``refuel_events``, read
  every ``--alerts-poll`` seconds by primary key: rows after the last id seen, and the
  DTCs known active re-read by id (to see them cleared). Nothing older than the start is
  announced: the first read only sets the baseline.
- With ``--changes binlog`` and the binlog streaming in this process, those rows are
  pushed instead (``use_feed``) and the tables are not read. Joins miss nothing: after the
  baseline, and whenever the feed's state changed (it started streaming, lost or resumed
  its connection), one read of the tables catches up; a pushed row that arrives before
  that read is left to it (the read sees every committed row), and rows seen twice give
  one event (the deriver remembers what it reported).
- Events get consecutive seqs under the log's epoch, are encoded once, and go to each
  subscriber whose grant allows the truck; the log serves resume and ``GET /v1/alerts``.
- In a cluster one process derives (it holds the alerts lease, ``gateway.live.cluster``) and
  publishes each event through the broker; the others stop deriving and adopt the published
  events, so every process sends the same event (same epoch and seq) once. Whoever takes
  over derives with a new epoch, primed afresh from the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gateway.config import Settings
from gateway.core.alerts import AlertConfig, AlertDeriver, AlertLog, Event, LoggedEvent, parse_event_frame
from gateway.core.rows import Row
from gateway.core.wsframe import text_frame
from gateway.live.subscriber import Subscriber
from gateway.store import Store, StoreUnavailable

if TYPE_CHECKING:
    from gateway.changes import Change
    from gateway.live.feed import ChangeFeed

log = logging.getLogger(__name__)

ALERTS = "alerts"
_PAGE = 1000


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AlertFeed:
    """Derives, numbers and fans out fleet events."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self.deriver = AlertDeriver(AlertConfig(low_fuel_pct=settings.low_fuel_pct, stale_after_s=settings.stale_after))
        self.log = AlertLog(secrets.token_hex(4), settings.alerts_log_size)
        self.subscribers: set[Subscriber] = set()
        self.sent = 0
        self._rows: dict[str, Row] = {}
        self._active_dtcs: set[int] = set()
        self._dtc_after = self._refuel_after = 0
        self._primed = False
        self._feed: ChangeFeed | None = None
        self._caught_up: int | None = None  # the feed generation the last table read covered
        self._missed = False  # a pushed row was left to a table read
        self._wake = asyncio.Event()
        self.rows_pushed = 0  # event rows taken from the binlog
        self._tasks: list[asyncio.Task[None]] = []
        self.deriving = True  # False in a cluster while another process derives
        self.publisher: Callable[[LoggedEvent], None] | None = None  # the cluster's, while this one derives

    def derive(self, publisher: Callable[[LoggedEvent], None] | None) -> str:
        """Start deriving (again) under a fresh epoch; ``publisher`` hands each event to the cluster."""
        self.log = AlertLog(secrets.token_hex(4), self._settings.alerts_log_size)
        self.deriving, self.publisher, self._primed = True, publisher, False
        return self.log.epoch

    def follow(self) -> None:
        """Another process derives: take its events (``adopt``) and derive nothing here."""
        self.deriving, self.publisher = False, None

    def adopt(self, epoch: str, seq: int, payload: bytes, since_ms: int | None = None) -> None:
        """An event the cluster's deriver published: keep it (once) and send it on.

        ``since_ms``: events derived before it are kept (for resume and REST) but not sent:
        they happened before this process followed the channel (a backfill from history).
        """
        if self.deriving:
            return  # our own, echoed back by the relay
        _, _, event = parse_event_frame(payload)
        logged = self.log.adopt(epoch, seq, event, payload)
        if logged is not None and (since_ms is None or event.ts >= since_ms):
            self.send(logged)

    def start(self) -> None:
        """Begin reading the event tables and ticking the clock."""
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._poll_tables(), name="alerts-tables"),
                           loop.create_task(self._clock(), name="alerts-clock")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def use_feed(self, feed: ChangeFeed) -> None:
        """Take ``dtc_events`` / ``refuel_events`` changes from the binlog while it streams here."""
        self._feed = feed
        feed.follow_events(self._on_change)

    @property
    def pushed(self) -> bool:
        """True while event rows come from the binlog: it streams here and a table read
        covered everything before the current stream."""
        feed = self._feed
        return feed is not None and feed.streaming and self._caught_up == feed.generation

    def _streaming(self) -> bool:
        return self._feed is not None and self._feed.streaming

    async def _catch_up(self) -> None:
        """Read the tables; the binlog's stream counts as covered only if no pushed row was
        left to this read while it ran (such a row may have committed after it looked)."""
        feed = self._feed
        generation = feed.generation if feed is not None and feed.streaming else None
        self._missed = False
        await self._read_tables()
        self._caught_up = None if self._missed else generation

    # -- inputs -------------------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        """A committed ``dtc_events`` / ``refuel_events`` row from the binlog."""
        row = change.row
        if not self.deriving or row is None:
            return
        if not self._primed or not self.pushed:
            self._missed = True
            self._wake.set()  # a catch-up read, after this commit, will see the row
            return
        self.rows_pushed += 1
        now = _utcnow()
        if change.table == "dtc_events":
            (self._active_dtcs.add if row.get("status") == "active" else self._active_dtcs.discard)(row["id"])
            if change.kind == "insert":
                self._dtc_after = max(self._dtc_after, row["id"])
            self._emit(self.deriver.dtc_rows([row], now))
        elif change.table == "refuel_events":
            if change.kind == "insert":
                self._refuel_after = max(self._refuel_after, row["id"])
            self._emit(self.deriver.refuel_rows([row], now))

    def row(self, truck_id: str, row: Row) -> None:
        """A watched truck's row as just read (snapshot or diff)."""
        prev = self._rows.get(truck_id)
        if prev is row:
            return
        self._rows[truck_id] = row
        self._emit(self.deriver.sensor(truck_id, prev, row, _utcnow()))

    def forget(self, truck_id: str) -> None:
        """A truck no longer watched: its next row starts a new baseline."""
        self._rows.pop(truck_id, None)
        self.deriver.forget(truck_id)

    async def _clock(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._emit(self.deriver.tick(_utcnow()))

    async def _poll_tables(self) -> None:
        delay = self._settings.alerts_poll
        while True:
            if not self.deriving:
                self._primed = False  # whoever derives next starts from the tables as they are then
                await asyncio.sleep(self._settings.alerts_poll)
                continue
            try:
                if not self._primed:
                    await self._prime()
                    if self._streaming():
                        await self._catch_up()  # the stream runs already: catch up with it now
                elif not self.pushed:  # polling, or catching up with a (re)started binlog stream
                    await self._catch_up()
                delay = self._settings.alerts_poll
            except StoreUnavailable as exc:
                log.warning("alerts: event tables not readable (%s)", exc)
                delay = min(self._settings.backoff_max, delay * 2)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _prime(self) -> None:
        store = self._store
        active = await store.active_dtc_events(_PAGE)
        self._dtc_after = await store.max_event_id("dtc_events")
        self._refuel_after = await store.max_event_id("refuel_events")
        self.deriver.prime(active, [], _utcnow())
        self._active_dtcs = {r["id"] for r in active}
        self._caught_up = None
        self._primed = True

    async def _read_tables(self) -> None:
        store, now = self._store, _utcnow()
        fresh = await store.events_after("dtc_events", self._dtc_after, _PAGE)
        known = await store.dtc_events_by_id(sorted(self._active_dtcs)) if self._active_dtcs else []
        if fresh:
            self._dtc_after = fresh[-1]["id"]
        for r in (*known, *fresh):
            (self._active_dtcs.add if r.get("status") == "active" else self._active_dtcs.discard)(r["id"])
        events = self.deriver.dtc_rows([*known, *fresh], now)
        refuels = await store.events_after("refuel_events", self._refuel_after, _PAGE)
        if refuels:
            self._refuel_after = refuels[-1]["id"]
            events += self.deriver.refuel_rows(refuels, now)
        self._emit(events)

    # -- output -------------------------------------------------------------------------
    def _emit(self, events: Iterable[Event]) -> None:
        if not self.deriving:
            return
        for event in events:
            logged = self.log.append(event)
            self.send(logged)
            if self.publisher is not None:
                self.publisher(logged)

    def send(self, logged: LoggedEvent) -> None:
        """Fan one logged event out to the subscribers allowed to see its truck."""
        frame = text_frame(logged.payload)
        truck = logged.event.truck_id
        for conn in self.subscribers:
            if conn.grant.allows(truck):
                conn.send(frame)
                self.sent += 1

    def send_to(self, conn: Subscriber, logged: LoggedEvent) -> None:
        """One logged event to one subscriber (a resume replay)."""
        conn.send(text_frame(logged.payload))
        self.sent += 1
