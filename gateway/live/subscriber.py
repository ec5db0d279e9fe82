"""What the hub needs of a client: a place to send frames, and what it may and does watch.

``gateway.server.connection.Connection`` is the real one (a WebSocket); tests use a
recording one. Declaring it here keeps the live path free of aiohttp.
"""

from __future__ import annotations

from typing import Protocol


class Grant(Protocol):
    """What a verified token allows (``gateway.server.auth.Grant``)."""

    trucks: frozenset[str] | None  # None: every truck

    def allows(self, truck_id: str) -> bool:
        """Whether the token may see this truck."""


class Subscriber(Protocol):
    """One client as the hub sees it."""

    subscriptions: set[str]  # truck ids subscribed by name
    feeds: set[str]  # multiplexed channels subscribed: "fleet", "alerts"
    grant: Grant
    closed: bool

    def send(self, frame: bytes, channel: str | None = None) -> None:
        """Send a complete frame; ``channel`` marks channel data a resync may replace."""

    def send_batch(self, blob: bytes, items: list[tuple[str, bytes]], tail: bytes) -> None:
        """Send several trucks' frames joined in ``blob`` (``items`` then ``tail``) in one write."""

    def cancel_tasks(self) -> None:
        """Stop any background work of the client when it leaves."""
