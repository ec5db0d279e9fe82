"""``gateway demo``: embedded database, sample fleet, simulator and gateway in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from gateway.cli.args import HISTORY_INTERVAL
from gateway.cli.loop import run_async
from gateway.cli.serve import settings_of
from gateway.cli.signals import stop_on_signals
from gateway.config import SERVE_OPTIONS, Option, Settings, number
from gateway.store import open_store

log = logging.getLogger("gateway")

# Enough history for the charts and the DTC/refuel lists, little enough to start in seconds.
DEMO_HISTORY_HOURS = 6

HELP = "embedded database, sample fleet, simulator and gateway in one process"
OPTIONS = (*SERVE_OPTIONS, Option("trucks", number(int, 1, 10000), "200", "sample trucks"),
           Option("rate", number(float, 0.01, 100), "1.0", "updates per truck per second"), HISTORY_INTERVAL)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command with parsed arguments."""
    return run_async(run_demo(settings_of(parser, args), trucks=args.trucks, rate=args.rate,
                                     history_interval=args.history_interval))


async def run_demo(settings: Settings, *, trucks: int, rate: float, history_interval: float = 60.0) -> int:
    """Seed the database when it is empty, then run the simulator beside the gateway until a signal."""
    from gateway.server.app import make_app
    from gateway.server.run import settle_gc, start_site
    from gateway.sim.writer import run_simulation, seed_sample_fleet

    writer = open_store(settings.db, pool_min=1, pool_max=4, query_timeout=settings.query_timeout)
    await writer.create_schema()
    if not await writer.list_trucks(None, 1):
        log.info("seeding %d sample trucks with %g hours of history into %s", trucks, DEMO_HISTORY_HOURS,
                 settings.db.redacted())
        await seed_sample_fleet(writer, trucks, history_hours=DEMO_HISTORY_HOURS)
    with stop_on_signals() as stop:
        runner, port = await start_site(make_app(settings), settings.host, settings.port)
        simulator = asyncio.create_task(run_simulation(writer, None, trucks, rate, duration=None, stop=stop,
                                                    history_interval=history_interval))
        print(f"listening on http://{settings.host}:{port}", flush=True)
        print(f"dashboard: http://{settings.host}:{port}/   websocket: ws://{settings.host}:{port}/v1/ws", flush=True)
        settle_gc()
        await stop.wait()
        log.info("shutting down")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(simulator, 5)
        await runner.cleanup()
    await writer.close()
    return 0
