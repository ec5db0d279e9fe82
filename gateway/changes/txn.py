"""What a committed transaction changed, one entry per row, as the commit left it.

Subscribers see a row as committed: a transaction that updates a truck's row
five times yields one change carrying the final image. ``TransactionBuffer`` folds the
row events of one transaction by (table, key):

    insert + update(s)  -> insert (final image)      update + update -> update (final)
    insert + delete     -> nothing (never visible)   update + delete -> delete
    delete + insert     -> update (the row existed before and after)

An UPDATE that changes the key itself is a delete of the old key and an insert of the new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.changes.position import Position
from gateway.core.rows import Row

Kind = Literal["insert", "update", "delete"]
ALL_KINDS: frozenset[str] = frozenset({"insert", "update", "delete"})


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table the reader follows.

    Attributes:
        name: table name in the followed database.
        key: the column identifying a row (changes of one row are folded by it).
        kinds: which committed kinds are delivered.
        filtered: whether the reader's ``wanted(key)`` decides if a row is decoded at all.
    """

    name: str
    key: str
    kinds: frozenset[str] = ALL_KINDS
    filtered: bool = False


DEFAULT_TABLES: tuple[TableSpec, ...] = (
    TableSpec("truck_sensors_cache", "truck_id", ALL_KINDS, filtered=True),
    # DTCs raised and cleared, refuels: the alerts channel needs new and changed rows only.
    TableSpec("dtc_events", "id", frozenset({"insert", "update"})),
    TableSpec("refuel_events", "id", frozenset({"insert", "update"})),
)


@dataclass(frozen=True, slots=True)
class Change:
    """One row as a transaction committed it.

    Attributes:
        table: the table name.
        kind: ``insert``, ``update`` or ``delete``.
        key: the row's key value as stored (``truck_id`` text, ``id`` integer).
        row: the JSON-safe after-image (same values as ``SELECT *`` through the store);
            None for a delete.
    """

    table: str
    kind: Kind
    key: Any
    row: Row | None


@dataclass(frozen=True, slots=True)
class Batch:
    """The changes of one committed transaction, in first-touched order.

    Attributes:
        position: the binlog position just after the commit (resume from here).
        changes: one entry per changed row of a followed table.
        timestamp: the commit's time on the server, in whole seconds since the epoch.
    """

    position: Position
    changes: list[Change] = field(default_factory=list)
    timestamp: int = 0


_FOLD: dict[tuple[str, str], str | None] = {
    ("insert", "update"): "insert",
    ("insert", "delete"): None,
    ("update", "delete"): "delete",
    ("delete", "insert"): "update",
    ("delete", "update"): "update",
}


class TransactionBuffer:
    """Collects one transaction's row changes and folds repeated ones."""

    __slots__ = ("_changes",)

    def __init__(self) -> None:
        self._changes: dict[tuple[str, Any], Change] = {}

    def __len__(self) -> int:
        return len(self._changes)

    def add(self, table: str, kind: Kind, key: Any, row: Row | None) -> None:
        """Record that the transaction left row ``key`` of ``table`` as ``row`` (``kind``)."""
        slot = (table, key)
        prev = self._changes.get(slot)
        if prev is not None:
            folded = _FOLD.get((prev.kind, kind), kind)
            if folded is None:
                del self._changes[slot]
                return
            kind = folded  # type: ignore[assignment]
        self._changes[slot] = Change(table, kind, key, row)

    def take(self, kinds_of: dict[str, frozenset[str]]) -> list[Change]:
        """The folded changes whose kind their table delivers; the buffer is emptied."""
        changes = [c for c in self._changes.values() if c.kind in kinds_of.get(c.table, ALL_KINDS)]
        self._changes.clear()
        return changes

    def clear(self) -> None:
        """Forget the transaction (rolled back, or cut short by a lost connection)."""
        self._changes.clear()
