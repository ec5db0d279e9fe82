"""The multiplexed channels, ``fleet`` and ``alerts``: what a subscription to them costs the hub.

Rules:
- Both need the whole fleet the subscriber's grant allows: its trucks' watches are held by
  the fleet fan-out (a subscriber of each watch, ``gateway.live.fleet``), for as long as
  someone is subscribed to either channel and ``--fleet-linger`` seconds after the last one
  left (frames keep being logged meanwhile: that is the window a dashboard can resume in).
- The trucks come from the table's keys, listed at the first subscription and again every
  ``--fleet-refresh`` seconds while anyone is subscribed; a new truck is watched at once
  and reaches ``fleet`` subscribers with its snapshot.
- Each counts as one subscription of the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway.config import Settings
from gateway.core.protocol import ResumePoint
from gateway.live.alerts import ALERTS, AlertFeed
from gateway.live.fleet import FLEET, FleetFanout
from gateway.live.subscriber import Subscriber
from gateway.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

FEEDS = (FLEET, ALERTS)
_PAGE = 1000


class Feeds:
    """Fleet and alerts subscriptions of one process."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        hold: Callable[[list[str]], Awaitable[None]],
        release: Callable[[list[str]], None],
        on_sent: Callable[[int, int], None],
    ) -> None:
        self._store = store
        self._settings = settings
        self._hold = hold
        self._release = release
        self.fanout = FleetFanout(settings.fleet_log_size, on_sent)
        self.alerts = AlertFeed(store, settings)
        self.known: set[str] = set()
        self._listed = False
        self._refresher: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._rest_holds: dict[frozenset[str] | None, _RestHold] = {}  # granted trucks -> REST readers' hold

    @property
    def grants(self) -> list:
        return [c.grant for c in (*self.fanout.subscribers, *self.alerts.subscribers)]

    # -- subscribe ----------------------------------------------------------------------
    async def prepare(self) -> None:
        """Before an ack naming a feed: list the trucks (once) and hold their watches."""
        if not self._listed:
            with contextlib.suppress(StoreUnavailable):
                self.known = await self._list_all()
                self._listed = True
        self.alerts.start()
        if self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh(), name="fleet-refresh")

    async def hold_for(self, conn: Subscriber) -> None:
        """Hold the watches ``conn``'s grant adds (awaited before the ack)."""
        self._cancel_linger()
        wanted = self.known if conn.grant.trucks is None else {t for t in self.known if conn.grant.allows(t)}
        missing = sorted(wanted - self.fanout.trucks)
        if missing:
            await self._hold(missing)

    def attach(self, conn: Subscriber, feed: str, resume: ResumePoint | None, snapshots: Callable) -> int:
        """Add ``conn`` to a feed and send its starting frames; returns how many were sent."""
        conn.feeds.add(feed)
        if feed == ALERTS:
            self.alerts.subscribers.add(conn)
            replay = self.alerts.log.replay(resume, conn.grant.allows) if resume is not None else None
            for logged in replay or ():
                self.alerts.send_to(conn, logged)
            return len(replay or ())
        self.fanout.subscribers.add(conn)
        allowed = conn.grant.allows
        replay = self.fanout.log.replay(resume.epoch, resume.seq, allowed) if resume is not None else None
        if replay is None:
            replay = snapshots(t for t in sorted(self.fanout.trucks) if allowed(t))
        return self.fanout.initial(conn, replay)

    def detach(self, conn: Subscriber, feeds: tuple[str, ...] = FEEDS) -> None:
        """Take ``conn`` off feeds (unsubscribe, or a closed connection) and release what nobody needs."""
        for feed in feeds:
            conn.feeds.discard(feed)
        if FLEET in feeds:
            self.fanout.subscribers.discard(conn)
        if ALERTS in feeds:
            self.alerts.subscribers.discard(conn)
        self._release_unneeded()

    def _needed(self) -> set[str]:
        grants = self.grants
        if not grants:
            return set()
        if any(g.trucks is None for g in grants):
            return set(self.fanout.trucks) | self.known
        return {t for t in self.known | self.fanout.trucks if any(g.allows(t) for g in grants)}

    def _release_unneeded(self) -> None:
        if not self.grants:
            # The last subscriber left: keep the fleet (and its log) for --fleet-linger, so a
            # dashboard reconnecting after a short break resumes instead of starting over.
            if self._linger is None and self.fanout.trucks:
                self._linger = asyncio.get_running_loop().call_later(self._settings.fleet_linger, self._let_go)
            return
        self._cancel_linger()
        gone = sorted(self.fanout.trucks - self._needed())
        if gone:
            self._release(gone)

    def _let_go(self) -> None:
        self._linger = None
        if self.grants:
            return
        self._release(sorted(self.fanout.trucks))
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    async def rest_interest(self, grant) -> None:
        """A REST read of the alerts: keep the rules running for the grant's trucks a while."""
        hold = self._rest_holds.get(grant.trucks)  # one hold per set of trucks, whoever asks
        if hold is None:
            hold = self._rest_holds[grant.trucks] = _RestHold(grant)
            self.alerts.subscribers.add(hold)
            await self.prepare()
            await self.hold_for(hold)
        hold.renew(self._settings.fleet_linger, self._rest_expired)

    def _rest_expired(self, hold: _RestHold) -> None:
        if self._rest_holds.get(hold.grant.trucks) is hold:
            del self._rest_holds[hold.grant.trucks]
            self.alerts.subscribers.discard(hold)
            self._release_unneeded()

    # -- discovery ----------------------------------------------------------------------
    async def _list_all(self) -> set[str]:
        ids: set[str] = set()
        after: str | None = None
        while True:
            page = await self._store.fleet_ids(after, _PAGE)
            ids.update(page)
            if len(page) < _PAGE:
                return ids
            after = page[-1]

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._settings.fleet_refresh)
            try:
                self.known = await self._list_all()
                self._listed = True
            except StoreUnavailable as exc:
                log.debug("fleet: truck list not refreshed (%s)", exc)
                continue
            new = sorted(self._needed() - self.fanout.trucks)
            if new:
                await self._hold(new)

    async def close(self) -> None:
        self._cancel_linger()
        for hold in self._rest_holds.values():
            hold.cancel()
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.alerts.close()



class _RestHold:
    """Stands for the REST readers of ``/v1/alerts`` with one grant: a subscriber that drops what it gets."""

    def __init__(self, grant) -> None:
        self.grant = grant
        self.subscriptions: set[str] = set()
        self.feeds: set[str] = {ALERTS}
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None

    def renew(self, seconds: float, expired: Callable[[_RestHold], None]) -> None:
        self.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, expired, self)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def send(self, frame: bytes, channel: str | None = None) -> None:
        return None  # REST readers read the log

    def send_batch(self, blob: bytes, items: list[tuple[str, bytes]], tail: bytes) -> None:
        return None

    def cancel_tasks(self) -> None:
        return None
