"""What a subscribe message may do, decided by plain function calls (no I/O, no event loop).

The hub executes the plan: it starts or reuses a poller for each truck the plan asks
about, reports what each first read found, and attaches the connection to the channels
the plan ends up accepting. Everything that decides lives here:

1. Each channel on its own: a bad name is ``invalid_channel``; a truck outside the token's
   grant is ``forbidden`` (checked before any poller or query); a channel the connection
   already holds is ok again (it gets a fresh snapshot); a truck remembered as missing is
   ``unknown_truck`` with no query.
2. Slots: the free slots (``limit`` minus what the connection holds) are filled in request
   order, a batch at a time; a truck that turns out not to exist gives its slot back, and
   never more trucks are looked up than the client could still subscribe to. Whatever is
   left when the slots run out is ``too_many_subscriptions``.
3. Unverified trucks: one whose first read could not reach the database may be real or
   made up. Such subscriptions are capped per connection and in total (each keeps a
   poller retrying until the database answers, when the poller verifies it). Past a cap
   the channel is ``too_many_subscriptions`` and its poller is dropped.

Every ``unknown_truck`` is counted (``unknown``): the caller charges them to the client's
violation budget, so made-up ids cannot be tried without end.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.core.channels import truck_id_of
from gateway.core.protocol import FORBIDDEN, TOO_MANY_SUBSCRIPTIONS, UNKNOWN_TRUCK, ProtocolError

FOUND = "found"
UNKNOWN = "unknown"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class ChannelError:
    """One channel's entry of ``ack.errors``; ``index`` keeps the request's order."""

    index: int
    channel: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps a plan enforces."""

    subscriptions: int
    unverified_per_connection: int
    unverified_total: int


@dataclass(slots=True)
class SubscribePlan:
    """The decisions for one subscribe message; see the module's rules."""

    limits: Limits
    held: list[tuple[int, str, str]] = field(default_factory=list)
    accepted: list[tuple[int, str, str]] = field(default_factory=list)
    errors: list[ChannelError] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # trucks looked up but not admitted: pollers to drop
    unknown: int = 0
    _candidates: list[tuple[int, str, str]] = field(default_factory=list)
    _count: int = 0
    _unverified_here: int = 0
    _unverified_new: int = 0

    @property
    def ok(self) -> list[tuple[str, str]]:
        """``(channel, truck_id)`` of every accepted or re-held channel, in request order."""
        return [(channel, truck) for _, channel, truck in sorted(self.held + self.accepted)]

    def sorted_errors(self) -> list[ChannelError]:
        """Errors in the order of the request's channels."""
        return sorted(self.errors, key=lambda e: e.index)

    def next_batch(self) -> list[str]:
        """Trucks to look up next (start or reuse a poller each): at most the free slots."""
        free = self.limits.subscriptions - self._count
        if free <= 0 or not self._candidates:
            return []
        return [truck for _, _, truck in self._candidates[:free]]

    def record(self, results: Mapping[str, str], *, unverified_held: int, unverified_total: int,
               shared: Collection[str] = ()) -> None:
        """Settle the batch ``next_batch`` gave, from what each first read found.

        Args:
            results: truck id → ``FOUND``, ``UNKNOWN`` or ``UNAVAILABLE``.
            unverified_held: unverified subscriptions the connection already holds.
            unverified_total: unverified pollers that already have subscribers, gateway-wide.
            shared: trucks whose unverified poller already has other subscribers (joining
                one adds no poller, so it does not count toward the total).
        """
        free = self.limits.subscriptions - self._count
        batch, self._candidates = self._candidates[:free], self._candidates[free:]
        for index, channel, truck in batch:
            result = results[truck]
            if result == UNKNOWN:
                self.unknown += 1
                self.errors.append(ChannelError(index, channel, UNKNOWN_TRUCK, f"no truck {truck!r}"))
                continue
            if result == UNAVAILABLE:
                per_conn = unverified_held + self._unverified_here
                total = unverified_total + self._unverified_new
                adds_poller = truck not in shared
                if per_conn >= self.limits.unverified_per_connection or (
                        adds_poller and total >= self.limits.unverified_total):
                    cap = (self.limits.unverified_per_connection if per_conn >= self.limits.unverified_per_connection
                           else self.limits.unverified_total)
                    which = "per connection" if cap == self.limits.unverified_per_connection else "in total"
                    self.errors.append(ChannelError(
                        index, channel, TOO_MANY_SUBSCRIPTIONS,
                        f"the database is unavailable and truck {truck!r} cannot be checked: at most {cap} "
                        f"unchecked subscriptions {which}; subscribe again when the database is back"))
                    if adds_poller:
                        self.dropped.append(truck)
                    continue
                self._unverified_here += 1
                self._unverified_new += adds_poller
            self.accepted.append((index, channel, truck))
            self._count += 1

    def finish(self) -> None:
        """Whatever found no free slot is ``too_many_subscriptions``."""
        for index, channel, _ in self._candidates:
            self.errors.append(ChannelError(index, channel, TOO_MANY_SUBSCRIPTIONS,
                                            f"at most {self.limits.subscriptions} subscriptions per connection"))
        self._candidates = []


def plan_subscribe(
    channels: Sequence[object],
    *,
    allows: Callable[[str], bool],
    held: Collection[str],
    known_missing: Callable[[str], bool],
    limits: Limits,
) -> SubscribePlan:
    """Check each channel of a subscribe message; the plan then hands out batches to look up.

    Args:
        channels: the channel names as the client sent them (deduplicated).
        allows: the token's grant (exact, case-sensitive truck ids).
        held: truck ids the connection already subscribes to.
        known_missing: whether a truck id is remembered as not existing.
        limits: the caps to enforce.
    """
    plan = SubscribePlan(limits=limits, _count=len(held))
    for index, channel in enumerate(channels):
        try:
            truck = truck_id_of(channel)
        except ProtocolError as exc:
            plan.errors.append(ChannelError(index, str(channel), exc.code, exc.message))
            continue
        if not allows(truck):
            plan.errors.append(ChannelError(index, str(channel), FORBIDDEN,
                                            f"your token does not grant truck {truck!r}"))
        elif truck in held:
            plan.held.append((index, str(channel), truck))
        elif known_missing(truck):
            plan.unknown += 1
            plan.errors.append(ChannelError(index, str(channel), UNKNOWN_TRUCK, f"no truck {truck!r}"))
        else:
            plan._candidates.append((index, str(channel), truck))
    return plan
