"""``gateway simulate``: play the fleet's sync worker against a database."""

from __future__ import annotations

import argparse
import logging

from gateway.cli.args import HISTORY_INTERVAL
from gateway.cli.loop import run_async
from gateway.cli.signals import stop_on_signals
from gateway.config import DB, Option, number
from gateway.store import open_store
from gateway.store.url import DbUrl

log = logging.getLogger("gateway")

HELP = "play the fleet's sync worker against a database"
OPTIONS = (DB, Option("trucks", number(int, 1, 100000), "50", "trucks to drive"),
           Option("rate", number(float, 0.01, 1000), "1.0", "updates per truck per second"),
           HISTORY_INTERVAL,
           Option("duration", number(float, 0, 10**7), "0", "stop after S seconds (0: never)"),
           Option("seed", number(int, 0, 2**31), "0", "random seed"))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command with parsed arguments."""
    return run_async(simulate(args.db, trucks=args.trucks, rate=args.rate, duration=args.duration, seed=args.seed,
                              history_interval=args.history_interval))


async def simulate(
    url: DbUrl, *, trucks: int, rate: float, duration: float, seed: int = 0, history_interval: float = 60.0,
) -> int:
    """Drive ``trucks`` trucks at ``rate`` updates per second until stopped or ``duration`` ends."""
    from gateway.sim.writer import run_simulation

    store = open_store(url, pool_min=1, pool_max=4)
    try:
        await store.create_schema()
        with stop_on_signals() as stop:
            stats = await run_simulation(store, None, trucks, rate, duration=duration or None, stop=stop, seed=seed,
                                         history_interval=history_interval)
        log.info("simulation stopped: %s", stats)
    finally:
        await store.close()
    return 0
