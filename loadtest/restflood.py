"""A REST flood against a live gateway, and what one WebSocket subscriber sees meanwhile.

    python -m loadtest.restflood --db-server mysql://root@127.0.0.1:3306 --clients 50 --duration 30

It builds a scratch database (``gateway initdb``, then ``--rows`` ``fuel_metrics`` rows of one
"heavy" truck in the last day), starts ``python -m gateway serve`` from the current directory
(so running it from an older checkout measures that code), subscribes one socket to another
truck whose row it rewrites every ``--write-interval`` seconds, and lets ``--clients`` loops
fetch ``/history?limit=--limit`` of the heavy truck as fast as they are answered. With
``--lock`` the ``fuel_metrics`` table is write-locked for the whole flood (every page query
hangs until the gateway's query timeout).

It reports the subscriber's gaps between two diffs (p50, p99, max: ideally one poll
interval), the status frames it got (``degraded`` means a REST flood was taken for an
outage), and the REST answers by status with their latency. Everything is bounded: the
duration, ``--max-requests``, loopback only; the gateway is stopped by its pid and the
scratch database dropped. One JSON object goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import pymysql

HEAVY, WATCHED = "HEAVY-1", "WATCHED-1"
_STOP_TIMEOUT_S = 15


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _connect(server: str, database: str | None = None) -> pymysql.connections.Connection:
    parts = urlsplit(server)
    return pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "", database=database, autocommit=True)


def make_database(server: str, rows: int) -> str:
    """A scratch database with the schema, two trucks and ``rows`` history rows of the heavy one."""
    name = f"lt_flood_{uuid.uuid4().hex[:10]}"
    with _connect(server) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = f"{server.rstrip('/')}/{name}"
    import subprocess

    subprocess.run([sys.executable, "-m", "gateway", "initdb", "--db", url], check=True, capture_output=True)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with _connect(server, name) as conn, conn.cursor() as cur:
        for truck in (HEAVY, WATCHED):
            cur.execute("INSERT INTO truck_sensors_cache (truck_id, `timestamp`, updated_at, rpm, speed_mph) "
                        "VALUES (%s, %s, %s, 1200, 55.5)", (truck, now, now))
        rng = random.Random(7)
        batch = [(HEAVY, now - dt.timedelta(seconds=17 * i), "driving", round(rng.uniform(0, 70), 2),
                  rng.randint(600, 2100), round(rng.uniform(5, 100), 2), round(rng.uniform(10, 200), 2),
                  round(rng.uniform(20, 60), 2), round(rng.uniform(180, 240), 2), round(rng.uniform(170, 220), 2),
                  round(rng.uniform(0, 100), 2), round(rng.uniform(12, 14.5), 2), round(rng.uniform(25, 48), 6),
                  round(rng.uniform(-120, -75), 6), round(rng.uniform(1e5, 9e5), 1), round(rng.uniform(1e3, 4e4), 1))
                 for i in range(rows)]
        cur.executemany(
            "INSERT INTO fuel_metrics (truck_id, timestamp_utc, engine_state, speed_mph, rpm, fuel_level_pct, "
            "estimated_gallons, oil_pressure_psi, oil_temp_f, coolant_temp_f, engine_load_pct, battery_voltage, "
            "latitude, longitude, odometer_mi, engine_hours) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", batch)
    return name


def drop_database(server: str, name: str) -> None:
    with _connect(server) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


async def start_gateway(url: str, poll_interval: float, cpus: set[int] | None,
                        extra: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", "--db", url, "--host", "127.0.0.1", "--port", "0",
        "--poll-interval", str(poll_interval), "--log-level", "ERROR", *extra,
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL, preexec_fn=pin)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"gateway did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


async def stop_gateway(proc: asyncio.subprocess.Process) -> int | None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode


async def subscriber(session: aiohttp.ClientSession, base: str, until: float, out: dict[str, Any]) -> None:
    """Record the arrival time of every diff and every status frame of the watched truck."""
    async with session.ws_connect(base + "/v1/ws") as ws:
        await ws.send_str(orjson.dumps({"op": "subscribe", "id": 1, "channels": [f"truck:{WATCHED}"]}).decode())
        loop = asyncio.get_running_loop()
        while (left := until - loop.time()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                break
            if msg.type is not aiohttp.WSMsgType.TEXT:
                out["closed"] = True
                break
            frame = orjson.loads(msg.data)
            if frame["type"] == "diff":
                out["diffs"].append(loop.time())
            elif frame["type"] == "status":
                out["statuses"].append(frame["state"])


async def writer(database: str, server: str, interval: float, until: float) -> int:
    """Rewrite the watched row every ``interval`` s, from a thread (the driver is blocking)."""
    def run() -> int:
        writes = 0
        with _connect(server, database) as conn, conn.cursor() as cur:
            while time.monotonic() < until:
                cur.execute("UPDATE truck_sensors_cache SET rpm = %s, `timestamp` = UTC_TIMESTAMP(6) "
                            "WHERE truck_id = %s", (1000 + writes % 1000, WATCHED))
                writes += 1
                time.sleep(interval)
        return writes

    return await asyncio.to_thread(run)


async def flood(session: aiohttp.ClientSession, base: str, clients: int, limit: int, until: float,
                max_requests: int) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    sizes: list[int] = []
    sent = 0
    loop = asyncio.get_running_loop()
    url = f"{base}/v1/trucks/{HEAVY}/history?limit={limit}"

    async def one() -> None:
        nonlocal sent
        while loop.time() < until and sent < max_requests:
            sent += 1
            started = loop.time()
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=max(1.0, until - started + 5))) as r:
                    body = await r.read()
                    key = str(r.status)
                    if r.status == 200:
                        sizes.append(len(body))
                    if r.status >= 400:
                        key += " " + r.headers.get("Content-Type", "").split(";")[0].split("/")[-1]
                        with contextlib.suppress(Exception):
                            key = f"{r.status} {orjson.loads(body)['error']['code']}"
                    statuses[key] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1
            latencies.append(loop.time() - started)

    await asyncio.gather(*(one() for _ in range(clients)))
    return {"requests": sent, "statuses": dict(statuses), "page_bytes": max(sizes, default=0),
            "latency_p50_s": percentile(latencies, 50),
            "latency_p99_s": percentile(latencies, 99)}


async def measure(opts: argparse.Namespace, database: str) -> dict[str, Any]:
    url = f"{opts.db_server.rstrip('/')}/{database}"
    cpus = {0} if opts.pin and (os.cpu_count() or 1) >= 2 else None
    if cpus:
        os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))  # clients off the gateway's core
    proc, base = await start_gateway(url, opts.poll_interval, cpus, opts.gateway_arg)
    lock = None
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            loop = asyncio.get_running_loop()
            seen: dict[str, Any] = {"diffs": [], "statuses": [], "closed": False}
            warm_until = loop.time() + opts.duration + opts.warmup
            watching = asyncio.create_task(subscriber(session, base, warm_until, seen))
            writing = asyncio.create_task(writer(database, opts.db_server, opts.write_interval,
                                                 time.monotonic() + opts.duration + opts.warmup))
            await asyncio.sleep(opts.warmup)  # the snapshot and a few quiet diffs first
            quiet = len(seen["diffs"])
            if opts.lock:
                lock = _connect(opts.db_server, database)
                with lock.cursor() as cur:
                    cur.execute("LOCK TABLES fuel_metrics WRITE")
            flood_started = loop.time()
            rest = await flood(session, base, opts.clients, opts.limit, flood_started + opts.duration,
                               opts.max_requests)
            await watching
            writes = await writing
    finally:
        if lock is not None:
            with lock.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            lock.close()
        code = await stop_gateway(proc)
    during = [t for t in seen["diffs"] if t >= flood_started]
    stamps = [flood_started, *during]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "gateway": os.getcwd(), "clients": opts.clients, "limit": opts.limit, "duration_s": opts.duration,
        "poll_interval_s": opts.poll_interval, "lock": opts.lock, "gateway_args": opts.gateway_arg,
        "subscriber": {"diffs_before_flood": quiet, "diffs_during_flood": len(during),
                       "gap_p50_s": percentile(gaps, 50), "gap_p99_s": percentile(gaps, 99),
                       "gap_max_s": max(gaps) if gaps else None, "statuses": seen["statuses"],
                       "closed": seen["closed"]},
        "rest": rest, "writes": writes, "gateway_exit": code,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.restflood", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-server", default="mysql://root@127.0.0.1:3306", help="MariaDB server (no database)")
    parser.add_argument("--clients", type=int, default=50, help="parallel REST loops")
    parser.add_argument("--limit", type=int, default=5000, help="rows per history page")
    parser.add_argument("--rows", type=int, default=5000, help="history rows of the heavy truck")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of flood")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of quiet subscription first")
    parser.add_argument("--max-requests", type=int, default=20_000, help="REST requests at most")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--write-interval", type=float, default=0.1, help="seconds between two writes of the row")
    parser.add_argument("--lock", action="store_true", help="write-lock fuel_metrics during the flood")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin the gateway to CPU 0")
    parser.add_argument("--gateway-arg", action="append", default=[], help="extra argument for gateway serve")
    opts = parser.parse_args(argv)
    host = urlsplit(opts.db_server).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only a database on this machine (127.0.0.1) is allowed")
    if not (0 < opts.duration <= 300 and 1 <= opts.clients <= 500):
        parser.error("--duration must be in (0, 300] and --clients in [1, 500]")
    database = make_database(opts.db_server, opts.rows)
    try:
        report = asyncio.run(measure(opts, database))
    finally:
        drop_database(opts.db_server, database)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
