"""The fleet log: one position for everything a ``fleet`` subscriber was sent.

Rules:
- Every truck frame (snapshot, diff, status) that fans out in this process gets the next
  position in one fleet-wide sequence, under a log epoch made when the log is. The log
  keeps the last ``size`` entries (a ring), so its memory is bounded by count.
- A ``fleet`` subscriber is told its position with ``position`` frames (at most one per
  fan-out batch); on reconnect it sends ``"resume": {"fleet": {"epoch": E, "seq": N}}``.
- ``replay`` gives, in order, the frames after N of the trucks the grant allows, when the
  epoch is this log's and the ring still reaches back to N + 1; otherwise None, and the
  caller falls back to one snapshot per truck. Trucks with no entry after N are sent
  nothing: the client's copy of them is current.
- Replayed frames may repeat what the client saw after its last position frame; a client
  ignores a diff whose seq is not above the one it holds for that truck (docs/PROTOCOL.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from gateway.core import protocol

FLEET_CHANNEL = "fleet"


class FleetLog:
    """A bounded, positioned log of truck frames."""

    __slots__ = ("_ring", "epoch", "position")

    def __init__(self, epoch: str, size: int) -> None:
        self.epoch = epoch
        self.position = 0
        self._ring: deque[tuple[int, str, bytes]] = deque(maxlen=max(1, size))

    def append(self, truck_id: str, frame: bytes) -> int:
        """Log one frame sent for ``truck_id``; returns its position."""
        self.position += 1
        self._ring.append((self.position, truck_id, frame))
        return self.position

    def replay(self, epoch: str, after: int, allowed: Callable[[str], bool]) -> list[tuple[str, bytes]] | None:
        """Frames after position ``after`` for allowed trucks, or None when they are not all held."""
        if epoch != self.epoch or after > self.position:
            return None
        if after == self.position:
            return []
        if not self._ring or self._ring[0][0] > after + 1:
            return None
        return [(truck, frame) for pos, truck, frame in self._ring if pos > after and allowed(truck)]

    def position_frame(self) -> bytes:
        """The payload telling a fleet subscriber where it is."""
        return protocol.position(FLEET_CHANNEL, self.epoch, self.position)
