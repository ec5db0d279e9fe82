"""Short real runs of every mode: real processes, a real gateway on a real MariaDB.

Each run is a few hundred clients for a few seconds, and the assertions are about
counts only, never timings (this is a shared 2-core machine): every client connected,
no frame was lost or out of order, and every write the driver made reached every
subscriber. The gateway polls every 0.2 s and the driver writes each truck once a
second, so no two writes can fall between two polls and "every write" is exact.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.servers import ServerProcess, gateway_server
from tests.conftest import MYSQL_HOST, MYSQL_PORT

TRUCKS = 20
POLL = "0.2"
COMMON = ["--trucks", str(TRUCKS), "--rate", "1", "--poll-interval", POLL, "--drain", "1", "--processes", "2",
          "--ramp", "1000", "--timeout", "90", "--client-cpus", ""]


def mysql_url(database: str) -> str:
    return f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{database}"


def loadtest(tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run ``python -m loadtest`` to the end and return its JSON report."""
    report = tmp_path / "report.json"
    png = tmp_path / "report.png"
    result = subprocess.run([sys.executable, "-m", "loadtest", *args, "--json", str(report), "--png", str(png)],
                            capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert png.stat().st_size > 10_000
    return orjson.loads(report.read_bytes())


@pytest.fixture
async def gateway(mysql_db: str) -> AsyncIterator[tuple[ServerProcess, str]]:
    """A ``gateway serve`` on a fresh database with a sample fleet."""
    url = mysql_url(mysql_db)
    seeded = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "gateway", "initdb", "--db", url, "--sample-trucks", str(TRUCKS)],
        capture_output=True, text=True, timeout=60)
    assert seeded.returncode == 0, seeded.stderr
    server = gateway_server(url, float(POLL), None)
    await server.start()
    try:
        yield server, url
    finally:
        assert await server.stop() == 0


def assert_every_write_delivered(report: dict[str, Any], subscriptions: int, rounds: int = 3) -> None:
    integrity = report["integrity"]
    writes = integrity["writes"]
    assert writes["errors"] == 0
    assert writes["updates"] == TRUCKS * rounds  # whole rounds of one write per truck
    assert integrity["eligible_subscriptions"] == subscriptions
    assert integrity["expected_deliveries"] == rounds * subscriptions
    assert integrity["received_deliveries"] == integrity["expected_deliveries"]
    assert integrity["missing_deliveries"] == 0
    assert integrity["trucks_converged"] == integrity["trucks_watched"] == TRUCKS
    assert integrity["all_delivered"] is True


def assert_clean_ws(report: dict[str, Any], clients: int) -> None:
    connect = report["connect"]
    assert (connect["ok"], connect["failed"], connect["dropped"], connect["not_ready"]) == (clients, 0, {}, 0)
    assert report["workers"]["reported"] == report["workers"]["planned"] == 2
    integrity = report["integrity"]
    assert (integrity["seq_gaps"], integrity["resyncs"], integrity["diff_before_snapshot"]) == (0, 0, 0)
    assert report["delivery"]["subscribe_errors"] == {}
    latency = report["latency"]
    assert latency["publish_to_receive"]["count"] == report["delivery"]["diffs"]
    assert latency["write_to_receive"]["count"] == integrity["received_deliveries"]


async def test_ws_mode_delivers_every_write_to_every_subscriber(gateway, tmp_path):
    server, db = gateway
    report = await asyncio.to_thread(
        loadtest, tmp_path, "ws", "--url", server.url, "--db", db, "--drive", "--clients", "300",
        "--trucks-per-client", "2", "--gateway-pid", str(server.pid), "--duration", "3", *COMMON)
    assert_clean_ws(report, 300)
    assert_every_write_delivered(report, 600)
    assert report["server"]["rss_per_connection_kib"] > 0
    assert report["database"]["com_select"] > 0
    # The gateway's own count agrees with what the clients received.
    assert report["server_metrics"]["gateway_ws_connections"] == 300


async def test_rest_mode_accounts_for_every_write(gateway, tmp_path):
    server, db = gateway
    report = await asyncio.to_thread(
        loadtest, tmp_path, "rest", "--url", server.url, "--db", db, "--drive", "--dashboards", "100",
        "--interval", "0.25", "--duration", "3", *COMMON, "--drain", "2")  # time for the last round's polls
    requests = report["requests"]
    assert requests["errors"] == 0
    assert requests["statuses"].get("200", 0) + requests["statuses"].get("304", 0) == requests["total"] > 0
    integrity = report["integrity"]
    assert integrity["writes"]["errors"] == 0 and integrity["writes"]["updates"] == TRUCKS * 3
    assert integrity["expected_deliveries"] == 3 * 100
    # Polling can legitimately miss a value overwritten between two polls (a busy machine
    # stalls pollers): every write must still be either observed or counted as missed, and
    # every dashboard must end on its truck's last write.
    assert integrity["received_deliveries"] + integrity["missing_deliveries"] == integrity["expected_deliveries"]
    assert integrity["received_deliveries"] > 0
    assert integrity["trucks_converged"] == integrity["trucks_watched"] == TRUCKS
    # No socket watches these trucks, so every request is a database read.
    assert report["database"]["com_select"] >= requests["window_requests"] * 0.9


async def test_reference_mode_delivers_every_write(tmp_path):
    report = await asyncio.to_thread(loadtest, tmp_path, "reference", "--clients", "300", "--trucks-per-client", "2",
                                     "--server-cpus", "", "--duration", "3", *COMMON)
    assert_clean_ws(report, 300)
    assert_every_write_delivered(report, 600)
    assert report["server"]["user_us_per_frame"] > 0


def test_compare_runs_gateway_reference_and_rest_on_one_load(tmp_path):
    report = loadtest(tmp_path, "compare", "--db-server", f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}", "--clients", "100",
                      "--server-cpus", "", "--rest", "--duration", "2", *COMMON)
    runs = report["runs"]
    assert set(runs) == {"gateway", "reference", "rest"}
    for name in ("gateway", "reference"):
        assert_clean_ws(runs[name], 100)
        assert_every_write_delivered(runs[name], 100, rounds=2)
    assert_every_write_delivered(runs["rest"], 100, rounds=2)
    assert report["ratio"]["throughput"] > 0 and report["ratio"]["capacity"] > 0
    assert report["push_vs_rest"]["rest_selects_per_s"] > 0
