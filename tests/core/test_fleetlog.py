"""The fleet log as plain calls: positions, replay by grant, the ring's edge."""

from __future__ import annotations

import orjson

from gateway.core.fleetlog import FleetLog


def allow_all(truck: str) -> bool:
    return True


def test_positions_grow_by_one_and_replay_gives_what_came_after():
    log = FleetLog("e1", size=10)
    assert [log.append(t, f"{t}{i}".encode()) for i, t in enumerate(["A", "B", "A"])] == [1, 2, 3]
    assert log.replay("e1", 1, allow_all) == [("B", b"B1"), ("A", b"A2")]
    assert log.replay("e1", 3, allow_all) == []


def test_replay_filters_by_grant():
    log = FleetLog("e1", size=10)
    for i, t in enumerate(["A", "B", "C", "B"]):
        log.append(t, str(i).encode())
    assert log.replay("e1", 0, lambda t: t == "B") == [("B", b"1"), ("B", b"3")]


def test_another_epoch_a_future_position_or_a_position_past_the_ring_is_a_resync():
    log = FleetLog("e1", size=3)
    for i in range(5):
        log.append("A", str(i).encode())  # ring holds positions 3, 4, 5
    assert log.replay("e0", 4, allow_all) is None
    assert log.replay("e1", 6, allow_all) is None
    assert log.replay("e1", 1, allow_all) is None  # position 2 is gone
    assert log.replay("e1", 2, allow_all) == [("A", b"2"), ("A", b"3"), ("A", b"4")]  # the edge: 3.. still held


def test_position_frame_names_the_fleet_channel():
    log = FleetLog("e9", size=2)
    log.append("A", b"x")
    assert orjson.loads(log.position_frame()) == {"type": "position", "channel": "fleet", "epoch": "e9", "seq": 1}
