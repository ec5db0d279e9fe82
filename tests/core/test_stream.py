"""A channel's epoch as plain calls: a reader's stream and a relay's copy stay byte-identical."""

from __future__ import annotations

from gateway.core.protocol import ResumePoint
from gateway.core.stream import ChannelStream
from gateway.core.wsframe import text_frame


def header_len(frame: bytes) -> int:
    return 2 if frame[1] < 126 else 4


def test_a_relay_copy_follows_the_reader_with_the_same_bytes():
    reader = ChannelStream("truck:T1", "e1", {"truck_id": "T1", "speed": 1, "gone": 2}, 100, ring_size=4)
    relay = ChannelStream("truck:T1", "e1", dict(reader.row), 100, ring_size=4)
    for n, row in enumerate([{"truck_id": "T1", "speed": 2, "gone": 2}, {"truck_id": "T1", "speed": 3}], start=1):
        frame = reader.advance(row, 100 + n)
        payload = frame[header_len(frame):]
        assert relay.adopt(n, payload) == frame
        assert relay.ts == 100 + n
    assert relay.row == reader.row == {"truck_id": "T1", "speed": 3}
    assert relay.snapshot_frame() == reader.snapshot_frame()
    assert relay.replay(ResumePoint("e1", 0)) == reader.replay(ResumePoint("e1", 0))


def test_a_relay_refuses_a_diff_out_of_order():
    relay = ChannelStream("truck:T1", "e1", {"a": 1}, 0, ring_size=4, seq=5)
    assert relay.adopt(7, b'{"type":"diff","changed":{"a":2},"removed":[]}') is None
    assert relay.seq == 5 and relay.row == {"a": 1}


def test_a_relay_joining_mid_epoch_preloads_its_ring_for_resume():
    payloads = [(s, f'{{"seq":{s}}}'.encode()) for s in (3, 4, 5)]
    relay = ChannelStream("truck:T1", "e1", {"a": 1}, 0, ring_size=8, seq=5)
    relay.preload(payloads)
    assert relay.replay(ResumePoint("e1", 2)) == [text_frame(p) for _, p in payloads]
    assert relay.replay(ResumePoint("e1", 1)) is None  # seq 2 was never held
