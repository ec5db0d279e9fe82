"""The broker protocol: what the live path needs to run many processes as one cluster.

Both implementations (``MemoryBroker``, ``RedisBroker``) follow the same rules, checked
by one shared test suite:

- Every call is bounded in time and a broker that cannot be reached or does not answer
  in time raises ``BrokerUnavailable`` and nothing else, so callers handle exactly one
  error for "the broker is down".
- Batch calls (``acquire``, ``renew``, ``release``, ``refresh_interest``,
  ``drop_interest``, ``interested``, ``watched``) cost one round trip whatever the number of trucks;
  ``round_trips`` counts them, which is how tests and metrics see the cost.
- ``publish_*`` first check the fencing token against the live lease: a stale holder gets
  ``False`` and nothing is stored or published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

SNAPSHOT = "snapshot"
DIFF = "diff"
STATUS = "status"
KINDS = (SNAPSHOT, DIFF, STATUS)
# Diffs kept per channel for gap fills and resume (as the single-process resume ring).
DEFAULT_RING = 64
# State, history and fence keys outlive their last publish or renew by this long.
DEFAULT_KEEP_MS = 3_600_000


class BrokerUnavailable(Exception):
    """The broker could not be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class ChannelState:
    """The broker's current view of one channel: its epoch, position, row and status.

    Attributes:
        epoch: The current epoch (one life of the channel's reader).
        seq: Seq of the last diff in that epoch (0 right after the snapshot).
        ts: Server time (ms) of the read that produced the current row.
        row_json: The whole current row as JSON bytes, exactly as published.
        status: The last status frame published in this epoch, or None.
    """

    epoch: str
    seq: int
    ts: int
    row_json: bytes
    status: bytes | None

    @property
    def row(self) -> dict[str, Any]:
        """The current row decoded from ``row_json``."""
        return orjson.loads(self.row_json)


class RelayHandler(Protocol):
    """What a relay delivers to: called on the event loop, must not block.

    ``payload`` is the frame's JSON (a snapshot frame for ``snapshot``, the diff frame for
    ``diff``, the status frame for ``status``): forward it as-is, never re-encode it.
    """

    def on_message(self, truck: str, kind: str, epoch: str, seq: int, payload: bytes) -> None:
        """One published frame of a subscribed truck, in publish order per truck."""

    def on_reconnect(self) -> None:
        """The relay connection was lost and is back: gap-fill every subscribed truck."""


class Broker(Protocol):
    """Leases, interest, publish and relay for one process of a cluster."""

    node_id: str
    # Called with the seconds each successful network round trip took (metrics hook).
    observe_rtt: Callable[[float], None] | None

    @property
    def published(self) -> int:
        """Frames this node published (accepted publish_* calls)."""

    @property
    def received(self) -> int:
        """Frames the relay delivered to this node's handler."""

    @property
    def gap_fills(self) -> int:
        """``history`` calls that returned the missing diffs."""

    @property
    def resyncs(self) -> int:
        """``history`` calls that could not (the caller resyncs from ``latest``)."""

    @property
    def round_trips(self) -> int:
        """Round trips to the broker made so far."""

    @property
    def up(self) -> bool:
        """Last known health of the broker (False after a failed call or a lost relay)."""

    @property
    def reconnects(self) -> int:
        """How many times the relay connection came back after being lost."""

    def set_handler(self, handler: RelayHandler | None) -> None:
        """Set who receives relayed frames and reconnect notices."""

    async def start(self) -> None:
        """Connect; never fails because the broker is down (``up`` says so)."""

    async def close(self) -> None:
        """Stop the relay and release connections; bounded in time."""

    async def ping(self) -> None:
        """One round trip that proves the broker answers (a node with nothing to renew uses it)."""

    async def acquire(self, trucks: Sequence[str], ttl_ms: int) -> dict[str, int]:
        """Take the free leases among ``trucks``; return those now held with their token."""

    async def renew(self, leases: Mapping[str, int], ttl_ms: int) -> set[str]:
        """Extend the leases still ours (same token); return the trucks still held."""

    async def release(self, leases: Mapping[str, int]) -> None:
        """Give up the leases that are still ours."""

    async def holder(self, truck: str) -> str | None:
        """The node id holding the truck's lease, or None."""

    async def refresh_interest(self, trucks: Sequence[str], ttl_ms: int) -> None:
        """Say this node has subscribers to ``trucks`` for the next ``ttl_ms``."""

    async def drop_interest(self, trucks: Sequence[str]) -> None:
        """Withdraw this node's interest in ``trucks``."""

    async def interested(self, trucks: Sequence[str]) -> set[str]:
        """The trucks among ``trucks`` some node (any) still has live interest in."""

    async def watched(self) -> list[str]:
        """Every truck with live interest from some node (one round trip); a truck may stay
        listed up to one interest TTL after its last node dropped it, never less."""

    async def publish_snapshot(self, truck: str, token: int, epoch: str, ts: int, row_json: bytes) -> bool:
        """Start a new epoch at seq 0 with this row; False when fenced off or epoch reused."""

    async def publish_diff(
        self, truck: str, token: int, epoch: str, seq: int, ts: int, diff_payload: bytes, row_json: bytes
    ) -> bool:
        """Append diff ``seq`` of ``epoch``; False when fenced off or out of sequence."""

    async def publish_status(self, truck: str, token: int, epoch: str, status_payload: bytes) -> bool:
        """Store and publish a status frame of ``epoch``; False when fenced off or epoch moved on."""

    async def latest(self, truck: str) -> ChannelState | None:
        """The channel's current state, or None when no epoch is stored."""

    async def history(self, truck: str, epoch: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        """Diff payloads after ``after_seq`` of ``epoch``, or None when they cannot all be had."""

    async def subscribe(self, *trucks: str) -> None:
        """Relay these trucks' frames to the handler (one command for the batch)."""

    async def unsubscribe(self, *trucks: str) -> None:
        """Stop relaying these trucks."""


def history_tail(
    stored_epoch: str | None, stored_seq: int, entries: Sequence[tuple[int, bytes]], epoch: str, after_seq: int
) -> list[tuple[int, bytes]] | None:
    """Decide what ``history`` returns from the stored position and the entries after ``after_seq``.

    Args:
        stored_epoch: The epoch stored for the channel, None when there is none.
        stored_seq: The stored seq of that epoch.
        entries: Stored (seq, payload) entries with seq > ``after_seq``, oldest first.
        epoch: The epoch the caller knows.
        after_seq: The last seq the caller has.

    Returns:
        The entries when they continue ``after_seq`` without a hole up to ``stored_seq``,
        else None (another epoch, a position ahead of the stream, or trimmed history).
    """
    if stored_epoch is None or stored_epoch != epoch or after_seq > stored_seq or after_seq < 0:
        return None
    if after_seq == stored_seq:
        return []
    if not entries or entries[0][0] != after_seq + 1 or entries[-1][0] != stored_seq:
        return None
    return list(entries)
