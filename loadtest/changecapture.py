"""``changes``: the same load on ``gateway serve --changes poll``, then ``--changes binlog``.

Both halves run against one private MariaDB started here with the binary log on (ROW
format, FULL row image, FULL row metadata; ``loadtest.privatedb``): the shared server has
``log_bin=OFF`` and its settings are not ours to change. The database is the same for
both halves (one scratch database, seeded once), so the only difference is where the
gateway learns of a change: its own reads every ``--poll-interval``, or the binary log.

Nobody else uses the private server, so MariaDB's ``Com_select`` delta over the window
is the gateway's SELECTs alone (the driver's writes are ``Com_insert``); the gateway's
row reads from ``/metrics`` (``gateway_db_queries_total`` of kind ``sensor_rows`` and
``sensor_row``) are reported beside it. Each half records the change source the gateway
reported at the window's end: a binlog half that fell back to polling says ``poll``.

The server is started from the main thread with ``die_with_parent`` and stopped in a
``finally``, so neither an error nor the hard cap leaves it running.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.store.url import parse_db_url
from loadtest import system
from loadtest.driver import MySQLDriver
from loadtest.fleetdb import scratch_database
from loadtest.modes import load_options, resolve_trucks
from loadtest.privatedb import PrivateMariaDB
from loadtest.runner import LoadRun
from loadtest.servers import gateway_server

SOURCES = ("poll", "binlog")
ROW_READ_KINDS = ("sensor_rows", "sensor_row")  # the live path's batched reads, the single-row read


def parse_sources(text: str) -> list[str]:
    """``poll,binlog`` (or one of them) as a list; ValueError for anything else."""
    sources = [s.strip() for s in text.split(",") if s.strip()]
    if not sources or any(s not in SOURCES for s in sources) or len(set(sources)) != len(sources):
        raise ValueError(f"--changes takes poll, binlog or both comma-separated, not {text!r}")
    return sources


def change_source(metrics: dict[str, float]) -> str | None:
    """The change source the gateway reported (``binlog`` or ``poll``), None without /metrics."""
    for source in SOURCES:
        if metrics.get(f'gateway_change_source{{source="{source}"}}') == 1.0:
            return source
    return None


def capture_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The figures that tell the two change sources apart, from one half's report."""
    metrics, window = report.get("server_metrics", {}), report.get("window_s") or 0.0

    def per_s(value: float) -> float | None:
        return round(value / window, 1) if window else None

    row_reads = sum(metrics.get(f'gateway_db_queries_total{{kind="{k}"}}', 0.0) for k in ROW_READ_KINDS)
    return {
        "change_source": change_source(metrics),
        "com_select_per_s": report.get("database", {}).get("com_select_per_s"),
        "row_read_queries_per_s": per_s(row_reads),
        "binlog_rows_pushed_per_s": per_s(metrics.get("gateway_binlog_rows_pushed_total", 0.0)),
        "binlog_checks_failed": metrics.get("gateway_binlog_checks_failed_total"),
        "diffs_per_s": report.get("delivery", {}).get("diffs_per_s"),
        "write_to_receive_p99_ms": report.get("latency", {}).get("write_to_receive", {}).get("p99_ms"),
        "gateway_cpu_pct": report.get("server", {}).get("cpu_pct"),
    }


async def _half(args: argparse.Namespace, db_url: str, trucks: list[str], source: str,
                server_cpus: str | None) -> dict[str, Any]:
    print(f"changes: ws load on a fresh gateway --changes {source}", file=sys.stderr, flush=True)
    extra = [*args.gateway_arg, "--changes", source]
    server = gateway_server(db_url, args.poll_interval, server_cpus, extra)
    url = await server.start()
    try:
        opts = load_options(args, trucks, url)
        drv = MySQLDriver(parse_db_url(db_url)) if opts.trucks_per_client > 0 else None
        report = await LoadRun("ws", opts, driver=drv, server_pid=server.pid, db=parse_db_url(db_url),
                               label=f"--changes {source}").run()
    finally:
        await server.stop_reporting()
    report["change_capture"] = capture_summary(report)
    got = report["change_capture"]["change_source"]
    if got != source:
        print(f"warning: the --changes {source} gateway reported change source {got} at the window's end",
              file=sys.stderr, flush=True)
    return report


def _server_facts(server: PrivateMariaDB) -> dict[str, Any]:
    """Version and binlog settings of the private server (read before any window opens)."""
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
            cur.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN "
                        "('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata')")
            variables = dict(cur.fetchall())
    finally:
        conn.close()
    return {"version": version, "host": server.host, "port": server.port, **variables}


async def run_changes(args: argparse.Namespace) -> dict[str, Any]:
    """Start the private binlog MariaDB, run each ``--changes`` half on one scratch database, stop it."""
    sources = parse_sources(args.changes)
    server_cpus = args.server_cpus if args.server_cpus is not None else system.default_cpu_split()[0]
    trucks = await resolve_trucks(args, None)
    mariadb = PrivateMariaDB(binlog=True, die_with_parent=True)
    print("changes: starting a private MariaDB with the binary log", file=sys.stderr, flush=True)
    mariadb.start()  # blocking, from the main thread (see the module's note)
    runs: dict[str, dict[str, Any]] = {}
    try:
        facts = _server_facts(mariadb)
        async with scratch_database(f"mysql://root@{mariadb.host}:{mariadb.port}", trucks) as db_url:
            for source in sources:
                runs[source] = await _half(args, db_url, trucks, source, server_cpus)
    finally:
        mariadb.stop()
    report: dict[str, Any] = {"mode": "changes", "mariadb": facts, "runs": runs,
                              "change_capture": {s: r["change_capture"] for s, r in runs.items()}}
    return report
