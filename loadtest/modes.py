"""The single-run modes: ``ws`` and ``rest`` against a running gateway, ``reference`` on its own server."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from gateway.sim.fleet import Fleet
from gateway.store.url import DbUrl, parse_db_url
from loadtest import driver, system
from loadtest.options import LoadOptions
from loadtest.procstats import find_pid_by_port
from loadtest.refdriver import ReferenceDriver
from loadtest.runner import LoadRun
from loadtest.servers import reference_server


async def resolve_trucks(args: argparse.Namespace, db: DbUrl | None) -> list[str]:
    """Explicit ids, else the database's first N, else the sample fleet's N (as ``gateway initdb`` makes them)."""
    if args.truck_ids:
        return [t.strip() for t in args.truck_ids.split(",") if t.strip()]
    if db is not None:
        ids = await driver.truck_ids(db, args.trucks)
        if not ids:
            raise ValueError(f"no trucks in {db.redacted()}")
        return ids
    return Fleet.make_ids(args.trucks)


def load_options(args: argparse.Namespace, trucks: list[str], url: str) -> LoadOptions:
    """The run's settings from the command line, with defaults that follow the poll interval."""
    poll = getattr(args, "poll_interval", 1.0)
    warmup = args.warmup if args.warmup is not None else min(poll + 0.5, args.duration / 4)
    drain = args.drain if args.drain is not None else poll + 2.0
    _, client_default = system.default_cpu_split()
    return LoadOptions(
        url=url, clients=args.clients, trucks=trucks, trucks_per_client=args.trucks_per_client, ramp=args.ramp,
        duration=args.duration, processes=args.processes, source_ips=args.source_ips,
        connect_timeout=args.connect_timeout, settle_timeout=args.settle_timeout, warmup=warmup, drain=drain,
        client_cpus=args.client_cpus if args.client_cpus is not None else client_default,
        rate=args.rate, interval=getattr(args, "interval", None) or poll, timeout=args.timeout,
    )


def _gateway_pid(args: argparse.Namespace) -> int | None:
    if args.gateway_pid:
        return args.gateway_pid
    port = urlsplit(args.url).port
    return find_pid_by_port(port) if port else None


async def run_target(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """``ws`` or ``rest`` against the gateway at ``--url``."""
    system.check_loopback_url(args.url)
    if args.drive and not args.db:
        raise ValueError("--drive needs --db (the gateway's database) to write to")
    db = parse_db_url(args.db) if args.db else None
    trucks = await resolve_trucks(args, db)
    opts = load_options(args, trucks, args.url)
    drv = driver.MySQLDriver(db) if args.drive and db else None
    label = "gateway" if kind == "ws" else "rest polling"
    return await LoadRun(kind, opts, driver=drv, server_pid=_gateway_pid(args), db=db, label=label).run()


async def run_reference(args: argparse.Namespace) -> dict[str, Any]:
    """Start the reference server, run the WebSocket clients against it, stop it."""
    trucks = await resolve_trucks(args, None)
    server_default, _ = system.default_cpu_split()
    server = reference_server(trucks, args.server_cpus if args.server_cpus is not None else server_default)
    url = await server.start()
    try:
        opts = load_options(args, trucks, url)
        drv = ReferenceDriver(url) if opts.trucks_per_client > 0 else None  # idle sockets: nothing to drive
        return await LoadRun("ws", opts, driver=drv, server_pid=server.pid, label="reference").run()
    finally:
        await server.stop()
