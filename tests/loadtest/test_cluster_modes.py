"""Short real runs of the cluster, failover and fleet modes: real gateways, MariaDB and Redis.

A few dozen clients for a few seconds each. Assertions are about counts, never timings
(this is a shared 2-core machine): every client connected, nothing lost or out of order,
the cluster's processes really relayed each other's frames, every kill was followed by a
new epoch on the survivor with no socket closed, the fleet's frames went out in batches,
and nothing is left behind in Redis or MariaDB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.loadtest.test_smoke import assert_clean_ws, loadtest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DB_SERVER = f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}"
TRUCKS = 12
SHORT = ["--db-server", DB_SERVER, "--trucks", str(TRUCKS), "--poll-interval", "0.2", "--server-cpus", ""]
LOAD = ["--rate", "1", "--drain", "1", "--processes", "2", "--ramp", "1000", "--timeout", "90", "--client-cpus", ""]


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is required and not reachable: {exc}", pytrace=False)
    yield client
    client.close()


def assert_left_nothing(client: redis.Redis, prefix: str) -> None:
    """The run's cluster keys are gone (the prefix was its own)."""
    assert prefix.startswith("lt")
    assert list(client.scan_iter(match=f"{prefix}:*", count=1000)) == []


def run_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    """``python -m loadtest`` for a mode that draws nothing; its JSON report."""
    path = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "loadtest", *args, "--json", str(path)],
                            capture_output=True, text=True, timeout=150, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return orjson.loads(path.read_bytes())


def assert_every_write(report: dict, subscriptions: int, rounds: int) -> None:
    integrity = report["integrity"]
    assert integrity["writes"]["updates"] == TRUCKS * rounds
    assert integrity["eligible_subscriptions"] == subscriptions
    assert integrity["missing_deliveries"] == 0
    assert integrity["trucks_converged"] == TRUCKS


def test_cluster_mode_runs_one_process_then_a_relaying_cluster(tmp_path, redis_client):
    report = loadtest(tmp_path, "cluster", "--clients", "40", "--duration", "2", "--servers", "2",
                      "--lease-ttl", "1", "--broker", REDIS_URL, *SHORT, *LOAD)
    single, cluster = report["runs"]["single"], report["runs"]["cluster"]
    for run in (single, cluster):
        assert_clean_ws(run, 40)
        assert_every_write(run, 40, rounds=2)
    # Clients alternate between the two processes, so each truck has watchers on both: one
    # reads and publishes, the other relays what came through Redis.
    metrics = cluster["server_metrics"]
    assert metrics["gateway_ws_connections"] == 40
    assert metrics["gateway_relay_published_total"] > 0 and metrics["gateway_relay_received_total"] > 0
    assert metrics["gateway_leases_held"] == TRUCKS  # one reader per truck, cluster-wide
    assert set(cluster["probes"]) == {"gateway0", "gateway1", "redis"}
    assert all(cluster["probes"][n]["metrics"]["gateway_ws_connections"] == 20 for n in ("gateway0", "gateway1"))
    assert cluster["probes"]["redis"]["commands"] > 0
    assert len(cluster["server"]["cpu_pct_each"]) == 2
    ratio = report["cluster_ratio"]
    assert ratio["capacity"] > 0 and ratio["selects"] is not None
    assert_left_nothing(redis_client, report["broker_prefix"])


def test_failover_mode_sees_a_new_epoch_after_every_kill(tmp_path, redis_client):
    report = run_json(tmp_path, "failover", "--kills", "2", "--lease-ttl", "1", "--broker", REDIS_URL,
                      "--round-timeout", "20", "--timeout", "100", *SHORT)
    failover = report["failover"]
    assert failover["count"] == 2 and failover["failed_rounds"] == 0
    assert failover["sockets_closed"] == 0
    victims = [r["victim_pid"] for r in report["rounds"]]
    assert len(set(victims)) == 2  # the replacement of the first victim took the lease and was killed next
    assert all(len(r["survivor_times_s"]) == 1 and r["survivor_times_s"][0] > 0 for r in report["rounds"])
    # After the last round one process holds the truck again; polling: nobody follows a binlog.
    assert sorted(n["leases_held"] for n in report["final"]) == [0, 1]
    assert all(n["binlog_leader"] == 0 for n in report["final"])
    assert_left_nothing(redis_client, report["broker_prefix"])


def test_fleet_mode_batches_frames_and_compares_with_the_old_page(tmp_path):
    report = loadtest(tmp_path, "fleet", "--dashboards", "4", "--duration", "2", "--pushed", "4",
                      "--rest-interval", "0.5", "--rest-parallel", "2", *SHORT, *LOAD)
    fleet = report["runs"]["fleet"]
    assert_clean_ws(fleet, 4)
    assert_every_write(fleet, 4 * TRUCKS, rounds=2)  # each dashboard got every truck through one channel
    assert fleet["delivery"]["frames"]["position"] > 0
    writes = fleet["server_metrics"]["gateway_fleet_writes_total"]
    frames = fleet["server_metrics"]["gateway_messages_sent_total"]
    # One write per dashboard per tick carries every truck frame of the tick and a position.
    assert 0 < writes < frames
    push = report["runs"]["today_push"]
    assert_clean_ws(push, 4)
    assert push["config"]["watch"] == 4 and push["integrity"]["trucks_watched"] == 4
    rest = report["runs"]["today_rest"]
    assert rest["requests"]["errors"] == 0 and rest["integrity"]["trucks_watched"] == TRUCKS - 4
    assert rest["requests"]["answered_per_s"] == rest["requests"]["requests_per_s"]  # no 503 at this load
    assert rest["config"]["rest_parallel"] == 2 and rest["requests"]["late_polls"] == 0  # 2 in flight kept up
    compared = report["fleet_vs_today"]
    assert compared["fleet"]["socket_writes_per_s"] > 0
    assert compared["today"]["rest_requests_per_s"] > 0
