"""The command line: ``python -m loadtest MODE`` (ws, rest, reference, compare, cluster, failover, fleet, changes)."""

from __future__ import annotations

import argparse

from gateway.cli.args import OneLineParser
from gateway.config import number

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_DB_SERVER = "mysql://root@127.0.0.1:3306"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def _load_options(p: argparse.ArgumentParser, *, noun: str = "clients", per: str = "client") -> None:
    """Options every load shares (how many, how fast, how long, where the clients run)."""
    p.add_argument(f"--{noun}", dest="clients", type=number(int, 0, 1_000_000), default=100,
                   help=f"{noun} to run [100]")
    p.add_argument("--trucks", type=number(int, 1, 100_000), default=100,
                   help="trucks to watch: the database's first N ids (with --db) or the sample fleet's [100]")
    p.add_argument("--truck-ids", default="", help="comma-separated truck ids (instead of --trucks)")
    p.add_argument(f"--trucks-per-{per}", dest="trucks_per_client", type=number(int, 0, 200), default=1,
                   help=f"trucks each {per} watches, dealt round-robin (0: connect only, idle) [1]")
    p.add_argument("--ramp", type=number(float, 1, 100_000), default=500.0, help=f"{noun} started per second [500]")
    p.add_argument("--duration", type=number(float, 1, 3600), default=30.0,
                   help="seconds of driven load (the measured window) [30]")
    p.add_argument("--warmup", type=number(float, 0, 600), default=None,
                   help="seconds of driven load before the window opens [poll interval + 0.5, at most duration/4]")
    p.add_argument("--drain", type=number(float, 0, 600), default=None,
                   help="seconds after the last write for deliveries to arrive [poll interval + 2]")
    p.add_argument("--rate", type=number(float, 0.01, 100), default=1.0, help="driven updates per truck per second [1]")
    p.add_argument("--processes", type=number(int, 0, 64), default=0,
                   help="client processes (0: one per spare core, more when the fd limit needs it) [0]")
    p.add_argument("--source-ips", type=number(int, 1, 250), default=None,
                   help="loopback source addresses 127.0.0.2.. to spread sockets over [1 per 4000 clients]")
    p.add_argument("--client-cpus", default=None,
                   help="pin client processes to these CPUs, e.g. 1 or 2-3; '' for none [all but CPU 0 on 2+ cores]")
    p.add_argument("--connect-timeout", type=number(float, 0.1, 600), default=10.0,
                   help="seconds for one connect (ws) or request (rest) [10]")
    p.add_argument("--settle-timeout", type=number(float, 0, 3600), default=30.0,
                   help="seconds after the ramp to wait for every subscribe to complete [30]")
    p.add_argument("--timeout", type=number(float, 1, 86_400), default=None,
                   help="hard cap on the whole run in seconds [computed from the phases]")
    p.add_argument("--json", dest="json_path", default=None, help="write the report as JSON here")
    p.add_argument("--png", dest="png_path", default=None, help="draw the report as a PNG here")
    p.add_argument("--quiet", action="store_true", help="do not print the table")


def _target_options(p: argparse.ArgumentParser, *, poll_help: str) -> None:
    p.add_argument("--url", default=DEFAULT_URL, help=f"the gateway's base URL (loopback only) [{DEFAULT_URL}]")
    p.add_argument("--db", default=None,
                   help="the gateway's database URL mysql://...: truck ids, MariaDB counters, and --drive")
    p.add_argument("--drive", action="store_true",
                   help="update truck_sensors_cache from here (needs --db); else leave it to `gateway simulate`")
    p.add_argument("--gateway-pid", type=int, default=None,
                   help="the gateway's pid for CPU and RSS [found by the URL's port]")
    p.add_argument("--poll-interval", type=number(float, 0.05, 60), default=1.0, help=poll_help)


def _scratch_options(p: argparse.ArgumentParser) -> None:
    """Modes that start their own gateways on a scratch database."""
    p.add_argument("--db-server", default=DEFAULT_DB_SERVER,
                   help=f"MariaDB server for a scratch database lt_<random>, dropped after [{DEFAULT_DB_SERVER}]")
    p.add_argument("--poll-interval", type=number(float, 0.05, 60), default=1.0,
                   help="the gateways' --poll-interval [1]")
    p.add_argument("--server-cpus", default=None, help="pin every gateway process to these CPUs [0 on 2+ cores]")
    p.add_argument("--gateway-arg", action="append", default=[], metavar="ARG",
                   help="extra `gateway serve` argument, repeatable")


def _broker_options(p: argparse.ArgumentParser, ttl: float) -> None:
    p.add_argument("--broker", default=DEFAULT_BROKER,
                   help=f"Redis of the cluster (loopback only); a unique --broker-prefix per run, its keys "
                        f"deleted after [{DEFAULT_BROKER}]")
    p.add_argument("--lease-ttl", type=number(float, 0.5, 3600), default=ttl,
                   help=f"the gateways' --lease-ttl [{ttl:g}]")
    p.add_argument("--servers", type=number(int, 1, 16), default=2, help="gateway processes in the cluster [2]")


def _cluster_parser(modes: argparse._SubParsersAction) -> None:
    cluster = modes.add_parser("cluster", help="one gateway process, then a cluster of --servers on Redis, same load")
    _load_options(cluster)
    _scratch_options(cluster)
    _broker_options(cluster, 5.0)
    cluster.add_argument("--no-single", action="store_true", help="skip the single-process run")


def _failover_parser(modes: argparse._SubParsersAction) -> None:
    failover = modes.add_parser("failover", help="SIGKILL the reader of a watched truck --kills times; time takeovers")
    _scratch_options(failover)
    _broker_options(failover, 1.0)
    failover.add_argument("--trucks", type=number(int, 1, 1000), default=5, help="trucks in the scratch database [5]")
    failover.add_argument("--truck-ids", default="", help=argparse.SUPPRESS)
    failover.add_argument("--kills", type=number(int, 1, 1000), default=20, help="rounds of kill and takeover [20]")
    failover.add_argument("--seed", type=int, default=1, help="seed of the random pause before each kill [1]")
    failover.add_argument("--round-timeout", type=number(float, 1, 600), default=30.0,
                          help="seconds one round may wait for steadiness or a takeover [30]")
    failover.add_argument("--timeout", type=number(float, 1, 86_400), default=900.0,
                          help="hard cap on the whole run in seconds [900]")
    failover.add_argument("--json", dest="json_path", default=None, help="write the report as JSON here")
    failover.add_argument("--png", dest="png_path", default=None, help=argparse.SUPPRESS)
    failover.add_argument("--quiet", action="store_true", help="do not print the summary")


def _fleet_parser(modes: argparse._SubParsersAction) -> None:
    fleet = modes.add_parser("fleet", help="dashboards on the fleet channel, then the old page (pushed + polled)")
    _load_options(fleet, noun="dashboards", per="dashboard")
    _scratch_options(fleet)
    fleet.add_argument("--pushed", type=number(int, 1, 200), default=200,
                       help="old page: trucks subscribed by name, the rest polled over REST [200]")
    fleet.add_argument("--rest-interval", type=number(float, 0.05, 3600), default=2.0,
                       help="old page: seconds between two REST refreshes of the polled trucks [2]")
    fleet.add_argument("--rest-parallel", type=number(int, 0, 100_000), default=6,
                       help="old page: requests one dashboard has in flight at once, as a browser's 6 "
                            "connections per host (0: every polled truck at once) [6]")
    fleet.add_argument("--no-today", action="store_true", help="only the fleet run")


def _changes_parser(modes: argparse._SubParsersAction) -> None:
    changes = modes.add_parser("changes", help="--changes poll, then --changes binlog, on one private binlog MariaDB")
    _load_options(changes)
    changes.add_argument("--changes", default="poll,binlog",
                         help="gateway change sources to run, in order: poll, binlog or both [poll,binlog]")
    changes.add_argument("--poll-interval", type=number(float, 0.05, 60), default=1.0,
                         help="the gateways' --poll-interval (the binlog gateway polls only while the log is "
                              "unusable) [1]")
    changes.add_argument("--server-cpus", default=None, help="pin each gateway to these CPUs [0 on 2+ cores]")
    changes.add_argument("--gateway-arg", action="append", default=[], metavar="ARG",
                         help="extra `gateway serve` argument, repeatable")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = OneLineParser(prog="python -m loadtest",
                           description="Load tester for the fleet push gateway (loopback targets only).")
    modes = parser.add_subparsers(dest="mode", required=True, metavar="MODE", parser_class=OneLineParser)

    ws = modes.add_parser("ws", help="many WebSocket clients against a running gateway")
    _load_options(ws)
    _target_options(ws, poll_help="the gateway's --poll-interval, for warm-up and drain defaults [1]")

    rest = modes.add_parser("rest", help="dashboards polling GET /v1/trucks/{id}/sensors")
    _load_options(rest, noun="dashboards", per="dashboard")
    _target_options(rest, poll_help="the push gateway's poll interval this is compared with [1]")
    rest.add_argument("--interval", type=number(float, 0.05, 3600), default=None,
                      help="seconds between two refreshes of a dashboard [--poll-interval]")

    ref = modes.add_parser("reference", help="the same WebSocket clients against the bare reference server")
    _load_options(ref)
    ref.add_argument("--server-cpus", default=None, help="pin the reference server to these CPUs [0 on 2+ cores]")
    ref.add_argument("--poll-interval", type=number(float, 0.05, 60), default=1.0, help=argparse.SUPPRESS)

    cmp = modes.add_parser("compare", help="gateway, then reference (then REST polling) on one load, each bounded")
    _load_options(cmp)
    cmp.add_argument("--db-server", default=DEFAULT_DB_SERVER,
                     help=f"MariaDB server for a scratch database lt_<random>, dropped after [{DEFAULT_DB_SERVER}]")
    cmp.add_argument("--poll-interval", type=number(float, 0.05, 60), default=1.0,
                     help="the gateway's --poll-interval (and the REST refresh interval) [1]")
    cmp.add_argument("--server-cpus", default=None, help="pin each server to these CPUs [0 on 2+ cores]")
    cmp.add_argument("--gateway-arg", action="append", default=[], metavar="ARG",
                     help="extra `gateway serve` argument, repeatable, e.g. --gateway-arg=--max-connections=30000")
    cmp.add_argument("--no-reference", action="store_true", help="skip the reference run")
    cmp.add_argument("--rest", action="store_true", help="also run the same clients as polling dashboards")
    cmp.add_argument("--no-drive", action="store_true", help="drive nothing: idle sockets (memory per connection)")

    _cluster_parser(modes)
    _failover_parser(modes)
    _fleet_parser(modes)
    _changes_parser(modes)

    server = modes.add_parser("reference-server", help="only run the reference server (prints its URL)")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=number(int, 0, 65535), default=0)
    server.add_argument("--trucks", type=number(int, 1, 100_000), default=100)
    server.add_argument("--truck-ids", default="")
    server.add_argument("--heartbeat", type=number(float, 1, 3600), default=25.0)
    server.add_argument("--cpus", default=None, help="pin to these CPUs")

    plot = modes.add_parser("plot", help="draw a PNG (and print the table) from JSON reports")
    plot.add_argument("reports", nargs="+", help="report JSON files")
    plot.add_argument("--png", dest="png_path", required=True)
    return parser
