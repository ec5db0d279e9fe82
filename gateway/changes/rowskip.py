"""Read only the key of a binlog row image, to drop rows of unwatched trucks cheaply.

mysql-replication decodes every column of every row into Python values, both images of
an UPDATE: about 120 us per truck row here, which at 10,000 trucks a second is more than
a core spent on trucks nobody watches. A row image is a null bitmap followed by the
non-NULL columns, each either of a size fixed by the table map or prefixed by its
length, so the key can be found by stepping over columns without decoding them (a few
us per row). Only rows whose key is wanted are then decoded by the library itself.

The walk is checked on every row that is decoded: the library must end where the walk
said the row ends, with the same key. A disagreement raises ``WalkMismatch``; the reader
then turns walking off for the table and re-reads the transaction the library's way.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from pymysql.charset import charset_by_name
from pymysqlreplication.constants import FIELD_TYPE

DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
_FIXED = {
    FIELD_TYPE.TINY: 1, FIELD_TYPE.SHORT: 2, FIELD_TYPE.INT24: 3, FIELD_TYPE.LONG: 4, FIELD_TYPE.LONGLONG: 8,
    FIELD_TYPE.FLOAT: 4, FIELD_TYPE.DOUBLE: 8, FIELD_TYPE.YEAR: 1, FIELD_TYPE.DATE: 3, FIELD_TYPE.TIME: 3,
    FIELD_TYPE.DATETIME: 8, FIELD_TYPE.TIMESTAMP: 4,
}
_TEMPORAL2 = {FIELD_TYPE.DATETIME2: 5, FIELD_TYPE.TIMESTAMP2: 4, FIELD_TYPE.TIME2: 3}
_INTS = {FIELD_TYPE.TINY: "<b", FIELD_TYPE.SHORT: "<h", FIELD_TYPE.LONG: "<i", FIELD_TYPE.LONGLONG: "<q"}


class WalkMismatch(RuntimeError):
    """The walk and the library disagree about a row: walking must not be trusted."""

    def __init__(self, table: str, detail: str) -> None:
        super().__init__(f"{table}: {detail}")
        self.table = table
        self.detail = detail


def _decimal_size(precision: int, decimals: int) -> int:
    integral = precision - decimals
    return (integral // 9) * 4 + DIG2BYTES[integral % 9] + (decimals // 9) * 4 + DIG2BYTES[decimals % 9]


def _step(column: Any) -> int | None:
    """Bytes of a fixed-size column (> 0), minus the length-prefix size (< 0), None if unknown."""
    kind = column.type
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in _TEMPORAL2:
        return _TEMPORAL2[kind] + (getattr(column, "fsp", 0) + 1) // 2
    if kind == FIELD_TYPE.NEWDECIMAL:
        return _decimal_size(column.precision, column.decimals)
    if kind == FIELD_TYPE.BIT:
        return column.bytes
    if kind in (FIELD_TYPE.ENUM, FIELD_TYPE.SET):
        return column.size
    if kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.VAR_STRING):
        return -2 if column.max_length > 255 else -1  # the library's own rule
    if kind in (FIELD_TYPE.BLOB, FIELD_TYPE.GEOMETRY, FIELD_TYPE.JSON):
        return -column.length_size
    return None


def _key_reader(column: Any) -> Any:
    """A function(bytes of the value) -> key, or None when the key type is not handled."""
    kind = column.type
    if kind in _INTS:
        fmt = _INTS[kind].upper() if column.unsigned else _INTS[kind]
        return lambda raw: struct.unpack(fmt, raw)[0]
    if kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING, FIELD_TYPE.VAR_STRING):
        # Decode as the library does: its charset name, mapped through PyMySQL when known;
        # a name Python has no codec for ("binary") leaves the bytes as they are.
        name = column.character_set_name
        charset = charset_by_name(name) if name else None
        encoding = (charset.encoding if charset else name) or "utf-8"

        def text(raw: bytes) -> Any:
            try:
                return raw.decode(encoding)
            except LookupError:
                return raw

        return text
    return None


class ImageWalker:
    """Steps over one table's row images; built from the table map's columns."""

    __slots__ = ("_key_index", "_key_value", "_null_bytes", "_steps")

    def __init__(self, steps: list[int], key_index: int, key_value: Any) -> None:
        self._steps = steps
        self._key_index = key_index
        self._key_value = key_value
        self._null_bytes = (len(steps) + 7) // 8

    @classmethod
    def build(cls, columns: Sequence[Any], key: str) -> ImageWalker | None:
        """A walker for these columns, or None if some column or the key cannot be walked."""
        steps = [_step(c) for c in columns]
        names = [c.name for c in columns]
        if None in steps or key not in names:
            return None
        key_index = names.index(key)
        key_value = _key_reader(columns[key_index])
        if key_value is None:
            return None
        return cls(steps, key_index, key_value)  # type: ignore[arg-type]

    def walk(self, data: bytes, offset: int) -> tuple[int, Any]:
        """Where the image starting at ``offset`` ends, and its key (None if NULL)."""
        nulls = data[offset:offset + self._null_bytes]
        pos = offset + self._null_bytes
        key = None
        key_index = self._key_index
        for index, step in enumerate(self._steps):
            if nulls[index >> 3] & (1 << (index & 7)):
                continue
            if step > 0:
                size = step
                start = pos
            else:
                start = pos - step
                size = int.from_bytes(data[pos:start], "little")
            if index == key_index:
                key = self._key_value(data[start:start + size])
            pos = start + size
        return pos, key
