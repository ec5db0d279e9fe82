"""``gateway serve``: start the app, print where it listens, stop cleanly on a signal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from gateway.cli.loop import configure_logging, run_async
from gateway.cli.signals import stop_on_signals
from gateway.config import SERVE_OPTIONS, Settings, check_serve_settings

log = logging.getLogger("gateway")

HELP = "run the gateway"
OPTIONS = SERVE_OPTIONS


def settings_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Settings:
    """Validated settings, or a one-line error and exit 2."""
    settings = Settings.from_namespace(args)
    problem = check_serve_settings(settings)
    if problem:
        parser.exit(2, f"{parser.prog}: error: {problem}\n")
    configure_logging(settings.log_level)
    return settings


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command with parsed arguments: one process, or a supervisor of ``--workers``."""
    settings = settings_of(parser, args)
    if settings.workers > 1:
        from gateway.cli.workers import supervise

        return asyncio.run(supervise(settings, sys.argv[1:]))
    return run_async(serve(settings))


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM, then shut down gracefully; returns the exit code."""
    from gateway.cli.workers import WORKER_ENV
    from gateway.server.app import make_app
    from gateway.server.run import settle_gc, start_site

    with stop_on_signals() as stop:
        runner, port = await start_site(make_app(settings), settings.host, settings.port,
                                        reuse_port=WORKER_ENV in os.environ)
        print(f"listening on http://{settings.host}:{port}", flush=True)
        if settings.db.scheme == "sqlite":
            log.info("using the embedded database %s", settings.db.redacted())
        settle_gc()
        await stop.wait()
        log.info("shutting down")
        await runner.cleanup()
    return 0
