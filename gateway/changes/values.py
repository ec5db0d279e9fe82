"""Binlog row values to the JSON values a ``SELECT *`` through the MySQL store gives.

The store reads the text protocol (DECIMAL text to float, DATETIME text to ISO 'Z'
strings, then ``gateway.core.rows.json_safe``); mysql-replication decodes the binary row
image into Python values. Most of them already match once passed through ``json_safe``;
the columns below need the server's own text rendering replayed, and each rule was
checked against the store on MariaDB 10.11 (tests/changes/test_values.py):

- DATETIME(n)/TIMESTAMP(n): the text has exactly n fraction digits (``.120`` for
  DATETIME(3)); the store drops only an all-zero six-digit fraction.
- FLOAT: the binlog holds the 32-bit value (1.100000023841858); the server prints it
  with 6 significant digits (1.1).
- BIT(n): the library gives a string of '0'/'1'; the store gets the bytes.
- SET: the library gives a Python set; the server prints members in definition order.
- YEAR 0000: the library adds 1900 to the stored byte 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymysqlreplication.constants import FIELD_TYPE

from gateway.core.rows import Row, json_safe

Convert = Callable[[Any], Any]


def _datetime_text(fsp: int) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, dt.datetime):
            return json_safe(value)
        text = value.isoformat(timespec="seconds")
        if fsp:
            fraction = f"{value.microsecond:06d}"[:fsp]
            if fraction != "000000":
                text += "." + fraction
        return text + "Z"

    return convert


def _float32(value: Any) -> Any:
    return float(f"{value:.6g}") if isinstance(value, float) else json_safe(value)


def _bits(value: Any) -> Any:
    if not isinstance(value, str):
        return json_safe(value)
    return json_safe(int(value, 2).to_bytes((len(value) + 7) // 8, "big"))


def _set_of(members: Sequence[str]) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, set | frozenset):
            return json_safe(value)
        return ",".join(m for m in members if m in value)

    return convert


def _year(value: Any) -> Any:
    return 0 if value == 1900 else value  # the stored byte 0 is the year 0000


def column_converter(column: Any) -> Convert:
    """The converter for one mysql-replication ``Column`` (``json_safe`` unless special)."""
    kind = column.type
    if kind in (FIELD_TYPE.DATETIME2, FIELD_TYPE.TIMESTAMP2):
        return _datetime_text(getattr(column, "fsp", 0) or 0)
    if kind == FIELD_TYPE.FLOAT:
        return _float32
    if kind == FIELD_TYPE.BIT:
        return _bits
    if kind == FIELD_TYPE.SET and column.set_values:
        return _set_of(list(column.set_values))
    if kind == FIELD_TYPE.YEAR:
        return _year
    return json_safe


class RowConverter:
    """Turns one table's decoded binlog rows into store-identical JSON-safe rows."""

    __slots__ = ("_converts", "_names")

    def __init__(self, columns: Sequence[Any]) -> None:
        self._names = [c.name for c in columns]
        self._converts = [column_converter(c) for c in columns]

    def __call__(self, values: Mapping[str, Any]) -> Row:
        # The library fills the dict in column order, so the two lists line up with it.
        return {name: convert(value) if value is not None else None
                for name, convert, value in zip(self._names, self._converts, values.values(), strict=True)}


_SHAPE = ("fsp", "precision", "decimals", "max_length", "length_size", "bytes", "size", "unsigned",
          "character_set_name")


def layout_of(columns: Sequence[Any]) -> tuple:
    """What identifies a table's layout in the binlog: each column's name, type and shape
    (an ALTER that only widens a DECIMAL changes how its bytes are read, not its name)."""
    return tuple((c.name, c.type, *(getattr(c, a, None) for a in _SHAPE), tuple(c.set_values or ()))
                 for c in columns)


class ConverterCache:
    """One ``RowConverter`` per table layout; a changed layout (ALTER TABLE) gets a new one.

    The library builds fresh column objects for every table-map event (one per
    transaction), so converters are looked up by what the columns are, not by identity.
    """

    def __init__(self, limit: int = 64) -> None:
        self._by_layout: dict[tuple, RowConverter] = {}
        self._limit = limit

    def get(self, table: str, columns: Sequence[Any]) -> RowConverter:
        """The converter for ``table`` with these columns."""
        key = (table, layout_of(columns))
        conv = self._by_layout.get(key)
        if conv is None:
            if len(self._by_layout) >= self._limit:
                self._by_layout.clear()  # many layouts means DDL churn; rebuilding is cheap
            conv = self._by_layout[key] = RowConverter(columns)
        return conv
