"""The load tester's pure parts: histograms, frame checks, counts, schedule, parsing, safety."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from loadtest import integrity, latency, promscrape, system
from loadtest import worker as worker_module
from loadtest.motion import iso_of_us, us_of_iso
from loadtest.plan import WorkerPlan, assign_trucks, split
from loadtest.schedule import DriveResult, Schedule
from loadtest.wstrack import ClientTracker, WorkerCounts


def test_recorder_matches_hdrhistogram_and_merges_across_processes():
    values = [random.Random(1).randint(1, 10_000_000) for _ in range(20_000)]
    direct = latency.new_histogram()
    halves = [latency.LatencyRecorder(), latency.LatencyRecorder()]
    for i, value in enumerate(values):
        direct.record_value(value)
        halves[i % 2].record(value)
    merged = latency.merge(h.encode() for h in halves)
    assert merged.get_total_count() == len(values)
    for p in (50, 95, 99, 99.9, 100):
        assert merged.get_value_at_percentile(p) == direct.get_value_at_percentile(p)
    assert latency.summary(latency.new_histogram()) == {"count": 0}


def test_recorder_clamps_instead_of_dropping():
    recorder = latency.LatencyRecorder()
    recorder.record(-5)
    recorder.record(10**15)
    assert recorder.to_histogram().get_total_count() == 2


def test_iso_stamps_round_trip_to_the_microsecond():
    stamp = 1_764_151_234_567_891
    assert iso_of_us(stamp).endswith("Z")
    assert us_of_iso(iso_of_us(stamp)) == stamp


def _frames(tracker: ClientTracker, *frames: dict, at: float = 100.0) -> None:
    for frame in frames:
        tracker.on_frame(frame, at)


def test_tracker_counts_gaps_resyncs_and_driven_writes():
    counts = WorkerCounts(t0=0.0, seconds=200, track_writes=True)
    counts.set_window(drive_start=50.0, start=60.0, end=150.0)
    tracker = ClientTracker(counts, ("A",))
    write = iso_of_us(99_000_000)
    _frames(tracker, {"type": "welcome"}, {"type": "ack", "ok": ["truck:A"], "errors": []},
            {"type": "snapshot", "channel": "truck:A", "epoch": "e1", "seq": 5, "ts": 10, "data": {}}, at=10.0)
    assert tracker.ready
    _frames(tracker,
            {"type": "diff", "channel": "truck:A", "epoch": "e1", "seq": 6, "ts": 99_000,
             "changed": {"updated_at": write}},
            {"type": "diff", "channel": "truck:A", "epoch": "e1", "seq": 8, "ts": 99_000, "changed": {"speed_mph": 1}},
            {"type": "snapshot", "channel": "truck:A", "epoch": "e2", "seq": 0, "ts": 99_000, "data": {}})
    assert (counts.seq_gaps, counts.resyncs, counts.new_epochs) == (1, 1, 1)
    assert counts.window_diffs == counts.diffs == 2
    state = tracker.channels["truck:A"]
    assert (state.writes, state.last_stamp_us) == (1, 99_000_000)
    assert counts.write.count == 1 and counts.publish.count == 2


def test_tracker_flags_a_diff_before_its_snapshot_and_ack_errors():
    counts = WorkerCounts(t0=0.0, seconds=10, track_writes=False)
    tracker = ClientTracker(counts, ("A", "B"))
    _frames(tracker, {"type": "welcome"},
            {"type": "ack", "ok": ["truck:A"], "errors": [{"channel": "truck:B", "code": "unknown_truck"}]},
            {"type": "diff", "channel": "truck:A", "epoch": "e", "seq": 1, "ts": 0, "changed": {}})
    assert counts.diff_before_snapshot == 1
    assert counts.subscribe_errors == {"unknown_truck": 1}
    assert not tracker.ready  # A's snapshot is still owed


def test_integrity_expects_every_write_times_every_subscriber():
    drive = DriveResult(writes={"A": 3, "B": 3}, last_stamp_us={"A": 30, "B": 31})
    complete = integrity.merge_trucks([{"A": [2, 6, 30, 30]}, {"A": [1, 3, 30, 30], "B": [1, 3, 31, 31]}])
    good = integrity.check(complete, drive)
    assert (good["expected_deliveries"], good["received_deliveries"], good["all_delivered"]) == (12, 12, True)
    short = integrity.check({"A": [3, 8, 20, 30], "B": [1, 3, 31, 31]}, drive)
    assert short["missing_deliveries"] == 1 and short["trucks_converged"] == 1 and not short["all_delivered"]
    assert short["examples_short"][0]["truck"] == "A"


def test_schedule_runs_whole_rounds_in_evenly_spaced_slices():
    schedule = Schedule(tuple(f"T{i}" for i in range(100)), rate=1.0, start=1000.0, duration=2.5)
    assert schedule.rounds == 2
    assert schedule.slices == 20
    assert sorted(t for s in range(schedule.slices) for t in schedule.slice_trucks(s)) == sorted(schedule.trucks)
    assert schedule.at(1, 10) == pytest.approx(1001.5)
    assert schedule.end == pytest.approx(1002.0)


def test_trucks_are_dealt_evenly_and_clients_interleaved_over_workers():
    trucks = [f"T{i}" for i in range(7)]
    assigned = assign_trucks(10, trucks, 3)
    watchers = {t: sum(t in a for a in assigned) for t in trucks}
    assert max(watchers.values()) - min(watchers.values()) <= 1
    plans = split("ws", "ws://127.0.0.1:1/v1/ws", assigned, 3, ramp=10.0, source_addresses=("127.0.0.2",),
                  connect_timeout=1.0, hard_deadline=0.0)
    assert [len(p.clients) for p in plans] == [4, 3, 3]
    assert plans[1].clients[0].index == 1


def test_prometheus_text_is_summed_by_name_and_kept_by_label_where_asked():
    text = ('# HELP x\ngateway_db_queries_total{kind="sensor_row"} 10\ngateway_db_queries_total{kind="ddl"} 2\n'
            'gateway_messages_sent_total 5.0\nunrelated 1\nunrelated{kind="x"} 1\n'
            'gateway_change_source{source="binlog"} 1.0\ngateway_change_source{source="poll"} 0.0\n')
    assert promscrape.parse(text) == {
        "gateway_db_queries_total": 12.0, "gateway_messages_sent_total": 5.0,
        'gateway_db_queries_total{kind="sensor_row"}': 10.0, 'gateway_db_queries_total{kind="ddl"}': 2.0,
        'gateway_change_source{source="binlog"}': 1.0, 'gateway_change_source{source="poll"}': 0.0}
    assert promscrape.deltas({"gateway_messages_sent_total": 5.0, 'gateway_db_queries_total{kind="ddl"}': 2.0},
                             {"gateway_messages_sent_total": 9.0, "gateway_ws_connections": 3.0,
                              'gateway_db_queries_total{kind="ddl"}': 3.0}) == {
        "gateway_messages_sent_total": 4.0, "gateway_ws_connections": 3.0,
        'gateway_db_queries_total{kind="ddl"}': 1.0}


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080", "http://example.com", "http://192.168.1.2"])
def test_only_loopback_targets_are_accepted(url):
    with pytest.raises(ValueError, match="only loopback"):
        system.check_loopback_url(url)


def test_sources_spread_over_loopback_addresses():
    assert system.check_loopback_url("http://127.0.0.1:8080") == "127.0.0.1"
    assert system.source_addresses(12_000) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert system.source_addresses(12_001) == [f"127.0.0.{i}" for i in range(2, 6)]
    assert system.source_addresses(10, target_host="::1") == [None]
    assert system.parse_cpus("0,2-3") == {0, 2, 3} and system.parse_cpus("") is None


class _FakeControl:
    """The parent's side of a worker's pipe, as futures the test completes."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.got = {name: loop.create_future() for name in ("start", "window", "stop")}
        self.sent: list[str] = []

    async def wait(self, name: str):
        return await self.got[name]

    def stop_future(self):
        return self.got["stop"]

    def send(self, name: str, *args) -> None:
        self.sent.append(name)


class _SlowWorker:
    """A worker that settles only when told (dashboards still in their first refresh)."""

    def __init__(self) -> None:
        self.settled = asyncio.Event()
        self.windows: list[tuple[float, float, float]] = []

    async def ramp(self) -> None:
        return None

    def ramped_info(self) -> dict[str, int]:
        return {}

    def set_window(self, drive_start: float, start: float, end: float) -> None:
        self.windows.append((drive_start, start, end))

    async def close_all(self) -> None:
        return None

    def result(self, cpu_window):
        return {"windows": list(self.windows)}


async def test_window_holds_from_its_arrival_even_before_the_worker_settles(monkeypatch):
    fake = _SlowWorker()
    monkeypatch.setattr(worker_module, "_make", lambda plan, t0: fake)
    control = _FakeControl()
    now = time.time()
    plan = WorkerPlan(kind="rest", worker=0, url="http://127.0.0.1:1", clients=(), ramp=1.0,
                      source_addresses=(None,), connect_timeout=1.0, hard_deadline=now + 5)
    task = asyncio.ensure_future(worker_module.run_phases(plan, control))
    control.got["start"].set_result((now,))
    control.got["window"].set_result((now, now, now))  # the parent gave up waiting for "ramped"
    await asyncio.sleep(0.05)
    assert fake.windows == [(now, now, now)] and "ramped" not in control.sent
    fake.settled.set()
    await asyncio.sleep(0.05)
    control.got["stop"].set_result(())
    result = await asyncio.wait_for(task, 3)
    assert result["windows"] == [(now, now, now)] and control.sent == ["ramped"]
