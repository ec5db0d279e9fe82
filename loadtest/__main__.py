"""``python -m loadtest``: parse, run one mode on uvloop, print the table, write JSON and PNG.

A user error (bad flag, non-loopback URL, unreachable database) is one line on stderr and
exit code 2 or 1, not a traceback. Ctrl-C stops the run in order: the workers are told to
stop and are reaped before the process exits.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from loadtest.cli import build_parser

PROG = "python -m loadtest"


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _output(report: dict[str, Any], json_path: str | None, png_path: str | None, quiet: bool) -> None:
    from loadtest import plot, table

    if report.get("mode") == "failover":
        if not quiet:
            print("failover: " + ", ".join(f"{k}={v}" for k, v in report["failover"].items()))
        if json_path:
            with open(json_path, "wb") as out:
                out.write(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        return
    runs = list(report["runs"].values()) if "runs" in report else [report]
    if not quiet:
        print(table.render(runs))
        for key in ("ratio", "push_vs_rest", "cluster_ratio", "fleet_costs"):
            if key in report:
                print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in report[key].items()))
        for source, summary in report.get("change_capture", {}).items():
            print(f"change_capture.{source}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
        if "fleet_vs_today" in report:
            for key, value in report["fleet_vs_today"].items():
                print(f"fleet_vs_today.{key}: {value}")
    if json_path:
        with open(json_path, "wb") as out:
            out.write(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    if png_path:
        plot.draw(runs, png_path)


def _plot(paths: Sequence[str], png_path: str) -> int:
    reports: list[dict[str, Any]] = []
    for path in paths:
        with open(path, "rb") as f:
            report = orjson.loads(f.read())
        reports.extend(report["runs"].values() if "runs" in report else [report])
    _output({"mode": "compare", "runs": dict(enumerate(reports))}, None, png_path, quiet=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.mode == "plot":
        return _plot(args.reports, args.png_path)
    if args.mode == "reference-server":
        from loadtest.modes import resolve_trucks
        from loadtest.reference import serve
        from loadtest.system import parse_cpus, pin_to, raise_nofile

        pin_to(parse_cpus(args.cpus))
        raise_nofile()
        trucks = _run(resolve_trucks(args, None))
        return _run(serve(trucks, args.host, args.port, args.heartbeat))
    try:
        if args.mode in ("ws", "rest"):
            from loadtest.modes import run_target

            report = _run(run_target(args, args.mode))
        elif args.mode == "reference":
            from loadtest.modes import run_reference

            report = _run(run_reference(args))
        elif args.mode == "cluster":
            from loadtest.cluster import run_cluster

            report = _run(run_cluster(args))
        elif args.mode == "failover":
            from loadtest.failover import run_failover

            report = _run(run_failover(args))
        elif args.mode == "changes":
            from loadtest.changecapture import run_changes

            report = _run(run_changes(args))
        elif args.mode == "fleet":
            from loadtest.fleetbench import run_fleet

            report = _run(run_fleet(args))
        else:
            from loadtest.compare import run_compare

            report = _run(run_compare(args))
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    _output(report, args.json_path, args.png_path, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
