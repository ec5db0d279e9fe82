"""The pure parts of the cluster, failover and fleet modes: ratios, sums, distributions, safety."""

from __future__ import annotations

import pytest

from loadtest import table
from loadtest.brokerprefix import check_broker_url
from loadtest.cluster import aggregate, cluster_ratios
from loadtest.failover import distribution
from loadtest.fleetbench import compare_costs, costs
from loadtest.options import LoadOptions
from loadtest.runner import LoadRun


def _proc(cpu_pct: float, user_s: float, system_s: float) -> dict:
    return {"cpu_pct": cpu_pct, "user_s": user_s, "system_s": system_s, "rss_mib": 100.0}


def test_aggregate_adds_processes_and_divides_by_delivered_frames():
    report = {"delivery": {"window_diffs": 10_000},
              "probes": {"gateway0": _proc(30.0, 0.2, 0.1), "gateway1": _proc(20.0, 0.1, 0.1), "redis": {}}}
    out = aggregate(report, ["gateway0", "gateway1"])
    assert out["cpu_pct"] == 50.0 and out["cpu_pct_each"] == [30.0, 20.0]
    assert out["user_us_per_frame"] == 30.0  # 0.3 s of user CPU over 10,000 frames
    assert out["cpu_us_per_frame"] == 50.0
    assert out["rss_window_start_mib"] == 200.0


def test_cluster_ratios_scale_frames_per_cpu_second_by_the_process_count():
    single = {"delivery": {"diffs_per_s": 10_000}, "server": {"cpu_pct": 50.0},
              "database": {"com_select_per_s": 20.0}}
    cluster = {"delivery": {"diffs_per_s": 10_000}, "server": {"cpu_pct_each": [40.0, 20.0]},
               "database": {"com_select_per_s": 40.0},
               "probes": {"redis": {"cpu_pct": 15.0, "commands_per_s": 900.0}}}
    ratio = cluster_ratios(single, cluster, 2)
    # single: 20,000 frames per CPU-second; cluster: 10,000 / 0.6 per CPU-second, on 2 cores.
    assert ratio["capacity"] == pytest.approx(2 * (10_000 / 0.6) / 20_000, abs=1e-3)
    assert ratio["capacity_with_redis"] == pytest.approx(2 * (10_000 / 0.75) / 20_000, abs=1e-3)
    assert ratio["capacity_busiest"] == pytest.approx((10_000 / 0.4) / 20_000, abs=1e-3)
    assert ratio["selects"] == 2.0 and ratio["redis_commands_per_s"] == 900.0
    assert cluster_ratios({}, cluster, 2)["capacity"] is None  # nothing to compare with: no figure, no crash


def test_distribution_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]  # 1..20
    out = distribution(values)
    assert (out["count"], out["min_s"], out["p50_s"], out["p95_s"], out["max_s"]) == (20, 1.0, 10.0, 19.0, 20.0)
    assert distribution([]) == {"count": 0}


def test_fleet_costs_count_batches_as_writes_and_today_adds_push_and_rest():
    fleet = {"config": {"fleet": True}, "window_s": 10.0, "delivery": {"diffs_per_s": 1000.0},
             "server": {"cpu_pct": 10.0}, "database": {"com_select_per_s": 20.0},
             "server_metrics": {"gateway_fleet_writes_total": 200.0, "gateway_messages_sent_total": 10_200.0}}
    push = {"config": {}, "window_s": 10.0, "server": {"cpu_pct": 8.0}, "database": {"com_select_per_s": 20.0},
            "server_metrics": {"gateway_messages_sent_total": 2000.0}}
    rest = {"mode": "rest", "window_s": 10.0, "requests": {"requests_per_s": 400.0, "answered_per_s": 300.0},
            "server": {"cpu_pct": 40.0},
            "config": {"clients": 10, "trucks_per_client": 80, "interval": 2.0},
            "database": {"com_select_per_s": 400.0}, "server_metrics": {}}
    f, p, r = costs(fleet), costs(push), costs(rest)
    assert f["socket_writes_per_s"] == 20.0 and f["frames_per_s"] == 1020.0
    assert f["frames_per_write"] == 51.0  # a tick's truck frames and its position, in one write
    assert p["socket_writes_per_s"] == 200.0 and p["frames_per_write"] == 1.0  # one write per frame
    assert r["socket_writes_per_s"] == 400.0  # one response per request
    out = compare_costs(f, p, r)
    assert out["today"]["gateway_cpu_pct"] == 48.0 and out["today"]["selects_per_s"] == 420.0
    assert out["socket_writes_per_s_today_over_fleet"] == 30.0
    assert out["selects_per_s_today_over_fleet"] == 21.0
    assert r["requests_offered_per_s"] == 400.0 and out["today"]["rest_requests_offered_per_s"] == 400.0
    assert out["today"]["rest_requests_answered_per_s"] == 300.0  # the rest were 503 busy
    assert f["requests_offered_per_s"] is None


def test_broker_must_be_loopback_redis():
    assert check_broker_url("redis://127.0.0.1:6379/0")
    for bad in ("redis://10.0.0.5:6379/0", "http://127.0.0.1:6379", "redis://example.com/0"):
        with pytest.raises(ValueError):
            check_broker_url(bad)


def test_clients_spread_over_targets_and_fleet_clients_watch_everything():
    trucks = [f"T{i}" for i in range(6)]
    opts = LoadOptions(url="http://127.0.0.1:1", clients=4, trucks=trucks, processes=2, fleet=True,
                       targets=["http://127.0.0.1:1", "http://127.0.0.1:2"])
    plans = LoadRun("ws", opts)._plans(hard_deadline=0.0)
    assert [p.extra["urls"] for p in plans] == [("ws://127.0.0.1:1/v1/ws", "ws://127.0.0.1:2/v1/ws")] * 2
    assert all(p.extra["fleet"] for p in plans)
    assert all(set(c.trucks) == set(trucks) for p in plans for c in p.clients)
    # Trucks by name from a subset: the driver still writes all of them, clients watch only these.
    opts = LoadOptions(url="http://127.0.0.1:1", clients=3, trucks=trucks, watch=trucks[4:], trucks_per_client=2)
    plans = LoadRun("ws", opts)._plans(hard_deadline=0.0)
    assert {c.trucks for p in plans for c in p.clients} == {("T4", "T5")}
    assert LoadOptions(url="http://127.0.0.1:3").server_urls() == ["http://127.0.0.1:3"]
    with pytest.raises(ValueError):
        LoadRun("ws", LoadOptions(targets=["http://127.0.0.1:1", "http://10.1.1.1:2"]))._plans(hard_deadline=0.0)


def test_table_shows_relay_and_fleet_rates_from_metrics():
    report = {"window_s": 2.0, "server_metrics": {"gateway_relay_received_total": 10.0,
                                                  "gateway_relay_published_total": 6.0,
                                                  "gateway_relay_gap_fills_total": 1.0,
                                                  "gateway_fleet_writes_total": 4.0,
                                                  "gateway_messages_sent_total": 24.0}}
    text = table.render([report])
    assert "frames relayed in / s" in text and "5.00" in text
    assert "socket writes of fleet batches / s" in text and "gap fills / resyncs" in text
    assert "frames sent per fleet write" in text and "6.00" in text
