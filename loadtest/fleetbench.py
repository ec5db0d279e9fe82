"""``fleet``: dashboards on the ``fleet`` channel against the page's old way, on one load.

One scratch database, every truck driven at ``--rate``; each run on a fresh gateway:

1. ``fleet``: each dashboard subscribes to ``fleet`` (every truck, one subscription);
2. ``today push``: each dashboard subscribes to the first ``--pushed`` trucks by name
   (the old page's 200-channel limit);
3. ``today rest``: each dashboard polls the other trucks' ``/sensors`` every
   ``--rest-interval`` seconds (the old page's fallback for the rest of the fleet), at
   most ``--rest-parallel`` requests in flight per dashboard (a browser's 6 per host).

The old way is two loads the page ran at once; here they run one after the other on the
same data and their costs are added (``today``): gateway CPU, SELECT/s and socket writes.
Socket writes per second come from the gateway's own counters: fleet batches
(``gateway_fleet_writes_total``, one write per subscriber per tick), frames sent one by one
(``gateway_messages_sent_total``), and one HTTP response per REST request; frames per
write is frames sent over those writes (a fleet write carries its tick's truck frames and
a ``position`` frame; the few control frames of the window, heartbeats, count as frames).
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
from loadtest.runner import LoadRun
from loadtest.servers import gateway_server


def _per_s(report: dict[str, Any], metric: str) -> float | None:
    value = report.get("server_metrics", {}).get(metric)
    window = report.get("window_s")
    return round(value / window, 1) if value is not None and window else None


def costs(report: dict[str, Any]) -> dict[str, Any]:
    """The figures the comparison is about, for one run."""
    fleet_writes = _per_s(report, "gateway_fleet_writes_total")
    frames = _per_s(report, "gateway_messages_sent_total")
    if report.get("mode") == "rest":
        writes = report.get("requests", {}).get("requests_per_s")
    elif report.get("config", {}).get("fleet"):
        # A fleet tick is one write per subscriber, however many truck frames it carries
        # (the few control frames of the window, heartbeats, are left out).
        writes = fleet_writes
    else:
        writes = frames
    latency = report.get("latency", {})
    p99 = (latency.get("publish_to_receive") or latency.get("request") or {}).get("p99_ms")
    return {
        "diffs_per_s": report.get("delivery", {}).get("diffs_per_s"),
        "requests_per_s": report.get("requests", {}).get("requests_per_s"),
        "requests_offered_per_s": _offered(report),
        "requests_answered_per_s": report.get("requests", {}).get("answered_per_s"),
        "p99_ms": p99,
        "gateway_cpu_pct": report.get("server", {}).get("cpu_pct"),
        "selects_per_s": report.get("database", {}).get("com_select_per_s"),
        "gateway_queries_per_s": report.get("database", {}).get("gateway_reported_queries_per_s"),
        "frames_per_s": frames, "fleet_writes_per_s": fleet_writes, "socket_writes_per_s": writes,
        "frames_per_write": round(frames / writes, 2) if frames and writes else None,
    }


def _offered(report: dict[str, Any]) -> float | None:
    """A REST run's requests per second as planned: dashboards x polled trucks / refresh interval.

    Next to ``requests_per_s`` it shows whether the gateway kept up (a refresh still running
    when the next is due delays it, so an overloaded gateway answers fewer than offered).
    """
    config = report.get("config", {})
    if report.get("mode") != "rest" or not config.get("interval"):
        return None
    return round(config.get("clients", 0) * config.get("trucks_per_client", 0) / config["interval"], 1)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else round((a or 0.0) + (b or 0.0), 1)


def compare_costs(fleet: dict[str, Any], push: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    """``fleet`` against ``today`` (push + REST added up), with the factors today / fleet."""
    today = {key: _add(push.get(key), rest.get(key))
             for key in ("gateway_cpu_pct", "selects_per_s", "gateway_queries_per_s", "socket_writes_per_s")}
    today["push_p99_ms"], today["rest_request_p99_ms"] = push.get("p99_ms"), rest.get("p99_ms")
    today["rest_requests_per_s"] = rest.get("requests_per_s")
    today["rest_requests_offered_per_s"] = rest.get("requests_offered_per_s")
    today["rest_requests_answered_per_s"] = rest.get("requests_answered_per_s")
    factors = {f"{key}_today_over_fleet": round(today[key] / fleet[key], 2) if today[key] and fleet.get(key) else None
               for key in ("gateway_cpu_pct", "selects_per_s", "gateway_queries_per_s", "socket_writes_per_s")}
    return {"fleet": fleet, "today": today, **factors}


async def _run(args: argparse.Namespace, db_url: str, trucks: list[str], kind: str, label: str, *,
               watch: list[str] | None, per_client: int, fleet: bool, interval: float | None,
               cpus: str | None) -> dict[str, Any]:
    print(f"fleet: {label}", file=sys.stderr, flush=True)
    server = gateway_server(db_url, args.poll_interval, cpus, args.gateway_arg)
    try:
        url = await server.start()
        opts = load_options(args, trucks, url)
        opts.watch, opts.trucks_per_client, opts.fleet = watch, per_client, fleet
        opts.rest_parallel = args.rest_parallel
        if interval is not None:
            opts.interval = interval
        drv = MySQLDriver(parse_db_url(db_url))
        return await LoadRun(kind, opts, driver=drv, server_pid=server.pid, db=parse_db_url(db_url),
                             label=label).run()
    finally:
        await server.stop_reporting()


async def run_fleet(args: argparse.Namespace) -> dict[str, Any]:
    """The fleet run, then (unless ``--no-today``) the old page's push and REST runs; all reports and the costs."""
    cpus = args.server_cpus if args.server_cpus is not None else system.default_cpu_split()[0]
    trucks = await resolve_trucks(args, None)
    pushed = min(args.pushed, len(trucks))
    runs: dict[str, dict[str, Any]] = {}
    async with scratch_database(args.db_server, trucks) as db_url:
        runs["fleet"] = await _run(args, db_url, trucks, "ws", f"{args.clients} on fleet", watch=None,
                                   per_client=len(trucks), fleet=True, interval=None, cpus=cpus)
        if not args.no_today and pushed < len(trucks):
            runs["today_push"] = await _run(args, db_url, trucks, "ws", f"today: {pushed} pushed",
                                            watch=trucks[:pushed], per_client=pushed, fleet=False,
                                            interval=None, cpus=cpus)
            rest = trucks[pushed:]
            runs["today_rest"] = await _run(args, db_url, trucks, "rest", f"today: {len(rest)} polled",
                                            watch=rest, per_client=len(rest), fleet=False,
                                            interval=args.rest_interval, cpus=cpus)
    report: dict[str, Any] = {"mode": "fleet", "runs": runs}
    if "today_rest" in runs:
        report["fleet_vs_today"] = compare_costs(costs(runs["fleet"]), costs(runs["today_push"]),
                                                 costs(runs["today_rest"]))
    else:
        report["fleet_costs"] = costs(runs["fleet"])
    return report
