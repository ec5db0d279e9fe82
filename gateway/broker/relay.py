"""The Redis Pub/Sub reader: one task, one connection, its own liveness check and reconnects.

Why not rely on redis-py alone: its asyncio Pub/Sub has missed dead connections (redis-py
issues 2089, 2417) and it reconnects and resubscribes silently, while a consumer must
know about every reconnect (Pub/Sub drops what was published meanwhile). So:

- The connection has redis-py's ``health_check_interval`` and no redis-py retries; on top
  of that the reader PINGs after ``ping_interval`` of silence and declares the connection
  dead when nothing at all comes back within ``dead_after`` (a half-open TCP connection,
  a stopped server). Every write is bounded by ``timeout``.
- Any failure ends the session: the PubSub is closed, ``up`` goes False and a fresh one is
  made after an exponential backoff with jitter (capped), forever until ``close``.
- A session counts as up once the server confirmed every subscription it started with;
  if it replaces a lost one (or the first attempt failed) ``reconnected`` is called then,
  so the consumer's gap-fill reads happen after the subscriptions took effect.
- The node is always subscribed to its own control channel, so the connection is in
  subscribed mode (and checked) even without any truck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from gateway.broker.base import BrokerUnavailable
from gateway.broker.keys import KeyLayout
from gateway.broker.wire import BadMessage, decode_message

log = logging.getLogger(__name__)

Deliver = Callable[[str, str, str, int, bytes], None]
_PING = b"gw-relay"
_FAILURES = (RedisError, OSError, TimeoutError)


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect ``attempt`` (1, 2, ...): exponential, capped, jittered.

    Half of the step is fixed so retries never spin, half is random so many processes that
    lost the same server do not come back in lockstep.
    """
    step = min(cap, base * 2 ** min(max(attempt - 1, 0), 30))
    return step / 2 + rand() * step / 2


class RedisRelay:
    """Subscriptions of one node and the task that reads them."""

    def __init__(
        self,
        pool: BlockingConnectionPool,
        keys: KeyLayout,
        node_id: str,
        deliver: Deliver,
        reconnected: Callable[[], None],
        on_up: Callable[[], None],
        timeout: float,
        ping_interval: float,
        dead_after: float,
        backoff_base: float,
        backoff_cap: float,
    ) -> None:
        self._client = Redis(connection_pool=pool)
        self._pool = pool
        self._keys = keys
        self._control = keys.control(node_id)
        self._deliver = deliver
        self._reconnected = reconnected
        self._on_up = on_up
        self._timeout = timeout
        self._ping_interval = ping_interval
        self._dead_after = dead_after
        self._slice = min(0.5, ping_interval / 2)
        self._backoff = (backoff_base, backoff_cap)
        self._wanted: set[str] = set()
        self._confirmed: set[str] = set()
        self._starting: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        # The session's PubSub (closed by _drop) and, once its first SUBSCRIBE went out
        # and the connection exists, the same object offered to subscribe() callers.
        self._session_ps: PubSub | None = None
        self._ps: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._lost = False
        # A subscribe() was refused: the consumer must hear about the next session.
        self._owe_notice = False
        # A subscribe() was not confirmed in time: the session is not trustworthy.
        self._broken = False
        self.up = False
        self.reconnects = 0

    async def start(self) -> None:
        """Start the reader; wait (bounded) for its first connection attempt to finish."""
        self._task = asyncio.create_task(self._run(), name="broker-relay")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout * 2):
                await self._first_attempt.wait()

    async def close(self) -> None:
        """Stop the reader and close its connection; bounded in time."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=self._timeout)
            self._task = None
        await self._drop()
        with contextlib.suppress(*_FAILURES):
            async with asyncio.timeout(self._timeout):
                await self._pool.aclose()

    async def subscribe(self, trucks: Iterable[str]) -> None:
        """Add trucks; return once the server confirmed them (one SUBSCRIBE for all).

        Raises:
            BrokerUnavailable: When the relay is down or does not confirm in time. The
                trucks stay wanted: the next session subscribes them and the consumer gets
                ``reconnected`` then.
        """
        trucks = list(trucks)
        self._wanted.update(trucks)
        missing = [c for c in dict.fromkeys(self._keys.channel(t) for t in trucks) if c not in self._confirmed]
        if not missing:
            return
        ps = self._ps
        if ps is None:
            self._owe_notice = True
            raise BrokerUnavailable("relay is not connected; it subscribes these trucks when it is")
        if not self.up:
            # A session is starting: its confirmations now include these channels too.
            self._starting.update(missing)
        loop = asyncio.get_running_loop()
        waiters = [loop.create_future() for _ in missing]
        for channel, fut in zip(missing, waiters, strict=True):
            self._waiters.setdefault(channel, []).append(fut)
        try:
            async with asyncio.timeout(self._timeout):
                await ps.subscribe(*missing)
                confirmed = await asyncio.gather(*waiters)
        except _FAILURES as exc:
            # Unconfirmed in time: end this session so the next one resubscribes and the
            # consumer gets on_reconnect, rather than leave the truck in doubt.
            if ps is self._ps:
                self._broken = True
            self._owe_notice = True
            raise BrokerUnavailable(f"relay did not confirm the subscription: {exc!r}") from exc
        if not all(confirmed):
            self._owe_notice = True
            raise BrokerUnavailable("relay connection lost before the subscription was confirmed")

    async def unsubscribe(self, trucks: Iterable[str]) -> None:
        """Remove trucks; their messages stop being delivered at once."""
        trucks = list(trucks)
        self._wanted.difference_update(trucks)
        channels = [self._keys.channel(t) for t in trucks]
        self._confirmed.difference_update(channels)
        ps = self._ps
        if ps is None or not channels:
            return
        # A failure here is harmless: the next session only subscribes wanted trucks.
        with contextlib.suppress(*_FAILURES):
            async with asyncio.timeout(self._timeout):
                await ps.unsubscribe(*channels)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
            except _FAILURES as exc:
                # One warning per outage, not one per reconnect attempt.
                log.log(logging.WARNING if self.up or attempt == 0 else logging.DEBUG,
                        "broker relay connection lost: %r", exc)
            except Exception:
                # A bug must not end relaying for good: log it and start a new session.
                log.exception("broker relay session failed")
            healthy = self.up
            self._lost = True
            await self._drop()
            self._first_attempt.set()
            attempt = 1 if healthy else attempt + 1
            await asyncio.sleep(backoff_delay(attempt, *self._backoff))

    async def _session(self) -> None:
        ps = self._session_ps = self._client.pubsub()
        channels = [self._control, *(self._keys.channel(t) for t in self._wanted)]
        self._starting = set(channels)
        self._broken = False
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(self._timeout):
            await ps.subscribe(*channels)
            self._ps = ps
            # Trucks wanted (or dropped) while the connection was being made.
            added = [c for c in (self._keys.channel(t) for t in self._wanted) if c not in self._starting]
            dropped = [c for c in channels[1:] if self._keys.truck_of(c) not in self._wanted]
            if added:
                self._starting.update(added)
                await ps.subscribe(*added)
            if dropped:
                await ps.unsubscribe(*dropped)
        last_heard, pinged = loop.time(), None
        while True:
            # get_message's own timeout covers an idle socket; the outer bound covers a
            # read that would ignore it.
            async with asyncio.timeout(self._slice + self._timeout):
                msg = await ps.get_message(timeout=self._slice)
            now = loop.time()
            if msg is not None:
                last_heard, pinged = now, None
                self._handle(msg)
            if self._broken or (self._starting and now - started > self._timeout):
                raise TimeoutError("subscriptions not confirmed in time")
            if pinged is None and now - last_heard >= self._ping_interval:
                async with asyncio.timeout(self._timeout):
                    await ps.ping(_PING)
                pinged = now
            elif pinged is not None and now - pinged >= self._dead_after:
                raise TimeoutError(f"relay connection silent for {now - last_heard:.1f} s")

    def _handle(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "message":
            channel = msg["channel"].decode()
            truck = self._keys.truck_of(channel)
            # Messages still in flight for a truck just unsubscribed are dropped here.
            if truck is None or truck not in self._wanted:
                return
            try:
                frame_kind, epoch, seq, payload = decode_message(msg["data"])
            except BadMessage:
                log.warning("dropping a malformed broker message on %s", channel)
                return
            self._deliver(truck, frame_kind, epoch, seq, payload)
        elif kind == "subscribe":
            channel = msg["channel"].decode()
            self._confirmed.add(channel)
            for fut in self._waiters.pop(channel, ()):
                if not fut.done():
                    fut.set_result(True)
            self._starting.discard(channel)
            if not self._starting and not self.up:
                self._became_up()
        elif kind == "unsubscribe":
            self._confirmed.discard(msg["channel"].decode())

    def _became_up(self) -> None:
        self.up = True
        self._first_attempt.set()
        self._on_up()
        if self._lost or self._owe_notice:
            self.reconnects += self._lost
            self._lost = self._owe_notice = False
            try:
                self._reconnected()
            except Exception:
                log.exception("relay reconnect handler failed")

    async def _drop(self) -> None:
        self.up = False
        self._ps = None
        ps, self._session_ps = self._session_ps, None
        self._confirmed.clear()
        self._starting = set()
        waiters, self._waiters = self._waiters, {}
        for futs in waiters.values():
            for fut in futs:
                if not fut.done():
                    fut.set_result(False)
        if ps is not None:
            with contextlib.suppress(*_FAILURES):
                async with asyncio.timeout(self._timeout):
                    await ps.aclose()
