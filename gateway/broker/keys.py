"""Key and channel names of one cluster, all under ``{prefix}:`` (layout in the package docstring)."""

from __future__ import annotations

DEFAULT_PREFIX = "gateway"


class KeyLayout:
    """Names of the keys and the Pub/Sub channel of each truck for one key prefix."""

    __slots__ = ("_channel_prefix", "prefix")

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"broker prefix must be non-empty without whitespace, got {prefix!r}")
        self.prefix = prefix
        self._channel_prefix = f"{prefix}:ch:"

    def lease(self, truck: str) -> str:
        """STRING ``<node_id>|<token>`` with a PX expiry: who reads the truck."""
        return f"{self.prefix}:lease:{truck}"

    def fence(self, truck: str) -> str:
        """Counter INCRed on every acquisition: the fencing token."""
        return f"{self.prefix}:fence:{truck}"

    def interest(self, truck: str) -> str:
        """ZSET node_id -> expiry (ms, server clock): which nodes have subscribers."""
        return f"{self.prefix}:interest:{truck}"

    def watched(self) -> str:
        """ZSET truck -> latest interest expiry (ms, server clock): every truck some node watches."""
        return f"{self.prefix}:watched"

    def state(self, truck: str) -> str:
        """HASH epoch, seq, ts, row, status: the channel's current state."""
        return f"{self.prefix}:state:{truck}"

    def hist(self, truck: str) -> str:
        """STREAM of diff payloads of the current epoch, entry id ``0-<seq>``."""
        return f"{self.prefix}:hist:{truck}"

    def channel(self, truck: str) -> str:
        """Pub/Sub channel every frame of the truck is published on."""
        return self._channel_prefix + truck

    def control(self, node_id: str) -> str:
        """A node's own Pub/Sub channel, always subscribed so the relay connection stays in use."""
        return f"{self.prefix}:ctl:{node_id}"

    def truck_of(self, channel: str) -> str | None:
        """The truck a Pub/Sub channel belongs to, or None for another channel."""
        if channel.startswith(self._channel_prefix):
            return channel[len(self._channel_prefix):]
        return None

    def pattern(self) -> str:
        """Glob matching every key of this cluster (for cleanup and inspection)."""
        return f"{self.prefix}:*"
