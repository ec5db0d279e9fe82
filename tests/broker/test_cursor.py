"""Pure parts of the broker: relay cursor, message header, snapshot frame, history rule, backoff."""

from __future__ import annotations

import orjson
import pytest

from gateway.broker import DIFF, SNAPSHOT, STATUS, RelayCursor, Verdict
from gateway.broker.base import history_tail
from gateway.broker.relay import backoff_delay
from gateway.broker.wire import BadMessage, check_epoch, decode_message, encode_message, snapshot_payload
from gateway.core import protocol


def test_cursor_delivers_consecutive_diffs_and_advances():
    cursor = RelayCursor("e1", 4)
    assert cursor.observe(DIFF, "e1", 5) is Verdict.DELIVER
    assert cursor.observe(DIFF, "e1", 6) is Verdict.DELIVER
    assert (cursor.epoch, cursor.seq) == ("e1", 6)


def test_cursor_ignores_what_it_already_has():
    cursor = RelayCursor("e1", 4)
    assert cursor.observe(DIFF, "e1", 4) is Verdict.DUPLICATE
    assert cursor.observe(DIFF, "e1", 1) is Verdict.DUPLICATE
    assert cursor.observe(SNAPSHOT, "e1", 0) is Verdict.DUPLICATE
    assert (cursor.epoch, cursor.seq) == ("e1", 4)


def test_cursor_reports_a_gap_without_moving():
    cursor = RelayCursor("e1", 4)
    assert cursor.observe(DIFF, "e1", 6) is Verdict.GAP
    assert cursor.observe(DIFF, "e2", 1) is Verdict.GAP  # the snapshot of e2 was missed
    assert cursor.observe(STATUS, "e2", 1) is Verdict.GAP
    assert (cursor.epoch, cursor.seq) == ("e1", 4)
    cursor.reset("e1", 6)  # after filling from history
    assert cursor.observe(DIFF, "e1", 7) is Verdict.DELIVER


def test_cursor_takes_a_new_epoch_from_its_snapshot():
    cursor = RelayCursor()
    assert cursor.observe(DIFF, "e1", 1) is Verdict.GAP  # nothing to apply a diff to yet
    assert cursor.observe(SNAPSHOT, "e1", 0) is Verdict.NEW_EPOCH
    assert cursor.observe(DIFF, "e1", 1) is Verdict.DELIVER
    assert cursor.observe(SNAPSHOT, "e2", 0) is Verdict.NEW_EPOCH
    assert (cursor.epoch, cursor.seq) == ("e2", 0)


def test_cursor_passes_status_of_its_epoch_without_moving():
    cursor = RelayCursor("e1", 3)
    assert cursor.observe(STATUS, "e1", 3) is Verdict.DELIVER
    assert (cursor.epoch, cursor.seq) == ("e1", 3)
    with pytest.raises(ValueError):
        cursor.observe("bogus", "e1", 3)


@pytest.mark.parametrize("kind", [SNAPSHOT, DIFF, STATUS])
def test_message_header_round_trips_and_keeps_the_frame_bytes(kind):
    frame = b'{"type":"diff","channel":"truck:T1","epoch":"e|x","seq":7}'
    message = encode_message(kind, "e1", 7, frame)
    assert decode_message(message) == (kind, "e1", 7, frame)


@pytest.mark.parametrize("data", [b"", b"d|e1|7", b"x|e1|7|{}", b"d|e1|-1|{}", b"d|e1|seven|{}"])
def test_malformed_messages_are_rejected(data):
    with pytest.raises(BadMessage):
        decode_message(data)


def test_lua_and_python_agree_on_the_header():
    # The Lua scripts write 's|' .. epoch .. '|0|' .. frame; decode must read exactly that.
    assert decode_message(b"s|e1|0|{}") == (SNAPSHOT, "e1", 0, b"{}")
    assert decode_message(b"t|e1|12|{}") == (STATUS, "e1", 12, b"{}")


def test_snapshot_payload_is_byte_for_byte_the_protocol_frame():
    row = {"truck_id": 'T"1', "speed_mph": 61.5, "dtc": ["P0420"], "nested": {"é": None}}
    built = snapshot_payload('truck:T"1', "ep\\och", 1764151234567, orjson.dumps(row))
    assert built == protocol.snapshot('truck:T"1', "ep\\och", 0, 1764151234567, row)


@pytest.mark.parametrize("epoch", ["", "a|b", "x" * 65, None])
def test_epochs_that_cannot_be_framed_are_refused(epoch):
    with pytest.raises(ValueError):
        check_epoch(epoch)


def test_history_tail_rules():
    entries = [(3, b"c"), (4, b"d")]
    assert history_tail("e", 4, entries, "e", 2) == entries
    assert history_tail("e", 4, [], "e", 4) == []
    assert history_tail("e", 4, entries[1:], "e", 2) is None  # 3 trimmed away
    assert history_tail("e", 5, entries, "e", 2) is None  # 5 missing at the end
    assert history_tail("e", 4, entries, "f", 2) is None
    assert history_tail(None, 0, [], "e", 0) is None
    assert history_tail("e", 4, entries, "e", 5) is None


def test_backoff_grows_is_capped_and_never_zero():
    lows = [backoff_delay(n, 0.1, 2.0, rand=lambda: 0.0) for n in range(1, 8)]
    highs = [backoff_delay(n, 0.1, 2.0, rand=lambda: 1.0) for n in range(1, 8)]
    assert lows == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert highs == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert backoff_delay(10_000, 0.1, 2.0) <= 2.0
