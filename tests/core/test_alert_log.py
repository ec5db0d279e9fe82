"""The alerts channel's frames and its log: seq, resume, grant filtering and REST pages."""

from __future__ import annotations

import orjson
import pytest

from gateway.core.alerts import FUEL_LOW, REFUEL, AlertLog, Event, event_frame, parse_event_frame
from gateway.core.protocol import ResumePoint

T0_MS = 1795341600000


def ev(truck_id: str, ts: int = T0_MS, kind: str = FUEL_LOW) -> Event:
    return Event(kind=kind, truck_id=truck_id, ts=ts, data={"fuel_level_pct": 14.9})


def filled(trucks: list[str], size: int = 100, epoch: str = "e1") -> AlertLog:
    """A log holding one event per entry of ``trucks``, the n-th (1-based) at T0 + n s."""
    log = AlertLog(epoch, size)
    for n, truck_id in enumerate(trucks, 1):
        log.append(ev(truck_id, T0_MS + 1000 * n))
    return log


def seqs(items: list) -> list[int]:
    return [item.seq for item in items]


def everyone(_truck_id: str) -> bool:
    return True


# --- frames ----------------------------------------------------------------------------


def test_event_frame_shape_and_round_trip() -> None:
    event = Event(kind=FUEL_LOW, truck_id="FL-0208", ts=T0_MS, data={"fuel_level_pct": 14.9})
    payload = event_frame("8f3a", 42, event)
    assert orjson.loads(payload) == {"type": "event", "channel": "alerts", "epoch": "8f3a", "seq": 42,
                                     "kind": "fuel_low", "truck_id": "FL-0208", "ts": T0_MS,
                                     "data": {"fuel_level_pct": 14.9}}
    assert parse_event_frame(payload) == ("8f3a", 42, event)


@pytest.mark.parametrize("payload", [b"nope", b"[]", b'{"type": "diff"}',
                                     b'{"type": "event", "epoch": "e", "seq": "1", "kind": "k", "truck_id": "T",'
                                     b' "ts": 1, "data": {}}'])
def test_parse_event_frame_rejects_other_payloads(payload: bytes) -> None:
    with pytest.raises(ValueError):
        parse_event_frame(payload)


# --- seq and resume --------------------------------------------------------------------


def test_append_numbers_events_and_encodes_each_frame_once() -> None:
    log = AlertLog("e1", 10)
    first, second = log.append(ev("A")), log.append(ev("B", kind=REFUEL))
    assert (first.seq, second.seq, log.last_seq, log.first_seq) == (1, 2, 2, 1)
    assert second.payload == event_frame("e1", 2, second.event)
    assert orjson.loads(second.payload)["kind"] == "refuel"


def test_replay_gives_what_followed_or_none_when_it_cannot() -> None:
    log = filled(["A", "B", "A", "C", "A"], size=3)  # holds seqs 3, 4, 5
    assert seqs(log.replay(ResumePoint("e1", 2))) == [3, 4, 5]
    assert seqs(log.replay(ResumePoint("e1", 3), allowed=lambda t: t == "A")) == [5]
    assert log.replay(ResumePoint("e1", 5)) == []
    assert log.replay(ResumePoint("e1", 1)) is None  # seq 2 fell out of the ring
    assert log.replay(ResumePoint("e1", 6)) is None  # a seq this epoch never had
    assert log.replay(ResumePoint("other", 5)) is None
    assert (log.missed(1), log.missed(2), log.missed(5)) == (True, False, False)


def test_adopt_keeps_remote_seqs_drops_duplicates_and_never_replays_over_a_gap() -> None:
    log = AlertLog("e1", 10)
    assert log.adopt("e1", 1, ev("A")).seq == 1
    assert log.adopt("e1", 1, ev("A")) is None
    log.adopt("e1", 2, ev("B"))
    log.adopt("e1", 5, ev("C"))  # 3 and 4 never arrived
    assert (len(log), log.first_seq) == (1, 5)
    assert log.replay(ResumePoint("e1", 2)) is None
    assert seqs(log.replay(ResumePoint("e1", 4))) == [5]
    kept = log.adopt("e2", 1, ev("D"), payload=b"as-received")
    assert (log.epoch, len(log), kept.payload) == ("e2", 1, b"as-received")


# --- REST pages ------------------------------------------------------------------------


def test_pages_walk_every_event_once_with_a_cursor() -> None:
    log = filled([f"T{n}" for n in range(7)])
    after: int | None = 0
    seen: list[int] = []
    pages = 0
    while after is not None:
        items, after = log.page(after, None, 3, everyone)
        seen += seqs(items)
        pages += 1
    assert (seen, pages) == ([1, 2, 3, 4, 5, 6, 7], 3)


def test_a_full_last_page_has_no_cursor() -> None:
    log = filled(["A", "B", "C", "D"])
    assert log.page(0, None, 2, everyone) == (list(log.replay(ResumePoint("e1", 0)))[:2], 2)
    items, after = log.page(2, None, 2, everyone)
    assert (seqs(items), after) == ([3, 4], None)


def test_pages_show_only_the_granted_trucks() -> None:
    log = filled(["A", "B", "A", "C", "B", "A", "C"])
    granted = {"A", "C"}
    items, after = log.page(0, None, 2, granted.__contains__)
    assert ([i.event.truck_id for i in items], seqs(items), after) == (["A", "A"], [1, 3], 3)
    items, after = log.page(after, None, 2, granted.__contains__)
    assert (seqs(items), after) == ([4, 6], 6)
    items, after = log.page(after, None, 2, granted.__contains__)
    assert (seqs(items), after) == ([7], None)
    # The cursor of a page ending just before events the grant hides says "no more".
    items, after = log.page(0, None, 5, lambda t: t == "B")
    assert (seqs(items), after) == ([2, 5], None)


def test_since_filters_by_event_time() -> None:
    log = filled(["A", "B", "C", "D"])
    items, after = log.page(0, T0_MS + 3000, 10, everyone)
    assert (seqs(items), after) == ([3, 4], None)


def test_a_cursor_older_than_the_ring_starts_at_the_oldest_held() -> None:
    log = filled(["A"] * 10, size=4)
    assert log.missed(2)
    items, after = log.page(2, None, 10, everyone)
    assert (seqs(items), after) == ([7, 8, 9, 10], None)
    assert log.page(10, None, 10, everyone) == ([], None)
    assert log.page(99, None, 10, everyone) == ([], None)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        AlertLog("e1", 0)
    with pytest.raises(ValueError):
        filled(["A"]).page(0, None, 0, everyone)


def test_newest_first_pages_walk_back_through_the_ring_by_grant_and_time():
    from gateway.core.alerts import AlertLog, Event

    log = AlertLog("e1", size=10)
    for i in range(6):
        log.append(Event("fuel_low", "A" if i % 2 else "B", 1000 + i, {}))
    first, cursor = log.newest(None, None, 2, lambda t: True)
    assert [e.seq for e in first] == [6, 5] and cursor == 5
    second, cursor = log.newest(cursor, None, 10, lambda t: True)
    assert [e.seq for e in second] == [4, 3, 2, 1] and cursor is None
    only_a, _ = log.newest(None, None, 10, lambda t: t == "A")
    assert [e.seq for e in only_a] == [6, 4, 2]
    recent, _ = log.newest(None, 1004, 10, lambda t: True)
    assert [e.seq for e in recent] == [6, 5]
