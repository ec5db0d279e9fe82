"""The fleet's sync worker, played against a store: sample data and a live simulator.

The motion, fuel and fault model lives in ``gateway.sim.fleet`` (pure); this module only
turns its steps into store writes. ``run_simulation`` must outlive a database outage:
a tick that fails with ``StoreUnavailable`` keeps its event rows (history, DTCs, refuels)
queued for the next tick, while the cache rows are simply superseded by the next upsert.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.core.channels import is_valid_truck_id
from gateway.sim.fleet import Fleet, FleetStep
from gateway.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
# A longer gap (the host slept, a long outage) is not driven in one straight line.
MAX_STEP_S = 300.0
# History rows kept for replay while the database is down; beyond this the oldest go.
MAX_PENDING_METRICS = 100_000
_PAGE = 500


@dataclass
class SimStats:
    """What a simulation run wrote."""

    ticks: int = 0
    rows_written: int = 0
    refuels: int = 0
    dtcs_raised: int = 0
    dtcs_cleared: int = 0
    failed_ticks: int = 0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


async def _insert_batched(store: Store, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH_ROWS):
        await store.insert_rows(table, rows[i : i + BATCH_ROWS])


async def seed_sample_fleet(
    store: Store,
    n: int,
    *,
    seed: int = 0,
    now: dt.datetime | None = None,
    history_hours: float = 24,
    history_step_s: float = 300,
) -> None:
    """Insert ``n`` sample trucks: current cache rows plus the history that led to them.

    The model is run over the past ``history_hours`` in steps of ``history_step_s``; every
    step gives one ``fuel_metrics`` row per truck, and the DTCs and refuels of that day
    are written too (DTCs cleared during the day already as ``cleared``). Trucks that
    already exist are left alone, so seeding twice does not duplicate their history.
    """
    if n <= 0:
        return
    if history_step_s <= 0:
        raise ValueError("history_step_s must be positive")
    now = now or _utcnow()
    ids = Fleet.make_ids(n)
    existing: set[str] = set()
    for i in range(0, len(ids), _PAGE):
        existing.update(await store.fetch_sensor_rows(ids[i : i + _PAGE]))
    ids = [i for i in ids if i not in existing]
    if not ids:
        return
    steps = max(1, int(history_hours * 3600 // history_step_s))
    fleet = Fleet(ids, seed, start=now - dt.timedelta(seconds=steps * history_step_s), history_interval_s=0)
    metrics: list[dict[str, Any]] = []
    dtcs: list[dict[str, Any]] = []
    active: dict[tuple[str, str], dict[str, Any]] = {}
    refuels: list[dict[str, Any]] = []
    step = FleetStep()
    for k in range(steps - 1, -1, -1):
        at = now - dt.timedelta(seconds=k * history_step_s)
        step = fleet.step(at, history_step_s)
        metrics.extend(step.fuel_metrics)
        refuels.extend(step.refuel_events)
        for row in step.dtc_events:
            dtcs.append(row)
            active[(row["truck_id"], row["dtc_code"])] = row
        # The rows are still in memory, so a clear is applied to them instead of by id later.
        for key in step.dtc_clears:
            row = active.pop(key, None)
            if row is not None:
                row["status"], row["cleared_at"] = "cleared", at
        if k == 0:
            # The first sample truck (the one every example names) always has a refuel and an
            # active critical DTC, so the documented REST calls return data.
            extra = fleet.showcase(ids[0], at)
            step.sensor_rows = fleet.step(at, 0).sensor_rows
            refuels.extend(extra.refuel_events)
            dtcs.extend(extra.dtc_events)
        if len(metrics) >= BATCH_ROWS:
            await _insert_batched(store, "fuel_metrics", metrics)
            metrics = []
    await _insert_batched(store, "fuel_metrics", metrics)
    await _insert_batched(store, "dtc_events", dtcs)
    await _insert_batched(store, "refuel_events", refuels)
    # The cache rows last: a truck appears only once its history is in place.
    for i in range(0, len(step.sensor_rows), BATCH_ROWS):
        await store.upsert_sensor_rows(step.sensor_rows[i : i + BATCH_ROWS])
    log.info("seeded %d trucks, %d history rows, %d DTCs, %d refuels", len(ids), steps * len(ids), len(dtcs),
             len(refuels))


async def _existing_ids(store: Store) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    while True:
        page = await store.list_trucks(after, _PAGE)
        ids.extend(r["truck_id"] for r in page)
        if len(page) < _PAGE:
            return ids
        after = page[-1]["truck_id"]


async def _build_fleet(
    store: Store, truck_ids: Sequence[str] | None, n: int, seed: int, now: dt.datetime, history_interval: float,
) -> Fleet:
    """A fleet that continues the stored trucks where they are, topped up to ``n`` new ones."""
    if truck_ids is None:
        # Ids another writer made that the gateway would reject anyway are not driven.
        ids = [i for i in await _existing_ids(store) if is_valid_truck_id(i)]
        if len(ids) < n:
            ids += Fleet.make_ids(n - len(ids), exclude=ids)
    else:
        ids = list(truck_ids)
    fleet = Fleet([], seed, start=now, history_interval_s=history_interval)
    for i in range(0, len(ids), _PAGE):
        chunk = ids[i : i + _PAGE]
        rows = await store.fetch_sensor_rows(chunk)
        for truck_id in chunk:
            row = rows.get(truck_id)
            if row is None:
                fleet.add(truck_id)
                continue
            codes: list[str] = []
            if row.get("active_dtc_count"):
                events = await store.dtc_events(truck_id, ["active"], None, None, 50)
                codes = [e["dtc_code"] for e in events]
            fleet.restore(row, codes)
    return fleet


@dataclass
class _Pending:
    """Event rows not yet written, in the order they must be written."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    dtcs: list[dict[str, Any]] = field(default_factory=list)
    refuels: list[dict[str, Any]] = field(default_factory=list)
    clears: list[tuple[str, str, dt.datetime]] = field(default_factory=list)

    def add(self, step: FleetStep, now: dt.datetime) -> None:
        self.metrics.extend(step.fuel_metrics)
        if len(self.metrics) > MAX_PENDING_METRICS:
            del self.metrics[: len(self.metrics) - MAX_PENDING_METRICS]
        self.dtcs.extend(step.dtc_events)
        self.refuels.extend(step.refuel_events)
        self.clears.extend((truck_id, code, now) for truck_id, code in step.dtc_clears)


async def _write_tick(store: Store, sensor_rows: list[dict[str, Any]], pending: _Pending, stats: SimStats) -> None:
    """Write one tick; each part leaves ``pending`` only once it is written."""
    await store.upsert_sensor_rows(sensor_rows)
    stats.rows_written += len(sensor_rows)
    while pending.metrics:
        batch = pending.metrics[:BATCH_ROWS]
        await store.insert_rows("fuel_metrics", batch)
        del pending.metrics[: len(batch)]
        stats.rows_written += len(batch)
    # DTC rows go in before the clears are resolved, so a clear always finds its event.
    if pending.dtcs:
        await _insert_batched(store, "dtc_events", pending.dtcs)
        stats.rows_written += len(pending.dtcs)
        stats.dtcs_raised += len(pending.dtcs)
        pending.dtcs = []
    if pending.refuels:
        await _insert_batched(store, "refuel_events", pending.refuels)
        stats.rows_written += len(pending.refuels)
        stats.refuels += len(pending.refuels)
        pending.refuels = []
    by_truck: dict[str, list[tuple[str, dt.datetime]]] = defaultdict(list)
    for truck_id, code, at in pending.clears:
        by_truck[truck_id].append((code, at))
    for truck_id, clears in by_truck.items():
        events = await store.dtc_events(truck_id, ["active"], None, None, 50)
        for code, at in clears:
            ids = [e["id"] for e in events if e["dtc_code"] == code]
            if ids:
                await store.clear_dtcs(ids, at)
                stats.dtcs_cleared += 1
        pending.clears = [c for c in pending.clears if c[0] != truck_id]


async def run_simulation(
    store: Store,
    truck_ids: Sequence[str] | None,
    n: int,
    rate: float,
    *,
    duration: float | None,
    stop: asyncio.Event,
    seed: int = 0,
    max_ticks: int | None = None,
    history_interval: float = 60.0,
) -> SimStats:
    """Drive the fleet in real time until ``stop`` is set, ``duration`` seconds pass or ``max_ticks`` ran.

    Each tick (``rate`` per second) advances the model by the wall-clock time since the
    last one and writes one upsert of every truck's cache row, their ``fuel_metrics``
    rows and any DTC and refuel events. With ``truck_ids`` None the stored trucks are
    driven from their current rows, and fresh trucks are added up to ``n``. Each truck appends
    a ``fuel_metrics`` row every ``history_interval`` seconds (0: every tick). A database
    outage costs log lines, not the simulator: writes resume when it is back.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    started = next_tick = loop.time()
    stats = SimStats()
    pending = _Pending()
    fleet: Fleet | None = None
    down_since: float | None = None
    last_logged = 0.0

    def finished() -> bool:
        return (
            stop.is_set()
            or (duration is not None and loop.time() - started >= duration)
            or (max_ticks is not None and stats.ticks >= max_ticks)
        )

    while not finished():
        try:
            if fleet is None:
                fleet = await _build_fleet(store, truck_ids, n, seed, _utcnow(), history_interval)
                log.info("simulating %d trucks at %g updates/s", len(fleet.trucks), rate)
            # Times must move forward even if the wall clock steps back or ticks come very close.
            now = max(_utcnow(), fleet.now + dt.timedelta(milliseconds=1))
            step = fleet.step(now, min((now - fleet.now).total_seconds(), MAX_STEP_S))
            stats.ticks += 1
            pending.add(step, now)
            await _write_tick(store, step.sensor_rows, pending, stats)
            if down_since is not None:
                log.info("simulate: database back after %.1f s", loop.time() - down_since)
                down_since = None
        except StoreUnavailable as exc:
            stats.failed_ticks += 1
            if down_since is None:
                down_since = loop.time()
            # One line per failure, but not one per tick through a long outage.
            if stats.failed_ticks == 1 or loop.time() - last_logged >= 10:
                last_logged = loop.time()
                log.warning("simulate: database unavailable, retrying next tick: %s", exc)
        if finished():
            break
        next_tick += interval
        delay = next_tick - loop.time()
        if delay < 0:  # behind schedule (slow writes): skip ahead rather than burst
            next_tick, delay = loop.time(), 0.0
        if duration is not None:
            delay = min(delay, max(0.0, started + duration - loop.time()))
        with contextlib.suppress(TimeoutError):  # the normal case: stop was not set meanwhile
            await asyncio.wait_for(stop.wait(), delay)
    return stats
