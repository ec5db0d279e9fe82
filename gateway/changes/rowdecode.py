"""Decode a binlog row image straight into the store's JSON values, for the common column types.

At 10,000 trucks a second the reader spent most of its core in mysql-replication's row
decoder: each column becomes a Python object (``Decimal`` built from digit strings,
``datetime``), which ``values.RowConverter`` then turns into a float or a string. The truck
table is ints, DECIMALs, VARCHARs and DATETIME(6)s: each can be read from its bytes into
its final JSON value in one step. ``ImageDecoder.build`` gives a decoder only when every
column of the layout is of a type handled here; otherwise the library decodes.

Value rules (those of ``values`` and the store, which reads the text protocol):
- integers as Python ints; DOUBLE as the float the library gives; FLOAT not handled.
- DECIMAL(p, s): the server's text (``-12.50``) parsed as a float, as the store does.
- VARCHAR/CHAR: decoded with the column's character set; a set Python has no codec for
  (``binary``) is not handled.
- DATETIME(n) (DATETIME2 in the log): ISO text with n fraction digits and ``Z``, an
  all-zero six-digit fraction dropped; a zero date (``0000-00-00``) is left to the library
  (``Unhandled``), which gives None.

The rows the fast path decodes are checked against the library's own decoding now and
then (``rowsink``): a disagreement turns the fast path off for the table.
"""

from __future__ import annotations

import codecs
import datetime as dt
import struct
from collections.abc import Callable, Sequence
from typing import Any

from pymysql.charset import charset_by_name
from pymysqlreplication.constants import FIELD_TYPE

from gateway.changes.rowskip import DIG2BYTES
from gateway.core.rows import Row

Reader = Callable[[bytes, int], tuple[Any, int]]  # (data, offset) -> (value, next offset)

_INTS = {FIELD_TYPE.TINY: (1, "b"), FIELD_TYPE.SHORT: (2, "h"), FIELD_TYPE.LONG: (4, "i"),
         FIELD_TYPE.LONGLONG: (8, "q")}
_POW10 = [10 ** n for n in range(10)]


class Unhandled(Exception):
    """This row holds a value the fast path does not render: let the library decode it."""


def _int_reader(size: int, code: str, unsigned: bool) -> Reader:
    unpack = struct.Struct("<" + (code.upper() if unsigned else code)).unpack_from

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        return unpack(data, pos)[0], pos + size

    return read


def _int24_reader(unsigned: bool) -> Reader:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        return int.from_bytes(data[pos:pos + 3], "little", signed=not unsigned), pos + 3

    return read


def _double_reader() -> Reader:
    unpack = struct.Struct("<d").unpack_from

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        return unpack(data, pos)[0], pos + 8

    return read


def _text_reader(prefix: int, encoding: str) -> Reader:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        start = pos + prefix
        end = start + int.from_bytes(data[pos:start], "little")
        try:
            return data[start:end].decode(encoding), end
        except UnicodeDecodeError:
            raise Unhandled("undecodable text") from None

    return read


def _decimal_reader(precision: int, scale: int) -> Reader:
    """MySQL's binary DECIMAL: groups of 9 digits in 4 big-endian bytes, a shorter group at
    the outer ends, the sign in the top bit (negative numbers have every bit inverted)."""
    integral = precision - scale
    lengths = [n for n in (DIG2BYTES[integral % 9], *[4] * (integral // 9), *[4] * (scale // 9),
                           DIG2BYTES[scale % 9]) if n]
    digits = [d for d in (integral % 9, *[9] * (integral // 9), *[9] * (scale // 9), scale % 9) if d]
    size = sum(lengths)
    # Per group: (offset, length, the factor to shift the digits before it, all-ones mask).
    groups = []
    offset = 0
    for length, count in zip(lengths, digits, strict=True):
        groups.append((offset, offset + length, _POW10[count], (1 << (8 * length)) - 1))
        offset += length
    sign_bit = 0x80 << (8 * (lengths[0] - 1)) if lengths else 0
    divisor = 10 ** scale
    first_end = groups[0][1] if groups else 0
    rest = groups[1:]

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        negative = not data[pos] & 0x80
        number = int.from_bytes(data[pos:pos + first_end], "big") ^ sign_bit
        if negative:
            number ^= groups[0][3]
            for start, stop, shift, mask in rest:
                number = number * shift + (int.from_bytes(data[pos + start:pos + stop], "big") ^ mask)
        else:
            for start, stop, shift, _ in rest:
                number = number * shift + int.from_bytes(data[pos + start:pos + stop], "big")
        # int / int is correctly rounded, as float() of the server's text is.
        value = number / divisor if scale else float(number)
        return -value if negative else value, pos + size

    return read


def _datetime2_reader(fsp: int) -> Reader:
    frac_bytes = (fsp + 1) // 2
    size = 5 + frac_bytes
    # The fraction is stored in 1, 2 or 3 bytes, in units of 1/100, 1/10,000 or 1/1,000,000 s.
    unit = (1, 10_000, 100, 1)[frac_bytes]

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        packed = int.from_bytes(data[pos:pos + 5], "big") - 0x8000000000
        ym = packed >> 22
        year, month = divmod(ym, 13)
        day = (packed >> 17) & 0x1F
        if not (year and month and day):
            raise Unhandled("zero date")
        micro = 0
        if frac_bytes:
            frac = int.from_bytes(data[pos + 5:pos + size], "big")
            micro = frac * unit
        if day > 28 or month > 12:
            try:
                dt.date(year, month, day)  # the library's datetime() would refuse it too
            except ValueError:
                raise Unhandled("invalid date") from None
        text = (f"{year:04d}-{month:02d}-{day:02d}T{(packed >> 12) & 0x1F:02d}:"
                f"{(packed >> 6) & 0x3F:02d}:{packed & 0x3F:02d}")
        if fsp:
            fraction = f"{micro:06d}"[:fsp]
            if fraction != "000000":
                text += "." + fraction
        return text + "Z", pos + size

    return read


def _reader(column: Any) -> Reader | None:
    """The reader for one column, or None when its type is left to the library."""
    kind = column.type
    if kind in _INTS:
        size, code = _INTS[kind]
        return _int_reader(size, code, bool(column.unsigned))
    if kind == FIELD_TYPE.INT24:
        return _int24_reader(bool(column.unsigned))
    if kind == FIELD_TYPE.DOUBLE:
        return _double_reader()
    if kind == FIELD_TYPE.NEWDECIMAL:
        return _decimal_reader(column.precision, column.decimals)
    if kind == FIELD_TYPE.DATETIME2:
        return _datetime2_reader(getattr(column, "fsp", 0) or 0)
    if kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.VAR_STRING):
        # The library's rule: PyMySQL's codec for the set's name, else the name itself.
        name = column.character_set_name
        if not name or name == "binary":
            return None
        charset = charset_by_name(name)
        encoding = charset.encoding if charset else name
        try:
            codecs.lookup(encoding)
        except LookupError:
            return None
        return _text_reader(2 if column.max_length > 255 else 1, encoding)
    return None


class ImageDecoder:
    """Reads one table layout's row images into JSON-safe rows."""

    __slots__ = ("_names", "_null_bytes", "_readers")

    def __init__(self, names: list[str], readers: list[Reader]) -> None:
        self._names = names
        self._readers = readers
        self._null_bytes = (len(readers) + 7) // 8

    @classmethod
    def build(cls, columns: Sequence[Any]) -> ImageDecoder | None:
        """A decoder for these columns, or None if one of them is of a type not handled here."""
        readers = [_reader(c) for c in columns]
        if None in readers:
            return None
        return cls([c.name for c in columns], readers)  # type: ignore[arg-type]

    def decode(self, data: bytes, offset: int) -> tuple[int, Row]:
        """The image starting at ``offset`` (a FULL image: every column present): where it
        ends, and its row. Raises ``Unhandled`` for a value left to the library."""
        nulls = data[offset:offset + self._null_bytes]
        pos = offset + self._null_bytes
        row: Row = {}
        for index, (name, read) in enumerate(zip(self._names, self._readers, strict=True)):
            if nulls[index >> 3] & (1 << (index & 7)):
                row[name] = None
            else:
                row[name], pos = read(data, pos)
        return pos, row
