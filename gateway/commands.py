"""The database-side subcommands: ``initdb`` and ``simulate``."""

from __future__ import annotations

import logging

from gateway.dburl import DbUrl
from gateway.signals import stop_on_signals
from gateway.store import open_store

log = logging.getLogger("gateway")


async def initdb(url: DbUrl, *, sample_trucks: int = 0, seed: int = 0) -> int:
    """Create the schema (idempotent); with ``sample_trucks`` also a sample fleet."""
    store = open_store(url, pool_min=1, pool_max=4)
    try:
        await store.create_schema()
        if sample_trucks:
            from gateway.simulate import seed_sample_fleet

            await seed_sample_fleet(store, sample_trucks, seed=seed)
        extra = f" with {sample_trucks} sample trucks" if sample_trucks else ""
        log.info("schema ready in %s%s", url.redacted(), extra)
    finally:
        await store.close()
    return 0


async def simulate(url: DbUrl, *, trucks: int, rate: float, duration: float, seed: int = 0) -> int:
    """Drive ``trucks`` trucks at ``rate`` updates per second until stopped or ``duration`` ends."""
    from gateway.simulate import run_simulation

    store = open_store(url, pool_min=1, pool_max=4)
    try:
        await store.create_schema()
        with stop_on_signals() as stop:
            stats = await run_simulation(store, None, trucks, rate, duration=duration or None, stop=stop, seed=seed)
        log.info("simulation stopped: %s", stats)
    finally:
        await store.close()
    return 0
