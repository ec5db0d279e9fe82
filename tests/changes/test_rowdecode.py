"""The fast row-image readers against independent encodings of MySQL's binary formats."""

from __future__ import annotations

import datetime as dt
import decimal
import random

import pytest

from gateway.changes.rowdecode import Unhandled, _datetime2_reader, _decimal_reader
from gateway.changes.rowskip import DIG2BYTES

PRECISIONS = [(6, 2), (5, 2), (9, 6), (10, 1), (30, 10), (10, 0), (18, 9), (4, 1), (9, 0), (20, 0), (27, 18),
              (1, 1), (65, 30)]


def encode_decimal(text: str, precision: int, scale: int) -> bytes:
    """MySQL's binary DECIMAL, written from its documented layout."""
    value = decimal.Decimal(text)
    negative = value < 0
    whole, _, fraction = f"{abs(value):.{scale}f}".partition(".")
    integral = precision - scale
    whole, fraction = whole.rjust(integral, "0"), fraction.ljust(scale, "0")
    out = b""
    lead = integral % 9
    if lead:
        out += int(whole[:lead]).to_bytes(DIG2BYTES[lead], "big")
    for i in range(integral // 9):
        out += int(whole[lead + 9 * i:lead + 9 * i + 9]).to_bytes(4, "big")
    for i in range(scale // 9):
        out += int(fraction[9 * i:9 * i + 9]).to_bytes(4, "big")
    if scale % 9:
        out += int(fraction[scale - scale % 9:]).to_bytes(DIG2BYTES[scale % 9], "big")
    raw = bytearray(out)
    raw[0] ^= 0x80
    return bytes(b ^ 0xFF for b in raw) if negative else bytes(raw)


@pytest.mark.parametrize(("precision", "scale"), PRECISIONS)
def test_decimals_read_as_the_float_of_their_text(precision, scale):
    rng = random.Random(precision * 100 + scale)
    read = _decimal_reader(precision, scale)
    for _ in range(500):
        whole = rng.randrange(10 ** (precision - scale)) if rng.random() < 0.9 else 0
        frac = rng.randrange(10 ** scale) if scale else 0
        sign = rng.choice(["", "-"])
        text = f"{sign}{whole}.{frac:0{scale}d}" if scale else f"{sign}{whole}"
        raw = encode_decimal(text, precision, scale)
        value, end = read(b"ab" + raw + b"cd", 2)
        assert (value, end) == (float(text), 2 + len(raw)), text


def encode_datetime2(when: dt.datetime, fsp: int) -> bytes:
    packed = ((when.year * 13 + when.month) << 22 | when.day << 17 | when.hour << 12 | when.minute << 6
              | when.second) + 0x8000000000
    frac_bytes = (fsp + 1) // 2
    unit = (1, 10_000, 100, 1)[frac_bytes]
    fraction = (when.microsecond // unit).to_bytes(frac_bytes, "big") if frac_bytes else b""
    return packed.to_bytes(5, "big") + fraction


@pytest.mark.parametrize("fsp", range(7))
def test_datetimes_read_as_the_servers_text_with_its_fraction_digits(fsp):
    rng = random.Random(fsp)
    read = _datetime2_reader(fsp)
    for _ in range(300):
        micro = rng.choice([0, rng.randrange(10 ** 6)])
        micro -= micro % 10 ** (6 - fsp)  # what a DATETIME(fsp) can hold
        when = dt.datetime(rng.randrange(1, 9999), rng.randrange(1, 13), rng.randrange(1, 29), rng.randrange(24),
                           rng.randrange(60), rng.randrange(60), micro)
        raw = encode_datetime2(when, fsp)
        text, end = read(raw, 0)
        expected = when.isoformat(timespec="seconds")
        digits = f"{micro:06d}"[:fsp]
        if fsp and digits != "000000":
            expected += "." + digits
        assert (text, end) == (expected + "Z", len(raw))


def test_a_zero_or_impossible_date_is_left_to_the_library():
    read = _datetime2_reader(0)
    with pytest.raises(Unhandled):
        read((0x8000000000).to_bytes(5, "big"), 0)  # 0000-00-00 00:00:00
    feb_30 = ((2026 * 13 + 2) << 22 | 30 << 17) + 0x8000000000
    with pytest.raises(Unhandled):
        read(feb_30.to_bytes(5, "big"), 0)
