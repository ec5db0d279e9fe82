"""Command line: ``gateway serve | initdb | simulate | demo | token`` (also ``python -m gateway``).

Parsing and validation happen here, once; each subcommand then runs one coroutine. Every
failure a user can cause (a bad flag, a bad URL, a database that does not answer) ends
as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from gateway.config import (
    DB,
    SERVE_OPTIONS,
    OneLineParser,
    Option,
    Settings,
    add_options,
    check_serve_settings,
    duration,
    number,
)
from gateway.store import StoreUnavailable

PROG = "gateway"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every option mirrored by a GATEWAY_* variable."""
    parser = OneLineParser(prog=PROG, description="WebSocket push gateway for live fleet telemetry.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    serve = commands.add_parser("serve", help="run the gateway")
    add_options(serve, SERVE_OPTIONS)

    initdb = commands.add_parser("initdb", help="create tables and indexes (idempotent), optionally a sample fleet")
    add_options(initdb, (DB, Option("sample-trucks", number(int, 0, 100000), "0", "insert N sample trucks"),
                         Option("seed", number(int, 0, 2**31), "0", "random seed of the sample fleet")))

    simulate = commands.add_parser("simulate", help="play the fleet's sync worker against a database")
    add_options(simulate, (DB, Option("trucks", number(int, 1, 100000), "50", "trucks to drive"),
                           Option("rate", number(float, 0.01, 1000), "1.0", "updates per truck per second"),
                           Option("duration", number(float, 0, 10**7), "0", "stop after S seconds (0: never)"),
                           Option("seed", number(int, 0, 2**31), "0", "random seed")))

    token = commands.add_parser("token", help="mint a bearer token for operators and tests")
    add_options(token, (Option("sub", str, "operator", "who the token names"),
                        Option("trucks", str, "*", "comma-separated truck ids it may see, or *"),
                        Option("ttl", duration, "1h", "lifetime: seconds or 30m, 1h, 7d"),
                        Option("jwt-secret", str, "", "HS256 key (the gateway's --jwt-secret)"),
                        Option("jwt-private-key", str, "", "PEM private key for RS256/ES256")))

    demo = commands.add_parser("demo", help="embedded database, sample fleet, simulator and gateway in one process")
    add_options(demo, (*SERVE_OPTIONS, Option("trucks", number(int, 1, 10000), "25", "sample trucks"),
                       Option("rate", number(float, 0.01, 100), "1.0", "updates per truck per second")))
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """Run the main coroutine on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _token(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from gateway.auth import mint, token_algorithm

    try:
        key, algorithm = token_algorithm(args.jwt_secret, args.jwt_private_key)
    except ValueError as exc:
        parser.exit(2, f"{PROG}: error: {exc}\n")
    trucks = [t.strip() for t in args.trucks.split(",") if t.strip()]
    print(mint(key, algorithm, args.sub, trucks, args.ttl))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("serve", "demo"):
            settings = Settings.from_namespace(args)
            problem = check_serve_settings(settings)
            if problem:
                parser.exit(2, f"{PROG}: error: {problem}\n")
            _configure_logging(settings.log_level)
            if args.command == "serve":
                from gateway.server.run import serve

                return _run(serve(settings))
            from gateway.demo import run_demo

            return _run(run_demo(settings, trucks=args.trucks, rate=args.rate))
        if args.command == "token":
            return _token(parser, args)
        _configure_logging("INFO")
        if args.command == "initdb":
            from gateway.commands import initdb

            return _run(initdb(args.db, sample_trucks=args.sample_trucks, seed=args.seed))
        from gateway.commands import simulate

        return _run(simulate(args.db, trucks=args.trucks, rate=args.rate, duration=args.duration, seed=args.seed))
    except StoreUnavailable as exc:
        print(f"{PROG}: error: database {args.db.redacted()} is not reachable ({exc})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
