"""The binary log as the live path's change source (``--changes binlog``).

One ``ChangeFeed`` per process follows the binary log of the store's database with one
``BinlogReader`` (gateway.changes) and hands each committed after-image of
``truck_sensors_cache`` to the pollers of that truck in this process. What a poller does
with it is ``gateway.live.poller``'s; the feed only says whether it streams, where the log
is, and which rows changed.

Rules:
- ``wanted`` (the trucks of registered pollers) decides which rows the reader's thread
  decodes at all; it is a set, read there with one lookup. A poller registers when it is
  made, so before its first read: "marked wanted before the snapshot".
- ``streaming`` is True while the reader follows the log. Each change that matters to the
  pollers (streaming again, the stream lost or stopped, the resume position gone) bumps
  ``generation`` and wakes every poller: a joined poller then re-joins or falls back to
  polling, a polling one joins.
- A join asks ``join_position`` for the log's position before its row is read, and again
  after it; the joins of one moment share one position query (as ``gateway.live.batch``
  shares row reads). ``wait_delivered`` tells a joining poller when every change up to the
  second position has been handed out, so it can settle which of them its read held.
- Unusable binlog (``check_binlog``): one log line, pollers keep polling, the check is
  retried after 1 s, then after twice as long each time, up to ``--binlog-retry``; once it
  is usable the reader starts at the current position and the pollers join (same epochs).
  While streaming the check runs again every ``RECHECK_S``: a ``binlog_format`` switched to
  STATEMENT at run time would otherwise make changes silently stop reaching row events.
- Every committed change is pushed, in order, while the loop keeps up. When it falls
  behind (the oldest change handed over waited more than ``COALESCE_AFTER_S`` for the
  loop: more changes a second than the process can fan out), that burst coalesces per
  truck, as polling would: each truck's latest after-image is pushed once, with its own
  log position, at the end of the loop's turn, and the delivered position moves only
  after them. A truck changed five times in the burst then costs one diff, not five, so
  the backlog cannot grow without bound. While a burst waits, later changes join it.
- Staleness needs no query: once a second one sweep asks every joined poller to apply the
  staleness rule to its current row (one timer for the process, not one per truck).
- ``dtc_events`` and ``refuel_events`` are followed too (inserts and updates, every row:
  they are rare): their after-images go to the event sinks (``follow_events``, the alerts
  channel's deriver), which decide themselves whether a change can be taken as it comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields
from typing import Protocol

from gateway.changes import (
    DEFAULT_TABLES,
    Batch,
    BinlogReader,
    Change,
    ConnParams,
    Position,
    ReaderCounters,
    check_binlog,
    current_position,
    is_connection_problem,
    log_order,
)
from gateway.config import Settings

log = logging.getLogger(__name__)

TRUCK_TABLE = next(spec for spec in DEFAULT_TABLES if spec.name == "truck_sensors_cache")
RETRY_FIRST_S = 1.0
RECHECK_S = 30.0
SWEEP_S = 1.0
COALESCE_AFTER_S = 1.0  # a loop this far behind the log coalesces each truck's changes
JOIN_GATHER_S = 0.002  # joins asked within this share one position query
HEARTBEAT_S = 5.0
WORKER_ENV = "GATEWAY_WORKER"  # gateway.cli.workers sets a child's index here

Order = tuple[int, int]  # gateway.changes.log_order of a position


class FedPoller(Protocol):
    """What the feed needs of a poller (``gateway.live.poller.Poller``)."""

    truck_id: str

    def push(self, change: Change, order: Order) -> None:
        """A committed change of the truck's row, at log position ``order``."""

    def wake(self) -> None:
        """The feed's state changed: look at ``streaming`` and ``generation`` again."""

    def check_staleness(self) -> None:
        """Apply the staleness rule to the current row (no query)."""


@dataclass
class FeedCounters:
    """What the feed did (plain integers, read by /metrics and tests)."""

    batches: int = 0
    rows_pushed: int = 0  # after-images handed to pollers
    rows_unwatched: int = 0  # decoded rows no poller of this process wanted any more
    rows_coalesced: int = 0  # after-images replaced by a later one of the same truck in one burst
    event_rows: int = 0  # dtc_events / refuel_events after-images handed to the event sinks
    position_reads: int = 0  # join positions read from the server (shared by concurrent joins)
    position_failures: int = 0
    positions_lost: int = 0  # resume positions the server no longer had (every poller re-joins)
    checks_failed: int = 0  # check_binlog found the binlog unusable
    reader_starts: int = 0


def server_id_of(settings: Settings) -> int:
    """This process's replica id: ``--binlog-server-id`` (+ the worker's index), else random.

    The random range sits above the ids DBAs give replicas by hand, so a collision with a
    replica is unlikely and one between two gateways is about 1 in 2**31.
    """
    if settings.binlog_server_id:
        worker = int(os.environ.get(WORKER_ENV, "0") or 0)
        return (settings.binlog_server_id + worker - 1) % 0xFFFFFFFF + 1
    return random.randint(2**31, 2**32 - 1)


class ChangeFeed:
    """Follows the store's binary log and pushes truck rows to this process's pollers."""

    def __init__(
        self,
        params: ConnParams,
        database: str,
        server_id: int,
        *,
        retry_max: float = 30.0,
        heartbeat: float = HEARTBEAT_S,
        recheck: float = RECHECK_S,
        reader_backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self._params = params
        self._database = database
        self.server_id = server_id
        self._retry_max = retry_max
        self._heartbeat = heartbeat
        self._recheck = recheck
        self._recheck_changed = asyncio.Event()
        self._reader_backoff = reader_backoff
        self.streaming = False
        self.generation = 0
        self.problem: str | None = None  # why the binlog is not used, while it is not
        self.counters = FeedCounters()
        self._retired = ReaderCounters()  # counters of readers stopped before the current one
        self._wanted: set[str] = set()
        self._pollers: dict[str, list[FedPoller]] = {}
        self._event_sinks: list[Callable[[Change], None]] = []
        self._burst: dict[str, tuple[Change, Order]] = {}  # truck -> its latest change of this turn
        self._burst_position: Position | None = None  # delivered once the burst is pushed
        self._burst_scheduled = False
        self._reader: BinlogReader | None = None
        self._next_join: asyncio.Future[Order | None] | None = None
        self.delivered: Order = (0, 0)  # the reader's position as handed to the loop
        self._waiters: list[tuple[Order, asyncio.Future[bool]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ChangeFeed:
        """The feed of ``gateway serve --changes binlog`` (the account of ``--db``)."""
        db = settings.db
        params = ConnParams(host=db.host, port=db.port, user=db.user, password=db.password,
                            connect_timeout=min(5.0, settings.query_timeout), read_timeout=settings.query_timeout)
        return cls(params, db.database, server_id_of(settings), retry_max=settings.binlog_retry)

    # -- what /readyz, /metrics and tests read -------------------------------------------
    @property
    def source(self) -> str:
        """``binlog`` while the log is followed, else ``poll`` (the pollers read rows themselves)."""
        return "binlog" if self.streaming else "poll"

    @property
    def recheck(self) -> float:
        """Seconds between two checks of the binlog's settings while it streams."""
        return self._recheck

    @recheck.setter
    def recheck(self, seconds: float) -> None:
        self._recheck = seconds
        self._recheck_changed.set()  # a check waiting on the old interval runs now

    @property
    def reader(self) -> BinlogReader | None:
        """The running reader, if any."""
        return self._reader

    def reader_counters(self) -> ReaderCounters:
        """The binlog readers' counters, summed over every reader this feed has run."""
        total = ReaderCounters(**{f.name: getattr(self._retired, f.name) for f in fields(ReaderCounters)})
        if self._reader is not None:
            for f in fields(ReaderCounters):
                setattr(total, f.name, getattr(total, f.name) + getattr(self._reader.counters, f.name))
        return total

    def wanted(self, truck_id: str) -> bool:
        """Whether rows of ``truck_id`` are decoded (a poller of this process watches it)."""
        return truck_id in self._wanted

    # -- pollers --------------------------------------------------------------------------
    def register(self, poller: FedPoller) -> None:
        """Follow ``poller``'s truck from now on (call before its first read)."""
        self._pollers.setdefault(poller.truck_id, []).append(poller)
        self._wanted.add(poller.truck_id)

    def unregister(self, poller: FedPoller) -> None:
        """Forget ``poller``; its truck's rows stop being decoded when no other poller has it."""
        pollers = self._pollers.get(poller.truck_id)
        if pollers is None or poller not in pollers:
            return
        pollers.remove(poller)
        if not pollers:
            del self._pollers[poller.truck_id]
            self._wanted.discard(poller.truck_id)

    def follow_events(self, sink: Callable[[Change], None]) -> None:
        """Hand every committed change of ``dtc_events`` and ``refuel_events`` to ``sink`` (in the loop)."""
        self._event_sinks.append(sink)

    async def join_position(self) -> Order | None:
        """The log's position now, read after the call; None when it cannot be read (the
        caller polls this tick). The joins of one moment share one read."""
        loop = asyncio.get_running_loop()
        if self._next_join is None:
            self._next_join = loop.create_future()
            loop.call_later(JOIN_GATHER_S, self._read_join_position)
        return await asyncio.shield(self._next_join)

    def _read_join_position(self) -> None:
        future, self._next_join = self._next_join, None
        if future is not None:
            self._spawn(self._position_into(future))

    async def _position_into(self, future: asyncio.Future[Order | None]) -> None:
        self.counters.position_reads += 1
        try:
            position: Order | None = log_order(await current_position(self._params))
        except Exception as exc:  # any failure means: poll this tick
            self.counters.position_failures += 1
            log.warning("cannot read the binlog position (%s): the trucks joining now poll this tick", exc)
            position = None
        if not future.done():
            future.set_result(position)

    async def wait_delivered(self, order: Order, timeout: float) -> bool:
        """Wait until every change up to ``order`` has been pushed; False when the time ran
        out or the feed's state changed first (the caller settles with what it has)."""
        if self.delivered >= order:
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = (order, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def _on_position(self, position: Position) -> None:
        if self._burst:  # not before the burst's rows are pushed: a join would settle too early
            self._burst_position = position
            return
        self._deliver_position(position)

    def _deliver_position(self, position: Position) -> None:
        self.delivered = log_order(position)
        if self._waiters:
            for order, waiter in list(self._waiters):
                if order <= self.delivered and not waiter.done():
                    waiter.set_result(True)

    def _bump(self) -> None:
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(False)
        self.generation += 1
        for pollers in list(self._pollers.values()):
            for poller in list(pollers):
                poller.wake()

    # -- the reader's callbacks (in the loop) ---------------------------------------------
    def _behind(self) -> bool:
        """True when the burst being delivered waited longer than ``COALESCE_AFTER_S``."""
        reader = self._reader
        return reader is not None and reader.lag > COALESCE_AFTER_S

    def _on_batch(self, batch: Batch) -> None:
        self.counters.batches += 1
        order = log_order(batch.position)
        burst = self._burst
        coalesce = bool(burst) or self._behind()
        for change in batch.changes:
            if change.table != TRUCK_TABLE.name:
                self.counters.event_rows += 1
                for sink in self._event_sinks:
                    sink(change)
                continue
            pollers = self._pollers.get(change.key)
            if not pollers:
                self.counters.rows_unwatched += 1
                continue
            if not coalesce:
                self.counters.rows_pushed += 1
                for poller in pollers if len(pollers) == 1 else list(pollers):
                    poller.push(change, order)
                continue
            if change.key in burst:
                self.counters.rows_coalesced += 1
                del burst[change.key]  # re-inserted: the burst keeps the order of last changes
            burst[change.key] = (change, order)
        if burst and not self._burst_scheduled:
            self._burst_scheduled = True
            asyncio.get_running_loop().call_soon(self._push_burst)

    def _push_burst(self) -> None:
        """Push each truck's latest change of the burst, then move the delivered position."""
        self._burst_scheduled = False
        burst, self._burst = self._burst, {}
        for key, (change, order) in burst.items():
            pollers = self._pollers.get(key)
            if not pollers:
                self.counters.rows_unwatched += 1
                continue
            self.counters.rows_pushed += 1
            for poller in pollers if len(pollers) == 1 else list(pollers):
                poller.push(change, order)
        position, self._burst_position = self._burst_position, None
        if position is not None:
            self._deliver_position(position)

    def _on_state(self, state: str, detail: str) -> None:
        if self._burst or self._burst_position is not None:
            self._push_burst()  # what came before the change of state goes out first
        if state == "streaming":
            if not self.streaming:
                log.info("following the binary log of %s from %s: changes are pushed, not polled",
                         self._database, detail)
            self.streaming = True
            self.problem = None
            self._bump()
        elif state == "position_lost":
            self.counters.positions_lost += 1
            if self._reader is not None:  # it continues from the server's position now
                self.delivered = log_order(self._reader.position)
            log.warning("binlog position lost (%s): every watched truck is read again", detail)
            self._bump()
        elif state in ("disconnected", "stopped") and self.streaming:
            if state == "disconnected":
                log.warning("binlog connection lost (%s): polling until it is back", detail)
            self.streaming = False
            self._bump()

    # -- life -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Between ``start`` and ``close``: the feed checks or follows the binlog."""
        return self._supervisor is not None and not self._supervisor.done()

    async def start(self) -> None:
        """Start checking the binlog and following it when usable (returns at once; a
        running feed is left as it is)."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._supervisor = loop.create_task(self._supervise(), name="binlog-feed")
        self._sweeper = loop.create_task(self._sweep(), name="binlog-staleness")

    async def close(self) -> None:
        """Stop following the log (pollers are stopped first)."""
        for task in (self._supervisor, self._sweeper, *self._tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._supervisor, self._sweeper, *self._tasks) if t is not None),
                             return_exceptions=True)
        await self._stop_reader()

    async def _supervise(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            if self._reader is None:
                problem = await check_binlog(self._params)
                if problem is None:
                    problem = await self._start_reader()
                if problem is not None:
                    self._unusable(problem, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max)
                    continue
                delay = RETRY_FIRST_S
            self._recheck_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recheck_changed.wait(), self._recheck)
            problem = await check_binlog(self._params)
            # A server that does not answer is the reader's business (it reconnects by itself);
            # a setting or privilege that changed under it is not.
            if problem is not None and not is_connection_problem(problem):
                await self._stop_reader()
                self._unusable(problem, delay)

    def _unusable(self, problem: str, delay: float) -> None:
        self.counters.checks_failed += 1
        if problem != self.problem:  # one line per distinct reason, not one per retry
            log.warning("binlog unusable (%s): polling instead; retrying every %g s at most",
                        problem, self._retry_max)
        else:
            log.debug("binlog still unusable (%s); next check in %g s", problem, delay)
        self.problem = problem

    async def _start_reader(self) -> str | None:
        try:
            start = await current_position(self._params)
        except Exception as exc:
            return f"cannot read the binlog position: {exc}"
        self.delivered = log_order(start)
        reader = BinlogReader(self._params, self._database, self.server_id, start, self._on_batch, self._on_state,
                              wanted=self._wanted.__contains__, tables=DEFAULT_TABLES, on_position=self._on_position,
                              heartbeat=self._heartbeat, backoff=self._reader_backoff)
        self._reader = reader
        self.counters.reader_starts += 1
        reader.start()
        return None

    async def _stop_reader(self) -> None:
        reader = self._reader
        if reader is None:
            return
        await reader.stop()  # its "stopped" state makes the pollers poll
        for f in fields(ReaderCounters):
            setattr(self._retired, f.name, getattr(self._retired, f.name) + getattr(reader.counters, f.name))
        self._reader = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            if not self.streaming:
                continue
            for pollers in list(self._pollers.values()):
                for poller in pollers:
                    poller.check_staleness()

    def _spawn(self, coro: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
