"""Database values to JSON-safe values, in one place.

Rules (JSON values of rows): DECIMAL becomes a JSON number (float), DATETIME an ISO 8601 UTC string
ending in ``Z`` (microseconds only when present), NULL ``None``. A naive datetime is read
as UTC because the fleet stores every time in UTC. Bytes become text when they are UTF-8,
base64 otherwise, so no column can make a frame unencodable.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

Row = dict[str, Any]


def format_utc(value: dt.datetime) -> str:
    """Render a datetime as ISO 8601 UTC with a trailing ``Z``.

    Args:
        value: naive (taken as UTC) or aware datetime.

    Returns:
        ``2026-11-22T10:00:00Z`` or ``2026-11-22T10:00:00.123456Z``.
    """
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def parse_utc(text: str) -> dt.datetime:
    """Parse an ISO 8601 time into a naive UTC datetime (the form the stores bind).

    Accepts a trailing ``Z`` or an offset; a time without an offset is taken as UTC.

    Raises:
        ValueError: the text is not an ISO 8601 date-time.
    """
    if not isinstance(text, str) or not text or len(text) > 64:
        raise ValueError("not an ISO 8601 time")
    value = dt.datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # an offset pushing the time past year 1 or 9999
            raise ValueError("time out of range") from None
    return value


def json_safe(value: Any) -> Any:
    """Turn one database value into a value orjson renders as the JSON value rules say."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return format_utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    return str(value)


def json_safe_row(row: Mapping[str, Any]) -> Row:
    """Convert every value of a database row (column order kept)."""
    return {key: json_safe(value) for key, value in row.items()}
