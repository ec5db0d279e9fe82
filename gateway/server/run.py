"""``gateway serve``: start the app, print where it listens, stop cleanly on a signal."""

from __future__ import annotations

import gc
import logging

from aiohttp import web

from gateway.config import Settings
from gateway.server.app import make_app
from gateway.server.keys import GUARD
from gateway.signals import stop_on_signals

log = logging.getLogger("gateway")


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; returns the runner and the bound port (port 0 picks one)."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    assert runner.server is not None
    app[GUARD].install(runner.server)
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    sockets = site._server.sockets if site._server else []  # the only way to learn the port picked for 0
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, bound


def settle_gc() -> None:
    """Keep the cyclic GC off the hot path once the process is up.

    Start-up objects live forever, so they are frozen out of every collection. With
    thousands of sockets the heap is large and a full (generation 2) collection walks all
    of it, pausing the loop for hundreds of milliseconds; fewer, later full collections
    (the third threshold) and larger young generations keep those pauses rare. Garbage
    without cycles is freed by reference counting as before.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM, then shut down gracefully; returns the exit code."""
    with stop_on_signals() as stop:
        runner, port = await start_site(make_app(settings), settings.host, settings.port)
        print(f"listening on http://{settings.host}:{port}", flush=True)
        if settings.db.scheme == "sqlite":
            log.info("using the embedded database %s", settings.db.redacted())
        settle_gc()
        await stop.wait()
        log.info("shutting down")
        await runner.cleanup()
    return 0
