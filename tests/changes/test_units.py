"""Pure parts of the change reader: folding, positions, the thread-to-loop handoff."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gateway.changes import Change, Position
from gateway.changes.handoff import Handoff, Mark
from gateway.changes.position import advance_gtid
from gateway.changes.txn import ALL_KINDS, TransactionBuffer

T = "truck_sensors_cache"


@pytest.mark.parametrize(("steps", "expected"), [
    ([("insert", 1)], [("insert", 1)]),
    ([("insert", 1), ("update", 2), ("update", 3)], [("insert", 3)]),
    ([("update", 1), ("update", 2)], [("update", 2)]),
    ([("insert", 1), ("delete", None)], []),
    ([("update", 1), ("delete", None)], [("delete", None)]),
    ([("delete", None), ("insert", 5)], [("update", 5)]),
    ([("insert", 1), ("delete", None), ("insert", 2)], [("insert", 2)]),
])
def test_fold_of_one_rows_changes(steps, expected):
    buf = TransactionBuffer()
    for kind, rpm in steps:
        buf.add(T, kind, "T-1", None if rpm is None else {"rpm": rpm})
    got = [(c.kind, c.row["rpm"] if c.row else None) for c in buf.take({T: ALL_KINDS})]
    assert got == expected
    assert len(buf) == 0


def test_fold_keeps_rows_apart_and_in_first_touched_order():
    buf = TransactionBuffer()
    buf.add(T, "update", "B", {"v": 1})
    buf.add(T, "update", "A", {"v": 1})
    buf.add("dtc_events", "insert", "B", {"v": 9})  # same key, other table: another row
    buf.add(T, "update", "B", {"v": 2})
    changes = buf.take({T: ALL_KINDS, "dtc_events": frozenset({"insert"})})
    assert changes == [Change(T, "update", "B", {"v": 2}), Change(T, "update", "A", {"v": 1}),
                       Change("dtc_events", "insert", "B", {"v": 9})]


def test_kinds_a_table_does_not_deliver_are_dropped_after_folding():
    buf = TransactionBuffer()
    buf.add("dtc_events", "update", 7, {"status": "cleared"})
    buf.add("dtc_events", "delete", 7, None)
    assert buf.take({"dtc_events": frozenset({"insert", "update"})}) == []


def test_position_round_trip_and_rejects():
    for pos in (Position("mysql-bin.000003", 1234, "0-1-55,2-9-3"), Position("binlog.000001", 4, None),
                Position("mysql-bin.000001", 328, "")):
        assert Position.decode(pos.encode()) == pos
    for bad in ("", "{}", '{"file": "", "pos": 5}', '{"file": "x", "pos": 3}', '{"file": "x", "pos": true}',
                '{"file": "x", "pos": 10, "gtid": 5}', "[1]"):
        with pytest.raises(ValueError):
            Position.decode(bad)


def test_gtid_advances_per_domain():
    assert advance_gtid("", "0-1-5") == "0-1-5"
    assert advance_gtid("0-1-5", "0-1-6") == "0-1-6"
    assert advance_gtid("0-1-5,3-2-9", "1-7-1") == "0-1-5,1-7-1,3-2-9"
    assert advance_gtid("0-1-5,10-2-9", "10-2-10") == "0-1-5,10-2-10"


def test_handoff_keeps_order_and_folds_position_marks():
    delivered: list = []
    loop = asyncio.new_event_loop()
    handoff = Handoff(loop, delivered.append)

    def produce() -> None:
        for n in range(3):
            handoff.put(Mark(n))  # three marks in a row: only the last survives
        handoff.put("batch-1")
        handoff.put(Mark(10))
        handoff.put("batch-2")

    try:
        # The loop is not running while the thread produces: every item piles up first.
        thread = threading.Thread(target=produce)
        thread.start()
        thread.join()
        loop.run_until_complete(asyncio.sleep(0))
        assert [d.position if isinstance(d, Mark) else d for d in delivered] == [2, "batch-1", 10, "batch-2"]
        assert handoff.wakeups == 1
        handoff.close()
        assert handoff.put("late") is False
        loop.run_until_complete(asyncio.sleep(0))
        assert delivered[-1] == "batch-2"
    finally:
        loop.close()


def test_handoff_to_a_closed_loop_says_so():
    loop = asyncio.new_event_loop()
    handoff = Handoff(loop, lambda item: None)
    loop.close()
    assert handoff.put("x") is False
    assert handoff.closed
