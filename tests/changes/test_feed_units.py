"""The poller following a change feed, driven by hand (no database): joins, positions, fallback.

``HandFeed`` stands for ``gateway.live.feed.ChangeFeed`` with the parts a poller uses; the
test decides when it streams, where the log is, and what is pushed. The real feed's own
dispatch is checked here too, fed batches by hand; against a real binlog in the other files.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from gateway.changes import Batch, Change, ConnParams, Position, log_order
from gateway.config import Settings
from gateway.live.feed import ChangeFeed, server_id_of
from gateway.live.poller import DIFF, SNAPSHOT, STARTED, STATUS, Poller
from tests.support.recording import payload_of


class HandFeed:
    """A change feed whose state and log position the test sets."""

    def __init__(self) -> None:
        self.streaming = True
        self.generation = 0
        self.position = (1, 100)
        self.next_positions: list[tuple[int, int]] = []  # answered first, one per read
        self.pollers: list[Poller] = []
        self.position_reads = 0
        self.delivered = asyncio.Event()  # "every change up to the position was pushed"
        self.delivered.set()

    def register(self, poller: Poller) -> None:
        self.pollers.append(poller)

    def unregister(self, poller: Poller) -> None:
        self.pollers.remove(poller)

    async def join_position(self) -> tuple[int, int] | None:
        self.position_reads += 1
        return self.next_positions.pop(0) if self.next_positions else self.position

    async def wait_delivered(self, order: tuple[int, int], timeout: float) -> bool:
        await self.delivered.wait()
        return True

    def set_streaming(self, streaming: bool) -> None:
        self.streaming = streaming
        self.generation += 1
        for poller in self.pollers:
            poller.wake()


class Rows:
    """The database as the poller reads it: one row per truck, reads counted, a read can be held."""

    def __init__(self, **rows: dict) -> None:
        self.rows = rows
        self.reads = 0
        self.hold: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def read(self, truck_id: str) -> dict | None:
        self.reads += 1
        self.reading.set()
        if self.hold is not None:
            await self.hold.wait()
        row = self.rows.get(truck_id)
        return dict(row) if row is not None else None


NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"  # the tests take seconds, not minutes


def fresh(**values) -> dict:
    return {"truck_id": "T-1", "timestamp": NOW, "rpm": 700, **values}


def update(row: dict) -> Change:
    return Change("truck_sensors_cache", "update", row["truck_id"], row)


class Frames:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []
        self.news = asyncio.Event()

    def __call__(self, poller, frame: bytes, kind: str) -> None:
        self.got.append((kind, payload_of(frame)))
        self.news.set()

    def kinds(self) -> list[str]:
        return [k for k, _ in self.got]

    def diffs(self) -> list[dict]:
        return [f["changed"] for k, f in self.got if k == DIFF]

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.got) < count:
                self.news.clear()
                await self.news.wait()


async def until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def settings() -> Settings:
    return Settings(poll_interval=30.0)


async def test_pushes_at_or_before_the_join_position_are_skipped(settings):
    feed, rows, frames = HandFeed(), Rows(**{"T-1": fresh()}), Frames()
    poller = Poller("T-1", rows.read, settings, frames, feed=feed)
    await until(lambda: poller.joined == (1, 100))
    assert rows.reads == 1 and frames.kinds() == [STARTED]
    poller.push(update(fresh(rpm=1)), (1, 90))  # committed before the join: already in the row read
    poller.push(update(fresh(rpm=2)), (1, 100))
    poller.push(update(fresh(rpm=3)), (1, 101))
    poller.push(update(fresh(rpm=4)), (2, 4))  # the next log file
    assert frames.diffs() == [{"rpm": 3}, {"rpm": 4}]
    assert [f["seq"] for k, f in frames.got if k == DIFF] == [1, 2]
    assert rows.reads == 1  # pushed, never read again
    await poller.stop()
    assert feed.pollers == []  # unregistered with its task


async def test_a_push_during_the_join_read_is_applied_after_it_when_later(settings):
    feed, rows, frames = HandFeed(), Rows(**{"T-1": fresh(rpm=10)}), Frames()
    rows.hold = asyncio.Event()
    poller = Poller("T-1", rows.read, settings, frames, feed=feed)
    await rows.reading.wait()  # position taken, the row's read in flight
    poller.push(update(fresh(rpm=11)), (1, 99))  # older than the position: in the read already
    poller.push(update(fresh(rpm=12)), (1, 150))  # later: the read may or may not hold it
    rows.hold.set()
    await frames.wait(2)
    assert frames.kinds() == [STARTED, DIFF] and frames.diffs() == [{"rpm": 12}]
    await poller.stop()


@pytest.mark.parametrize(("read_rpm", "applied"), [(10, [11, 12, 13]), (12, [13]), (13, [])],
                         ids=["read-before-all", "read-held-two", "read-held-all"])
async def test_pushes_between_the_two_positions_of_a_join_are_applied_after_the_last_one_the_read_held(
        settings, read_rpm, applied):
    feed, rows, frames = HandFeed(), Rows(**{"T-1": fresh(rpm=read_rpm)}), Frames()
    feed.next_positions = [(1, 100), (1, 200)]  # before the read, after it
    feed.delivered.clear()
    rows.hold = asyncio.Event()
    poller = Poller("T-1", rows.read, settings, frames, feed=feed)
    await rows.reading.wait()
    for rpm, at in ((10, 100), (11, 120), (12, 150), (13, 180)):  # commits around the read
        poller.push(update(fresh(rpm=rpm)), (1, at))
    rows.hold.set()
    await until(lambda: feed.position_reads == 2)
    poller.push(update(fresh(rpm=14)), (1, 250))  # after the read for sure: held until settled
    assert frames.kinds() == [STARTED]
    feed.delivered.set()
    await until(lambda: poller.joined is not None)
    assert frames.diffs() == [{"rpm": n} for n in [*applied, 14]]
    values = [read_rpm] + [d["rpm"] for d in frames.diffs()]
    assert values == sorted(set(values))  # the row never moved back
    await poller.stop()


async def test_the_feed_lost_means_polling_on_the_tick_and_back_means_one_read_same_epoch():
    feed, rows, frames = HandFeed(), Rows(**{"T-1": fresh()}), Frames()
    poller = Poller("T-1", rows.read, Settings(poll_interval=0.05), frames, feed=feed)
    await until(lambda: poller.joined is not None)
    epoch = poller.epoch
    feed.set_streaming(False)
    await until(lambda: poller.joined is None)
    rows.rows["T-1"]["rpm"] = 900
    await frames.wait(2)  # found by a poll
    assert frames.diffs() == [{"rpm": 900}]
    await until(lambda: rows.reads >= 4)  # still polling, tick after tick
    rows.rows["T-1"]["rpm"] = 901
    feed.position = (1, 500)
    feed.set_streaming(True)
    await until(lambda: poller.joined == (1, 500))
    reads = rows.reads
    assert frames.diffs() == [{"rpm": 900}, {"rpm": 901}]  # only the real change, no snapshot
    assert SNAPSHOT not in frames.kinds() and poller.epoch == epoch
    poller.push(update(fresh(rpm=902)), (1, 501))
    assert frames.diffs()[-1] == {"rpm": 902} and rows.reads == reads
    await poller.stop()


async def test_a_failed_position_read_polls_that_tick(settings):
    feed, rows, frames = HandFeed(), Rows(**{"T-1": fresh()}), Frames()
    feed.position = None  # the server did not say where its log is
    poller = Poller("T-1", rows.read, Settings(poll_interval=0.05), frames, feed=feed)
    await until(lambda: rows.reads >= 3)  # reads on its ticks, not in a tight loop of joins
    assert poller.joined is None and feed.position_reads == rows.reads
    feed.position = (3, 4)
    await until(lambda: poller.joined == (3, 4))
    await poller.stop()


async def test_staleness_is_checked_on_the_row_held_without_a_read(settings):
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=50)).replace(tzinfo=None).isoformat() + "Z"
    feed, rows, frames = HandFeed(), Rows(**{"T-1": fresh(timestamp=old)}), Frames()
    poller = Poller("T-1", rows.read, Settings(poll_interval=30.0, stale_after=60), frames, feed=feed)
    await until(lambda: poller.joined is not None)
    poller.check_staleness()
    assert frames.kinds() == [STARTED]  # 50 s old, limit 60 s
    poller._settings = Settings(poll_interval=30.0, stale_after=10)  # the same row, judged by a lower limit
    poller.check_staleness()
    poller.check_staleness()  # an unchanged state is not announced again
    assert frames.kinds() == [STARTED, STATUS] and frames.got[-1][1]["state"] == "stale"
    before = len(frames.got)
    # A reading taken now (NOW is the module's import time, which a long run leaves minutes behind).
    just_now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
    poller.push(update(fresh(rpm=5, timestamp=just_now)), (9, 9))
    after = frames.got[before:]
    assert [k for k, _ in after].count("diff") == 1
    assert any(k == STATUS and f["state"] == "live" for k, f in after)  # live again, judged on the pushed row
    assert rows.reads == 1
    await poller.stop()


async def test_a_pushed_delete_degrades_and_an_insert_brings_the_row_back(settings):
    feed, rows, frames = HandFeed(), Rows(**{"T-1": fresh()}), Frames()
    poller = Poller("T-1", rows.read, settings, frames, feed=feed)
    await until(lambda: poller.joined is not None)
    poller.push(Change("truck_sensors_cache", "delete", "T-1", None), (1, 200))
    assert poller.state == "degraded"
    poller.check_staleness()  # no row: nothing to judge, and no "live" by mistake
    assert poller.state == "degraded"
    poller.push(Change("truck_sensors_cache", "insert", "T-1", fresh(rpm=1)), (1, 300))
    assert poller.state == "live"
    assert [f.get("state") for k, f in frames.got if k == STATUS] == ["degraded", "live"]
    assert frames.diffs() == [{"rpm": 1}]
    await poller.stop()


async def test_the_feed_hands_each_row_to_its_trucks_pollers_and_counts_the_rest():
    feed = ChangeFeed(ConnParams(), "fleet", 7)
    got: list[tuple[str, object, tuple]] = []

    class Recorder:
        def __init__(self, truck_id: str) -> None:
            self.truck_id = truck_id
            self.woken = 0

        def push(self, change, order) -> None:
            got.append((self.truck_id, change.row["rpm"], order))

        def wake(self) -> None:
            self.woken += 1

        def check_staleness(self) -> None:
            pass

    a, b = Recorder("A"), Recorder("B")
    feed.register(a)
    feed.register(b)
    assert feed.wanted("A") and feed.wanted("B") and not feed.wanted("C")
    rows = [Change("truck_sensors_cache", "update", t, {"rpm": n}) for n, t in enumerate("ABC")]
    feed._on_batch(Batch(Position("mysql-bin.000002", 400), rows))
    assert got == [("A", 0, (2, 400)), ("B", 1, (2, 400))]
    assert feed.counters.rows_pushed == 2 and feed.counters.rows_unwatched == 1
    feed._on_state("streaming", "mysql-bin.000002:4")
    assert feed.streaming and feed.source == "binlog" and a.woken == b.woken == 1
    feed._on_state("disconnected", "connection to the server lost")
    assert not feed.streaming and feed.source == "poll" and a.woken == 2
    feed._on_state("disconnected", "still down")  # retries of a lost link wake nobody
    assert a.woken == 2
    feed.unregister(a)
    assert not feed.wanted("A") and feed.wanted("B")


async def test_behind_the_log_a_burst_pushes_each_trucks_latest_row_once_then_moves_the_position(monkeypatch):
    feed = ChangeFeed(ConnParams(), "fleet", 7)
    # The first commit had waited > COALESCE_AFTER_S; the later ones join its pending burst
    # even though they did not (pushing them at once would put A's older row after its newer).
    behind = iter([True])
    monkeypatch.setattr(feed, "_behind", lambda: next(behind, False))
    got: list[tuple[str, object, tuple]] = []

    class Recorder:
        def __init__(self, truck_id: str) -> None:
            self.truck_id = truck_id

        def push(self, change, order) -> None:
            got.append((self.truck_id, change.row and change.row["rpm"], order, feed.delivered))

        def wake(self) -> None:
            pass

        def check_staleness(self) -> None:
            pass

    for truck in "AB":
        feed.register(Recorder(truck))
    feed._deliver_position(Position("mysql-bin.000001", 100))
    # What piled up while the loop was busy: three commits, then a position-only commit.
    for offset, changes in ((200, [("A", 1), ("B", 1)]), (300, [("A", 2)]), (400, [("A", 3)])):
        feed._on_batch(Batch(Position("mysql-bin.000001", offset),
                             [Change("truck_sensors_cache", "update", t, {"rpm": n}) for t, n in changes]))
        feed._on_position(Position("mysql-bin.000001", offset))
    feed._on_position(Position("mysql-bin.000001", 500))
    assert got == [] and feed.delivered == (1, 100)  # a join must not settle before the rows are out
    assert await feed.wait_delivered((1, 500), timeout=5)  # the end of the turn pushes the burst
    # One push per truck, its latest row with the position of its own last commit, all
    # before the delivered position moves on.
    assert got == [("B", 1, (1, 200), (1, 100)), ("A", 3, (1, 400), (1, 100))]
    assert feed.delivered == (1, 500)
    assert feed.counters.rows_pushed == 2 and feed.counters.rows_coalesced == 2


def test_log_order_compares_file_numbers_as_numbers():
    assert log_order(Position("mysql-bin.999999", 9000)) < log_order(Position("mysql-bin.1000000", 4))
    assert log_order(Position("mysql-bin.000003", 4)) > log_order(Position("mysql-bin.000002", 10**9))
    assert log_order(Position("mysql-bin.000003", 500)) == log_order(Position("mysql-bin.000003", 500, "0-1-9"))


def test_server_ids_are_distinct_per_worker_or_random_in_the_high_range(monkeypatch):
    assert 2**31 <= server_id_of(Settings()) < 2**32
    monkeypatch.setenv("GATEWAY_WORKER", "3")
    assert server_id_of(Settings(binlog_server_id=100)) == 103
    assert server_id_of(Settings(binlog_server_id=2**32 - 1)) == 3  # wraps, never 0
