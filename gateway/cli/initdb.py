"""``gateway initdb``: create the schema (idempotent), optionally a sample fleet."""

from __future__ import annotations

import argparse
import logging

from gateway.cli.loop import run_async
from gateway.config import DB, Option, number
from gateway.store import open_store
from gateway.store.url import DbUrl

log = logging.getLogger("gateway")

HELP = "create tables and indexes (idempotent), optionally a sample fleet"
OPTIONS = (DB, Option("sample-trucks", number(int, 0, 100000), "0", "insert N sample trucks"),
           Option("seed", number(int, 0, 2**31), "0", "random seed of the sample fleet"))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command with parsed arguments."""
    return run_async(initdb(args.db, sample_trucks=args.sample_trucks, seed=args.seed))


async def initdb(url: DbUrl, *, sample_trucks: int = 0, seed: int = 0) -> int:
    """Create the schema (idempotent); with ``sample_trucks`` also a sample fleet."""
    store = open_store(url, pool_min=1, pool_max=4)
    try:
        await store.create_schema()
        if sample_trucks:
            from gateway.sim.writer import seed_sample_fleet

            await seed_sample_fleet(store, sample_trucks, seed=seed)
        extra = f" with {sample_trucks} sample trucks" if sample_trucks else ""
        log.info("schema ready in %s%s", url.redacted(), extra)
    finally:
        await store.close()
    return 0
