"""REST query parameters: validated before any query, errors that name the parameter.

Cursors are opaque to clients: a JSON payload, base64url-encoded, with an HMAC-SHA256 tag.
A forged, garbled or foreign cursor (another truck, another window) is a ``ParamError``,
never an exception that reaches the database or becomes a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Collection, Mapping
from typing import Any

import orjson
from multidict import MultiMapping

from gateway.core.rows import parse_utc


class ParamError(ValueError):
    """A bad query parameter: answered with 400 and this message."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = f"{name}: {message}"


def check_known(query: MultiMapping[str], allowed: Collection[str]) -> None:
    """Refuse parameters the endpoint does not take (a typo would silently widen a query),
    and parameters given twice (which one wins would be a guess)."""
    for name in query:
        if name in allowed:
            if len(query.getall(name)) > 1:
                raise ParamError(name, "given more than once")
        elif name != "access_token" and not name.startswith("_"):
            raise ParamError(name, f"unknown parameter (allowed: {', '.join(sorted(allowed))})")


def parse_limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    """``limit``: an integer in [1, maximum]; ``default`` when absent."""
    text = query.get("limit")
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ParamError("limit", f"must be an integer between 1 and {maximum}")
    value = int(text)
    if not 1 <= value <= maximum:
        raise ParamError("limit", f"must be between 1 and {maximum}, got {value}")
    return value


def parse_time(query: Mapping[str, str], name: str) -> dt.datetime | None:
    """An ISO 8601 time (``2026-11-22T10:00:00Z``) as naive UTC, or None when absent."""
    text = query.get(name)
    if text is None:
        return None
    try:
        value = parse_utc(text)
    except ValueError:
        raise ParamError(name, "must be an ISO 8601 time such as 2026-11-22T10:00:00Z") from None
    if not 1970 <= value.year <= 9998:
        raise ParamError(name, "is out of range")
    return value


def parse_choices(query: Mapping[str, str], name: str, allowed: Collection[str]) -> tuple[str, ...] | None:
    """A comma-separated subset of ``allowed``, or None when absent."""
    text = query.get(name)
    if text is None:
        return None
    values = tuple(dict.fromkeys(v.strip() for v in text.split(",")))
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ParamError(name, f"must be one or more of {', '.join(sorted(allowed))}")
    return values


class CursorCodec:
    """Signs and checks keyset cursors."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def encode(self, payload: dict[str, Any]) -> str:
        """An opaque, tamper-evident token for ``payload``."""
        body = orjson.dumps(payload)
        token = base64.urlsafe_b64encode(body + self._tag(body)).rstrip(b"=")
        return token.decode("ascii")

    def decode(self, token: str, expect: Mapping[str, Any]) -> dict[str, Any]:
        """The payload of a token made here whose ``expect`` fields match, else ParamError."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise ParamError("cursor", "is not a cursor this server issued") from None
        body, tag = raw[:-16], raw[-16:]
        if len(raw) <= 16 or not hmac.compare_digest(tag, self._tag(body)):
            raise ParamError("cursor", "is not a cursor this server issued")
        payload = orjson.loads(body)
        for key, value in expect.items():
            if payload.get(key) != value:
                raise ParamError("cursor", f"belongs to another query ({key} differs)")
        return payload


def keyset(payload: Mapping[str, Any]) -> tuple[dt.datetime, int]:
    """The (time, id) keyset stored in a decoded cursor."""
    return dt.datetime.fromisoformat(payload["t"]), int(payload["id"])


def keyset_payload(row: Mapping[str, Any], time_column: str, **scope: Any) -> dict[str, Any]:
    """A cursor payload pointing after ``row`` (its time as naive-UTC ISO and its id)."""
    return {**scope, "t": parse_utc(row[time_column]).isoformat(), "id": row["id"]}
