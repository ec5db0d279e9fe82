"""``failover``: SIGKILL the process reading a watched truck, again and again, and time the takeover.

A cluster of ``--servers`` gateway processes (own ports, one broker prefix) each has one
WebSocket client watching the same truck, so every process is interested and exactly one
holds the truck's lease. Each round:

1. wait until the cluster is steady: every client on the same epoch, one lease held;
2. wait a random part of one TTL (so kills fall anywhere in the lease-renewal cycle, not
   always just after a renewal), then find the holder from each process's ``/metrics``
   (``gateway_leases_held``);
3. SIGKILL it (it is our own child) and note the time;
4. time until every client on the other processes has received a snapshot of a new epoch
   (the new reader's first frame): the failover time of the round is the slowest of them;
5. check that none of those clients' sockets closed, then start a replacement process
   with its own client, so the next round has as many processes again.

Every wait is bounded (``--round-timeout``, and the whole run by ``--timeout``); every
process started is stopped, killed ones are reaped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from loadtest import machine
from loadtest.brokerprefix import scratch_prefix
from loadtest.fleetdb import scratch_database
from loadtest.modes import resolve_trucks
from loadtest.promscrape import scrape
from loadtest.runner import ws_url
from loadtest.servers import ServerProcess, gateway_server


@dataclass
class Watcher:
    """One client of one process, watching one truck: the epochs it saw and when."""

    url: str
    channel: str
    epoch: str | None = None
    snapshots: list[tuple[float, str]] = field(default_factory=list)  # (arrival, epoch)
    close_code: int | None = None
    closed: bool = False
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _task: asyncio.Task | None = None

    async def start(self, session: aiohttp.ClientSession, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            self._ws = await session.ws_connect(ws_url(self.url), heartbeat=None, compress=0, max_msg_size=0)
            await self._ws.send_str(orjson.dumps({"op": "subscribe", "id": 1, "channels": [self.channel]}).decode())
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = orjson.loads(msg.data)
            if frame.get("channel") != self.channel:
                continue
            if frame.get("type") == "snapshot":
                self.snapshots.append((time.time(), frame.get("epoch")))
            if frame.get("epoch"):
                self.epoch = frame["epoch"]
        self.closed = True
        self.close_code = self._ws.close_code

    def new_epoch_after(self, since: float, old: str | None) -> float | None:
        """Arrival time of the first snapshot of an epoch other than ``old`` received after ``since``."""
        for at, epoch in self.snapshots:
            if at >= since and epoch != old:
                return at
        return None

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def distribution(values: list[float]) -> dict[str, Any]:
    """min / p50 / p95 / max (nearest rank) and the mean of ``values`` in seconds."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]

    return {"count": len(ordered), "min_s": round(ordered[0], 3), "p50_s": round(rank(50), 3),
            "p95_s": round(rank(95), 3), "max_s": round(ordered[-1], 3),
            "mean_s": round(sum(ordered) / len(ordered), 3)}


async def _poll(check, deadline: float, every: float = 0.02) -> Any:
    """``check()`` until it returns something other than None, or the deadline passes (then None)."""
    while time.time() < deadline:
        value = await check() if asyncio.iscoroutinefunction(check) else check()
        if value is not None:
            return value
        await asyncio.sleep(every)
    return None


class Failover:
    """The processes, their clients, and the rounds measured."""

    def __init__(self, args: argparse.Namespace, db_url: str, prefix: str, truck: str) -> None:
        self.args = args
        self.db_url = db_url
        self.channel = f"truck:{truck}"
        self.extra = [*args.gateway_arg, "--broker", args.broker, "--broker-prefix", prefix,
                      "--lease-ttl", str(args.lease_ttl)]
        self.nodes: list[tuple[ServerProcess, Watcher]] = []
        self.rounds: list[dict[str, Any]] = []
        self.session: aiohttp.ClientSession | None = None
        self.rng = random.Random(args.seed)

    async def add_node(self) -> None:
        server = gateway_server(self.db_url, self.args.poll_interval, self.args.server_cpus, self.extra)
        self.nodes.append((server, Watcher("", self.channel)))  # listed first: stopped whatever happens next
        url = await server.start()
        watcher = Watcher(url, self.channel)
        self.nodes[-1] = (server, watcher)
        assert self.session is not None
        await watcher.start(self.session, self.args.round_timeout)

    async def leases(self) -> list[float]:
        assert self.session is not None
        found = []
        for server, _ in self.nodes:
            metrics = await scrape(self.session, server.url)
            found.append(metrics.get("gateway_leases_held", -1.0))
        return found

    async def steady(self) -> int | None:
        """The index of the one holder once every client is on one epoch, else None."""
        epochs = {w.epoch for _, w in self.nodes}
        if len(epochs) != 1 or None in epochs:
            return None
        held = await self.leases()
        holders = [i for i, n in enumerate(held) if n >= 1]
        return holders[0] if len(holders) == 1 and sum(held) == 1 else None

    async def round(self, index: int) -> dict[str, Any]:
        deadline = time.time() + self.args.round_timeout
        if await _poll(self.steady, deadline, every=0.05) is None:
            return {"round": index, "error": "cluster not steady (one epoch, one holder) in time"}
        await asyncio.sleep(self.rng.uniform(0, self.args.lease_ttl))
        holder = await _poll(self.steady, deadline, every=0.05)
        if holder is None:
            return {"round": index, "error": "cluster not steady (one epoch, one holder) in time"}
        victim, victim_watcher = self.nodes.pop(holder)
        old_epoch = self.nodes[0][1].epoch
        killed_at = time.time()
        assert victim.proc is not None
        victim.proc.kill()
        await victim.stop()  # reaps it (already dead: returns at once)
        await victim_watcher.close()
        with contextlib.suppress(OSError):
            os.unlink(victim.log_path)  # a SIGKILLed process's log holds nothing of interest
        times: list[float | None] = []
        for _, watcher in self.nodes:
            at = await _poll(lambda w=watcher: w.new_epoch_after(killed_at, old_epoch),
                             killed_at + self.args.round_timeout)
            times.append(round(at - killed_at, 3) if at else None)
        closed = sum(1 for _, w in self.nodes if w.closed)
        result: dict[str, Any] = {"round": index, "victim_pid": victim.pid, "survivor_times_s": times,
                                  "sockets_closed": closed}
        if all(t is not None for t in times):
            result["failover_s"] = max(t for t in times if t is not None)
        else:
            result["error"] = "a survivor got no new epoch in time"
        await self.add_node()
        return result

    async def final_state(self) -> list[dict[str, float]]:
        """Each process's leases and, with ``--changes binlog``, whether it follows the binlog
        (and has received events from it): the evidence of which source the run used."""
        assert self.session is not None
        await _poll(self.steady, time.time() + self.args.round_timeout, every=0.05)
        out = []
        for server, _ in self.nodes:
            metrics = await scrape(self.session, server.url)
            out.append({"leases_held": metrics.get("gateway_leases_held", -1.0),
                        "binlog_leader": metrics.get("gateway_binlog_leader", 0.0),
                        "binlog_events": metrics.get("gateway_binlog_events_total", 0.0)})
        return out

    async def close(self) -> None:
        for server, watcher in self.nodes:
            await watcher.close()
            await server.stop()
        if self.session is not None:
            await self.session.close()


async def run_failover(args: argparse.Namespace) -> dict[str, Any]:
    """``--kills`` rounds of SIGKILL on the holder; the takeover times against 2 x TTL."""
    if args.server_cpus is None:
        args.server_cpus = ""  # several small processes: let the kernel place them
    trucks = await resolve_trucks(args, None)
    started = time.time()
    final: list[dict[str, float]] = []
    async with scratch_database(args.db_server, trucks) as db_url, scratch_prefix(args.broker) as prefix:
        run = Failover(args, db_url, prefix, trucks[0])
        run.session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(args.timeout):
                for _ in range(args.servers):
                    await run.add_node()
                for index in range(args.kills):
                    result = await run.round(index)
                    run.rounds.append(result)
                    print(f"failover: round {index + 1}/{args.kills}: {result.get('failover_s', result.get('error'))}",
                          file=sys.stderr, flush=True)
                final = await run.final_state()
        except TimeoutError:
            run.rounds.append({"error": f"run stopped at --timeout {args.timeout} s"})
        finally:
            await run.close()
    times = [r["failover_s"] for r in run.rounds if "failover_s" in r]
    bound = 2 * args.lease_ttl
    return {
        "mode": "failover", "label": "failover", "machine": machine.describe(),
        "broker_prefix": run.extra[run.extra.index("--broker-prefix") + 1],
        "config": {"servers": args.servers, "kills": args.kills, "lease_ttl_s": args.lease_ttl, "seed": args.seed,
                   "poll_interval_s": args.poll_interval, "broker": args.broker, "server_cpus": args.server_cpus,
                   "db_server": args.db_server, "gateway_args": list(args.gateway_arg)},
        "seconds": round(time.time() - started, 1),
        "failover": {**distribution(times), "bound_s": bound, "within_bound": sum(1 for t in times if t <= bound),
                     "failed_rounds": sum(1 for r in run.rounds if "error" in r),
                     "sockets_closed": sum(r.get("sockets_closed", 0) for r in run.rounds)},
        "final": final,
        "rounds": run.rounds,
    }
