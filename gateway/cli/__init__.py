"""Command line: ``gateway serve | initdb | simulate | demo | token`` (also ``python -m gateway``).

One module per command, each with ``HELP``, ``OPTIONS`` and ``run(parser, args)``. Parsing
and validation happen here, once. Every failure a user can cause (a bad flag, a bad URL, a
database that does not answer, a port in use) ends as one line on stderr and a non-zero
exit, never a traceback.

May import: gateway.config, gateway.store (for its error type); each command imports the
server, the simulator or the store lazily, so ``gateway token`` loads no server code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.cli import demo, initdb, serve, simulate, token
from gateway.cli.args import OneLineParser, add_options
from gateway.store import StoreUnavailable

PROG = "gateway"
COMMANDS = {"serve": serve, "initdb": initdb, "simulate": simulate, "token": token, "demo": demo}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every option mirrored by a GATEWAY_* variable."""
    parser = OneLineParser(prog=PROG, description="WebSocket push gateway for live fleet telemetry.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    for name, module in COMMANDS.items():
        add_options(commands.add_parser(name, help=module.HELP), module.OPTIONS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    from gateway.cli.loop import configure_logging
    from gateway.server.run import PortInUse

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("initdb", "simulate"):
        configure_logging("INFO")
    try:
        return COMMANDS[args.command].run(parser, args)
    except StoreUnavailable as exc:
        print(f"{PROG}: error: database {args.db.redacted()} is not reachable ({exc})", file=sys.stderr)
        return 1
    except PortInUse as exc:
        hint = "pick another with --port (or make demo PORT=...), or stop the process using it"
        print(f"{PROG}: error: cannot listen on {exc.host}:{exc.port}: the port is in use; {hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
