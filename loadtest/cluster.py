"""``cluster``: the same client load on one gateway process, then on a cluster of N, in one run.

Both halves use one scratch database and the same trucks, clients and driver; the single
process runs first, then N ``gateway serve --broker …`` processes on their own ports
(clients dealt round-robin over them, so every truck has watchers on every process and
the processes must relay each other's frames). Each cluster gets a unique
``--broker-prefix`` whose keys are deleted afterwards. What is compared (``cluster_ratio``):

- ``capacity``: frames per CPU-second of the gateway processes, cluster / single, times
  N: the fan-out rate the cluster would reach with a core per process, against one
  process on one core (goal ≥ 1.6 for 2);
- ``capacity_with_redis``: the same with Redis's CPU charged to the cluster;
- ``capacity_busiest``: frames per second over the busiest process's share of a core,
  cluster / single: where the first process would saturate, so imbalance counts;
- ``selects``: MariaDB ``Com_select`` per second, cluster / single (1.0 = one reader per
  truck cluster-wide).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from gateway.store.url import parse_db_url
from loadtest import system
from loadtest.brokerprefix import check_answers, check_broker_url, scratch_prefix
from loadtest.driver import MySQLDriver
from loadtest.fleetdb import scratch_database
from loadtest.modes import load_options, resolve_trucks
from loadtest.probes import ProcessProbe, RedisProbe
from loadtest.runner import LoadRun
from loadtest.servers import ServerProcess, gateway_server


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def aggregate(report: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The gateway processes' figures added up: CPU, µs per delivered frame, per process."""
    probes = report.get("probes", {})
    procs = [probes[n] for n in names if "cpu_pct" in probes.get(n, {})]
    frames = report.get("delivery", {}).get("window_diffs", 0)
    user = sum(p["user_s"] for p in procs)
    total = user + sum(p["system_s"] for p in procs)
    out: dict[str, Any] = {
        "processes": len(names), "cpu_pct": round(sum(p["cpu_pct"] for p in procs), 1),
        "cpu_pct_each": [p["cpu_pct"] for p in procs],
        "rss_window_start_mib": round(sum(p.get("rss_mib", 0.0) for p in procs), 1),
    }
    if frames:
        out["user_us_per_frame"] = round(1e6 * user / frames, 2)
        out["cpu_us_per_frame"] = round(1e6 * total / frames, 2)
    return out


def cluster_ratios(single: dict[str, Any], cluster: dict[str, Any], processes: int) -> dict[str, Any]:
    """Capacity and database-read ratios of the cluster against the single process (see the module doc)."""
    f1 = single.get("delivery", {}).get("diffs_per_s")
    f2 = cluster.get("delivery", {}).get("diffs_per_s")
    c1 = (single.get("server", {}).get("cpu_pct") or 0) / 100
    each = [c / 100 for c in cluster.get("server", {}).get("cpu_pct_each", [])]
    redis = (cluster.get("probes", {}).get("redis", {}).get("cpu_pct") or 0) / 100
    per_cpu_1 = f1 / c1 if f1 and c1 else None
    per_cpu_2 = f2 / sum(each) if f2 and each and sum(each) else None
    per_cpu_2r = f2 / (sum(each) + redis) if per_cpu_2 else None
    busiest = f2 / max(each) if f2 and each and max(each) else None
    s1 = single.get("database", {}).get("com_select_per_s")
    s2 = cluster.get("database", {}).get("com_select_per_s")
    return {
        "processes": processes,
        "capacity": _ratio(processes * per_cpu_2 if per_cpu_2 else None, per_cpu_1),
        "capacity_with_redis": _ratio(processes * per_cpu_2r if per_cpu_2r else None, per_cpu_1),
        "capacity_busiest": _ratio(busiest, per_cpu_1),
        "single_frames_per_cpu_s": round(per_cpu_1) if per_cpu_1 else None,
        "cluster_frames_per_cpu_s": round(per_cpu_2) if per_cpu_2 else None,
        "selects": _ratio(s2, s1), "single_selects_per_s": s1, "cluster_selects_per_s": s2,
        "redis_commands_per_s": cluster.get("probes", {}).get("redis", {}).get("commands_per_s"),
        "redis_cpu_pct": round(100 * redis, 1),
    }


async def _run(args: argparse.Namespace, db_url: str, trucks: list[str], servers: list[ServerProcess],
               label: str, broker: str) -> dict[str, Any]:
    try:
        urls = [await s.start() for s in servers]
        opts = load_options(args, trucks, urls[0])
        opts.targets = urls
        names = [f"gateway{i}" for i in range(len(servers))]
        probes: list[Any] = [ProcessProbe(n, s.pid, u) for n, s, u in zip(names, servers, urls, strict=True)]
        probes.append(RedisProbe(broker))
        drv = MySQLDriver(parse_db_url(db_url)) if args.trucks_per_client > 0 else None
        single = len(servers) == 1
        report = await LoadRun("ws", opts, driver=drv, server_pid=servers[0].pid if single else None,
                               db=parse_db_url(db_url), label=label, probes=probes).run()
        if not single:
            report["server"] = aggregate(report, names)
        return report
    finally:
        for server in servers:
            code = await server.stop()
            if code not in (0, None):
                print(f"warning: {label} process exited with {code}; its log: {server.log_path}",
                      file=sys.stderr, flush=True)


async def run_cluster(args: argparse.Namespace) -> dict[str, Any]:
    """One process, then ``--servers`` processes on a broker, on the same load; both reports and the ratios."""
    cpus = args.server_cpus if args.server_cpus is not None else system.default_cpu_split()[0]
    await check_answers(check_broker_url(args.broker))  # before the single run, not minutes into the command
    trucks = await resolve_trucks(args, None)
    runs: dict[str, dict[str, Any]] = {}
    prefix = ""
    async with scratch_database(args.db_server, trucks) as db_url:
        if not args.no_single:
            print("cluster: the load on one gateway process", file=sys.stderr, flush=True)
            one = [gateway_server(db_url, args.poll_interval, cpus, args.gateway_arg)]
            runs["single"] = await _run(args, db_url, trucks, one, "1 process", args.broker)
        async with scratch_prefix(args.broker) as prefix:
            print(f"cluster: the load on {args.servers} processes (broker prefix {prefix})", file=sys.stderr,
                  flush=True)
            cluster_args = [*args.gateway_arg, "--broker", args.broker, "--broker-prefix", prefix,
                            "--lease-ttl", str(args.lease_ttl)]
            servers = [gateway_server(db_url, args.poll_interval, cpus, cluster_args) for _ in range(args.servers)]
            runs["cluster"] = await _run(args, db_url, trucks, servers, f"{args.servers} processes", args.broker)
    report: dict[str, Any] = {"mode": "cluster", "runs": runs, "broker_prefix": prefix}
    with contextlib.suppress(KeyError):
        report["cluster_ratio"] = cluster_ratios(runs["single"], runs["cluster"], args.servers)
    return report
