"""Event-table rows already seen, so re-reading the same rows never repeats an event.

Rules:
- The reader re-reads rows (a watermark with a safety overlap for late commits): the
  memory keeps each row's id with the state last reported for it and when that changed.
- Memory is bounded in time: an entry whose state is final (a cleared DTC, any refuel)
  and unchanged for ``retain_us`` is forgotten, and the highest forgotten id becomes the
  ``floor``. An unknown row at or below the floor is taken as already reported when its
  state is final: ids grow, so only a re-read of old history (or a commit later than
  ``retain_us``) lands there.
- ``prime`` rows (the reader's first read) raise the floor too: history that existed
  before the deriver started is a baseline, not news.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class SeenIds:
    """Ids of rows seen, each with its last reported state."""

    __slots__ = ("_entries", "_next_prune_us", "_retain_us", "floor")

    def __init__(self, retain_us: int) -> None:
        self._entries: dict[int, tuple[str, int]] = {}
        self._retain_us = retain_us
        self._next_prune_us: int | None = None
        self.floor = 0

    def __len__(self) -> int:
        return len(self._entries)

    def state(self, row_id: int) -> str | None:
        """The state last recorded for ``row_id``, None when unknown."""
        entry = self._entries.get(row_id)
        return entry[0] if entry is not None else None

    def record(self, row_id: int, state: str, now_us: int) -> None:
        """Remember that ``row_id`` was reported in ``state`` at ``now_us``."""
        self._entries[row_id] = (state, now_us)

    def raise_floor(self, row_id: int) -> None:
        """Treat every id up to ``row_id`` as history (see the module rules)."""
        self.floor = max(self.floor, row_id)

    def prune(self, now_us: int, final: Callable[[str], bool]) -> None:
        """Forget final entries older than the retention; cheap when called every tick."""
        # A full scan at most a few times per retention period keeps observe() O(rows).
        if self._next_prune_us is not None and now_us < self._next_prune_us:
            return
        self._next_prune_us = now_us + max(self._retain_us // 4, 1)
        horizon = now_us - self._retain_us
        old = [i for i, (state, at) in self._entries.items() if at < horizon and final(state)]
        for row_id in old:
            del self._entries[row_id]
            self.raise_floor(row_id)


def row_key(row: Mapping[str, object]) -> tuple[int, str] | None:
    """An event row's integer ``id`` and string ``truck_id``, None when either is unusable."""
    row_id, truck_id = row.get("id"), row.get("truck_id")
    if type(row_id) is not int or type(truck_id) is not str:
        return None
    return row_id, truck_id
