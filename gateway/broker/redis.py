"""``Broker`` on Redis: Lua scripts for leases, interest and publish; a Pub/Sub relay.

Commands go through ``RedisCommands`` (one pool, every call one bounded, counted round
trip); the relay has its own small pool and task (``RedisRelay``). ``up`` is the last
known health of both: a failed command or a lost relay makes it False, a successful
command or a relay (re)connection makes it True again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from gateway.broker.base import (
    DEFAULT_KEEP_MS,
    DEFAULT_RING,
    BrokerUnavailable,
    ChannelState,
    RelayHandler,
    history_tail,
)
from gateway.broker.commands import RedisCommands, make_pool
from gateway.broker.keys import DEFAULT_PREFIX, KeyLayout
from gateway.broker.relay import RedisRelay
from gateway.broker.wire import check_epoch, snapshot_payload
from gateway.core.channels import CHANNEL_PREFIX

log = logging.getLogger(__name__)


class RedisBroker:
    """One node of a cluster sharing a Redis URL and key prefix."""

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        node_id: str | None = None,
        handler: RelayHandler | None = None,
        ring_size: int = DEFAULT_RING,
        keep_ms: int = DEFAULT_KEEP_MS,
        timeout: float = 2.0,
        max_connections: int = 16,
        ping_interval: float = 1.0,
        dead_after: float = 3.0,
        health_check_interval: float = 5.0,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        connection_class: type[Connection] = Connection,
    ) -> None:
        self.keys = KeyLayout(prefix)
        self.node_id = node_id or uuid.uuid4().hex
        if "|" in self.node_id:
            raise ValueError("node_id must not contain '|'")
        self._url = url
        self._handler = handler
        self._ring = ring_size
        self._keep = keep_ms
        self._timeout = timeout
        self._relay_opts = {"ping_interval": ping_interval, "dead_after": dead_after,
                            "backoff_base": backoff_base, "backoff_cap": backoff_cap}
        # One redis-py retry reconnects a pooled connection the server closed (a restart);
        # `timeout` still bounds the whole call.
        self._cmd = RedisCommands(
            make_pool(url, timeout, max_connections, health_check_interval, 1, connection_class), timeout
        )
        self._relay: RedisRelay | None = None
        self._started = False
        self.published = self.received = self.gap_fills = self.resyncs = 0

    # --- life cycle ------------------------------------------------------------------

    @property
    def up(self) -> bool:
        """False after a failed call or while the relay is reconnecting."""
        return self._cmd.up and self._relay is not None and self._relay.up

    @property
    def reconnects(self) -> int:
        """How many times the relay connection came back after a loss."""
        return self._relay.reconnects if self._relay is not None else 0

    @property
    def round_trips(self) -> int:
        """Round trips made (commands, scripts, pipelines, relay (un)subscribes)."""
        return self._cmd.round_trips

    @property
    def observe_rtt(self) -> Callable[[float], None] | None:
        """Called with the seconds each successful command round trip took."""
        return self._cmd.observe_rtt

    @observe_rtt.setter
    def observe_rtt(self, hook: Callable[[float], None] | None) -> None:
        self._cmd.observe_rtt = hook

    def set_handler(self, handler: RelayHandler | None) -> None:
        """Set who receives relayed frames and reconnect notices."""
        self._handler = handler

    async def start(self) -> None:
        """Load the scripts and start the relay; never fails because Redis is down."""
        self._started = True
        # The relay's pool: its own connection, no redis-py retries (the relay reconnects
        # itself and must see every loss), health checks at the relay's ping interval.
        relay_pool = make_pool(self._url, self._timeout, 2, self._relay_opts["ping_interval"], 0)
        self._relay = RedisRelay(
            relay_pool, self.keys, self.node_id, self._deliver, self._on_reconnect, self._on_relay_up,
            timeout=self._timeout, **self._relay_opts,
        )
        try:
            await self._cmd.load_scripts()
        except BrokerUnavailable as exc:
            log.warning("broker not reachable at start: %s", exc)
        await self._relay.start()

    async def close(self) -> None:
        """Stop the relay and close every connection; bounded in time."""
        self._started = False
        relay, self._relay = self._relay, None
        if relay is not None:
            await relay.close()
        await self._cmd.close()

    def _on_relay_up(self) -> None:
        # The relay reaching the server is as good a health proof as a command.
        self._cmd.up = True

    def _on_reconnect(self) -> None:
        if self._handler is not None:
            self._handler.on_reconnect()

    def _deliver(self, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        if self._handler is None:
            return
        self.received += 1
        try:
            self._handler.on_message(truck, kind, epoch, seq, payload)
        except Exception:
            log.exception("relay handler failed on %s", truck)

    async def _round_trip(self, call: Callable[[Redis], Any]) -> Any:
        if not self._started:
            raise BrokerUnavailable("broker is not started")
        return await self._cmd.round_trip(call)

    async def _eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if not self._started:
            raise BrokerUnavailable("broker is not started")
        return await self._cmd.eval(name, keys, args)

    def _lease_value(self, token: int) -> str:
        return f"{self.node_id}|{int(token)}"

    # --- leases ----------------------------------------------------------------------

    async def ping(self) -> None:
        await self._round_trip(lambda client: client.ping())

    async def acquire(self, trucks: Sequence[str], ttl_ms: int) -> dict[str, int]:
        """Take the free leases among ``trucks`` (keep ours); return trucks held with their token."""
        trucks = list(dict.fromkeys(trucks))
        if not trucks:
            return {}
        keys = [k for t in trucks for k in (self.keys.lease(t), self.keys.fence(t))]
        out = await self._eval("acquire", keys, [self.node_id, int(ttl_ms), self._keep])
        return {trucks[int(out[i]) - 1]: int(out[i + 1]) for i in range(0, len(out), 2)}

    async def renew(self, leases: Mapping[str, int], ttl_ms: int) -> set[str]:
        """Extend the leases still ours with the same token; return those trucks."""
        trucks = list(leases)
        if not trucks:
            return set()
        keys = [k for t in trucks
                for k in (self.keys.lease(t), self.keys.state(t), self.keys.hist(t), self.keys.fence(t))]
        args = [self.node_id, int(ttl_ms), self._keep, *(int(leases[t]) for t in trucks)]
        out = await self._eval("renew", keys, args)
        return {trucks[int(i) - 1] for i in out}

    async def release(self, leases: Mapping[str, int]) -> None:
        """Delete the leases that are still ours."""
        trucks = list(leases)
        if trucks:
            keys = [self.keys.lease(t) for t in trucks]
            await self._eval("release", keys, [self.node_id, *(int(leases[t]) for t in trucks)])

    async def holder(self, truck: str) -> str | None:
        """The node id holding the truck's lease, or None."""
        value = await self._round_trip(lambda c: c.get(self.keys.lease(truck)))
        return None if value is None else value.decode().partition("|")[0]

    # --- interest --------------------------------------------------------------------

    async def refresh_interest(self, trucks: Sequence[str], ttl_ms: int) -> None:
        """Record this node's interest in ``trucks`` until now + ``ttl_ms`` (server clock)."""
        if trucks:
            keys = [*(self.keys.interest(t) for t in trucks), self.keys.watched()]
            await self._eval("refresh_interest", keys, [self.node_id, int(ttl_ms), *trucks])

    async def drop_interest(self, trucks: Sequence[str]) -> None:
        """Withdraw this node's interest in ``trucks``."""
        if trucks:
            keys = [*(self.keys.interest(t) for t in trucks), self.keys.watched()]
            await self._eval("drop_interest", keys, [self.node_id, *trucks])

    async def interested(self, trucks: Sequence[str]) -> set[str]:
        """The trucks among ``trucks`` with live interest from any node."""
        trucks = list(trucks)
        if not trucks:
            return set()
        out = await self._eval("interested", [self.keys.interest(t) for t in trucks], [])
        return {trucks[int(i) - 1] for i in out}

    async def watched(self) -> list[str]:
        """Every truck some node has (or had until less than one TTL ago) interest in."""
        out = await self._eval("watched", [self.keys.watched()], [])
        return [t.decode() if isinstance(t, bytes) else t for t in out]

    # --- publish ---------------------------------------------------------------------

    def _publish_keys(self, truck: str) -> list[str]:
        return [self.keys.lease(truck), self.keys.state(truck), self.keys.hist(truck)]

    async def publish_snapshot(self, truck: str, token: int, epoch: str, ts: int, row_json: bytes) -> bool:
        """Start epoch ``epoch`` at seq 0 with this row, clearing history and status."""
        check_epoch(epoch)
        frame = snapshot_payload(CHANNEL_PREFIX + truck, epoch, ts, row_json)
        args = [self._lease_value(token), self.keys.channel(truck), epoch, int(ts), row_json, frame, self._keep]
        return self._count(await self._eval("publish_snapshot", self._publish_keys(truck), args))

    async def publish_diff(
        self, truck: str, token: int, epoch: str, seq: int, ts: int, diff_payload: bytes, row_json: bytes
    ) -> bool:
        """Append diff ``seq`` when the stored position is (``epoch``, ``seq`` - 1)."""
        args = [self._lease_value(token), self.keys.channel(truck), epoch, int(seq), int(ts), diff_payload,
                row_json, self._ring, self._keep]
        return self._count(await self._eval("publish_diff", self._publish_keys(truck), args))

    async def publish_status(self, truck: str, token: int, epoch: str, status_payload: bytes) -> bool:
        """Store and publish a status frame of the current epoch."""
        keys = [self.keys.lease(truck), self.keys.state(truck)]
        args = [self._lease_value(token), self.keys.channel(truck), epoch, status_payload]
        return self._count(await self._eval("publish_status", keys, args))

    def _count(self, result: Any) -> bool:
        ok = int(result) == 1
        self.published += ok
        return ok

    # --- read side -------------------------------------------------------------------

    async def latest(self, truck: str) -> ChannelState | None:
        """The channel's current state, or None."""
        fields = await self._round_trip(lambda c: c.hgetall(self.keys.state(truck)))
        if not fields or b"epoch" not in fields:
            return None
        return ChannelState(
            fields[b"epoch"].decode(), int(fields[b"seq"]), int(fields[b"ts"]), fields[b"row"], fields.get(b"status")
        )

    async def history(self, truck: str, epoch: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        """Diff payloads after ``after_seq`` of ``epoch``, or None when they cannot all be had."""

        async def read(client: Redis) -> list[Any]:
            # MULTI/EXEC: the position and the stream are read at the same instant.
            async with client.pipeline(transaction=True) as pipe:
                pipe.hmget(self.keys.state(truck), "epoch", "seq")
                pipe.xrange(self.keys.hist(truck), min=f"0-{max(after_seq, 0) + 1}", max="+")
                return await pipe.execute()

        (stored_epoch, stored_seq), stream = await self._round_trip(read)
        entries = [(int(entry_id.split(b"-", 1)[1]), fields[b"d"]) for entry_id, fields in stream]
        tail = history_tail(
            stored_epoch.decode() if stored_epoch is not None else None,
            int(stored_seq or 0), entries, epoch, after_seq,
        )
        if tail is None:
            self.resyncs += 1
        else:
            self.gap_fills += 1
        return tail

    # --- relay -----------------------------------------------------------------------

    async def subscribe(self, *trucks: str) -> None:
        """Relay these trucks; returns once Redis confirmed the subscription (one command)."""
        if self._relay is None:
            raise BrokerUnavailable("broker is not started")
        self._cmd.round_trips += 1
        await self._relay.subscribe(trucks)

    async def unsubscribe(self, *trucks: str) -> None:
        """Stop relaying these trucks."""
        if self._relay is not None:
            self._cmd.round_trips += 1
            await self._relay.unsubscribe(trucks)
