"""Where a relay stands on one channel, and what to do with the next published message.

Pub/Sub delivers in publish order but may drop messages (across a reconnect, or before a
subscription took effect), and a consumer that just read ``latest`` may then receive
messages older than what it read. ``RelayCursor`` turns (epoch, seq) arithmetic into one
of four verdicts so the consumer's code has no seq arithmetic of its own:

- ``DELIVER``: the next frame of the current epoch (or a status of it): forward it.
- ``DUPLICATE``: already covered by what the consumer has: drop it.
- ``GAP``: something was missed: fill from ``history(epoch, cursor.seq)`` or resync from
  ``latest``, then ``reset`` the cursor to where that left it.
- ``NEW_EPOCH``: a snapshot that starts another epoch: forward it as the new base.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum

from gateway.broker.base import DIFF, SNAPSHOT, STATUS


class Verdict(enum.Enum):
    """What a relay does with one incoming message."""

    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    GAP = "gap"
    NEW_EPOCH = "new_epoch"


class RelayCursor:
    """The last (epoch, seq) a relay passed on for one channel; ``epoch`` None before any."""

    __slots__ = ("epoch", "seq")

    def __init__(self, epoch: str | None = None, seq: int = 0) -> None:
        self.epoch = epoch
        self.seq = seq

    def observe(self, kind: str, epoch: str, seq: int) -> Verdict:
        """Judge one message and move the cursor on ``DELIVER`` (diff) and ``NEW_EPOCH``.

        Args:
            kind: ``snapshot``, ``diff`` or ``status``.
            epoch: The message's epoch.
            seq: The message's seq (a status carries its epoch's seq, which is ignored).

        Raises:
            ValueError: For an unknown kind.
        """
        if kind == SNAPSHOT:
            # Epochs are never reused, so a snapshot of the current epoch is one already
            # applied (e.g. read through `latest` before Pub/Sub delivered it).
            if epoch == self.epoch:
                return Verdict.DUPLICATE
            self.epoch, self.seq = epoch, 0
            return Verdict.NEW_EPOCH
        if kind == DIFF:
            if epoch != self.epoch:
                return Verdict.GAP
            if seq <= self.seq:
                return Verdict.DUPLICATE
            if seq != self.seq + 1:
                return Verdict.GAP
            self.seq = seq
            return Verdict.DELIVER
        if kind == STATUS:
            # A status of another epoch means its snapshot was missed.
            return Verdict.DELIVER if epoch == self.epoch else Verdict.GAP
        raise ValueError(f"unknown message kind {kind!r}")

    def reset(self, epoch: str | None, seq: int) -> None:
        """Set the position after a gap fill or a resync."""
        self.epoch, self.seq = epoch, seq

    def __repr__(self) -> str:
        return f"RelayCursor(epoch={self.epoch!r}, seq={self.seq})"
