"""Measure (not assert) commit-to-callback latency and per-row cost of the binlog reader.

Run: ``python -m tests.changes.measure_latency [--commits N] [--rate R]``. It starts its own
private MariaDB (binlog on), so it touches nothing shared. Printed:

- latency from the client's COMMIT returning (and from it being sent) to ``on_batch``
  running in the event loop, for N single-row commits paced at R per second;
- reader CPU per row for a burst of multi-row updates, with every truck wanted and with
  only 1 % wanted (the cost of an unwatched truck's row).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

from gateway.changes import Batch, BinlogReader, ConnParams, current_position
from gateway.store.sql import schema_statements
from tests.support.private_mariadb import PrivateMariaDB

TRUCKS = 1000


def _quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (f"p50 {statistics.median(ordered) * 1e3:.2f} ms  p95 {pick(0.95) * 1e3:.2f} ms  "
            f"p99 {pick(0.99) * 1e3:.2f} ms  max {ordered[-1] * 1e3:.2f} ms  (n={len(ordered)})")


def _setup(server: PrivateMariaDB) -> None:
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE fleet CHARACTER SET utf8mb4")
        cur.execute("USE fleet")
        for statement in schema_statements("mysql"):
            cur.execute(statement)
        cur.executemany(
            "INSERT INTO truck_sensors_cache (truck_id, `timestamp`, rpm, speed_mph, fuel_level_pct, updated_at) "
            "VALUES (%s, NOW(6), 0, 50.5, 70.25, NOW(6))", [(f"T-{n:04d}",) for n in range(TRUCKS)])
    conn.close()


async def _latency(server: PrivateMariaDB, params: ConnParams, commits: int, rate: float) -> None:
    received: dict[int, float] = {}
    done = asyncio.Event()

    def on_batch(batch: Batch) -> None:
        now = time.perf_counter()
        for change in batch.changes:
            received[change.row["rpm"]] = now
        if len(received) >= commits:
            done.set()

    reader = BinlogReader(params, "fleet", 77, await current_position(params), on_batch, lambda s, d: None)
    reader.start()
    sent: dict[int, float] = {}
    acked: dict[int, float] = {}

    def write() -> None:
        conn = server.connect("fleet")
        with conn.cursor() as cur:
            for n in range(1, commits + 1):
                sent[n] = time.perf_counter()
                cur.execute("UPDATE truck_sensors_cache SET rpm = %s WHERE truck_id = %s", (n, f"T-{n % TRUCKS:04d}"))
                acked[n] = time.perf_counter()
                time.sleep(1 / rate)  # pacing the writer, not waiting for a condition
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    await asyncio.wait_for(done.wait(), 60)
    writer.join()
    await reader.stop()
    print(f"commit returned -> on_batch: {_quantiles([received[n] - acked[n] for n in acked])}")
    print(f"commit sent     -> on_batch: {_quantiles([received[n] - sent[n] for n in sent])}")


async def _row_cost(server: PrivateMariaDB, params: ConnParams, rounds: int, share: float) -> float:
    wanted_ids = {f"T-{n:04d}" for n in range(int(TRUCKS * share))}
    rows = 0
    done = asyncio.Event()
    reader: BinlogReader | None = None

    def on_batch(batch: Batch) -> None:
        if batch.changes and batch.changes[-1].key == "T-0000" and batch.changes[-1].row["rpm"] == -1:
            done.set()

    reader = BinlogReader(params, "fleet", 78, await current_position(params), on_batch, lambda s, d: None,
                          wanted=wanted_ids.__contains__)
    conn = server.connect("fleet")
    with conn.cursor() as cur:
        for n in range(rounds):  # written before the reader starts: it reads them flat out
            cur.execute("UPDATE truck_sensors_cache SET rpm = %s", (n + 1,))
            rows += TRUCKS
        cur.execute("UPDATE truck_sensors_cache SET rpm = -1 WHERE truck_id = 'T-0000'")
    conn.close()
    began_cpu = time.process_time()
    reader.start()
    await asyncio.wait_for(done.wait(), 120)
    cpu = time.process_time() - began_cpu
    await reader.stop()
    c = reader.counters
    print(f"wanted {share:>5.0%}: {rows} rows, decoded {c.rows_decoded}, skipped {c.rows_skipped}: "
          f"{cpu / rows * 1e6:.1f} us CPU per row (process, reader + loop)")
    return cpu / rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with PrivateMariaDB() as server:
        _setup(server)
        params = ConnParams(host=server.host, port=server.port)
        await _latency(server, params, args.commits, args.rate)
        await _row_cost(server, params, args.rounds, 1.0)
        await _row_cost(server, params, args.rounds, 0.01)


if __name__ == "__main__":
    asyncio.run(main())
