"""``compare``: the same client load against the gateway, then the reference server (then REST polling).

Everything is made and removed here: a scratch database with the trucks, a fresh
``gateway serve`` for each gateway run (so memory starts from the same baseline), the
reference server. Runs go one after the other, never side by side, each bounded, each
server stopped before the next starts. The ratios compare what was measured in this
process on this machine minutes apart:

- ``throughput``: diffs delivered per second, gateway / reference (1.0 when neither is
  saturated: both deliver everything asked for);
- ``capacity``: frames per second of server CPU (1 / CPU per frame), gateway / reference:
  the fan-out rate each would reach on a full core, which is what the 80 % target means
  while the offered load is below saturation;
- ``user_cpu_per_frame``: the gateway's user CPU µs per delivered frame and the reference's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from loadtest import system
from loadtest.driver import MySQLDriver
from loadtest.fleetdb import scratch_database
from loadtest.modes import load_options, resolve_trucks
from loadtest.refdriver import ReferenceDriver
from loadtest.runner import LoadRun
from loadtest.servers import gateway_server, reference_server


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def ratios(gateway: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The gateway's figures as a fraction of the reference's."""
    g_server, r_server = gateway.get("server", {}), reference.get("server", {})
    g_cpu, r_cpu = g_server.get("cpu_us_per_frame"), r_server.get("cpu_us_per_frame")
    return {
        "throughput": _ratio(gateway["delivery"]["diffs_per_s"], reference["delivery"]["diffs_per_s"]),
        "capacity": _ratio(1 / g_cpu if g_cpu else None, 1 / r_cpu if r_cpu else None),
        "gateway_user_us_per_frame": g_server.get("user_us_per_frame"),
        "reference_user_us_per_frame": r_server.get("user_us_per_frame"),
        "gateway_rss_per_connection_kib": g_server.get("rss_per_connection_kib"),
        "reference_rss_per_connection_kib": r_server.get("rss_per_connection_kib"),
    }


async def _gateway_run(args: argparse.Namespace, db_url: str, trucks: list[str], kind: str,
                       server_cpus: str | None) -> dict[str, Any]:
    from gateway.store.url import parse_db_url

    print(f"compare: {kind} load on a fresh gateway", file=sys.stderr, flush=True)
    server = gateway_server(db_url, args.poll_interval, server_cpus, args.gateway_arg)
    url = await server.start()
    try:
        opts = load_options(args, trucks, url)
        drv = None if args.no_drive or args.trucks_per_client == 0 else MySQLDriver(parse_db_url(db_url))
        label = "gateway" if kind == "ws" else "rest polling"
        return await LoadRun(kind, opts, driver=drv, server_pid=server.pid, db=parse_db_url(db_url),
                             label=label).run()
    finally:
        await server.stop_reporting()


async def _reference_run(args: argparse.Namespace, trucks: list[str], server_cpus: str | None) -> dict[str, Any]:
    print("compare: ws load on the reference server", file=sys.stderr, flush=True)
    server = reference_server(trucks, server_cpus)
    url = await server.start()
    try:
        opts = load_options(args, trucks, url)
        drv = None if args.no_drive or args.trucks_per_client == 0 else ReferenceDriver(url)
        return await LoadRun("ws", opts, driver=drv, server_pid=server.pid, label="reference").run()
    finally:
        await server.stop()


async def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Run the gateway, the reference and optionally REST polling on the same load; report all and the ratios."""
    server_cpus = args.server_cpus if args.server_cpus is not None else system.default_cpu_split()[0]
    trucks = await resolve_trucks(args, None)
    runs: dict[str, dict[str, Any]] = {}
    async with scratch_database(args.db_server, trucks) as db_url:
        runs["gateway"] = await _gateway_run(args, db_url, trucks, "ws", server_cpus)
        if not args.no_reference:
            runs["reference"] = await _reference_run(args, trucks, server_cpus)
        if args.rest:
            runs["rest"] = await _gateway_run(args, db_url, trucks, "rest", server_cpus)
    report: dict[str, Any] = {"mode": "compare", "runs": runs}
    if "reference" in runs:
        report["ratio"] = ratios(runs["gateway"], runs["reference"])
    if "rest" in runs:
        push = runs["gateway"].get("database", {}).get("com_select_per_s")
        poll = runs["rest"].get("database", {}).get("com_select_per_s")
        report["push_vs_rest"] = {"push_selects_per_s": push, "rest_selects_per_s": poll,
                                  "fewer_queries_factor": _ratio(poll, push)}
    return report
