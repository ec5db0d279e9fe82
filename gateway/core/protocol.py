"""WebSocket protocol v1: parsing client frames and building server frames (docs/PROTOCOL.md).

Rules:
- ``parse_client_frame`` raises ``ProtocolError`` and nothing else, whatever it is given.
  Everything that is not a well-formed command is ``bad_request``; the client's ``id``
  is carried on the error whenever it could be read.
- Channel names are not validated here: each one is checked on its own by
  ``channels.truck_id_of``, so one bad channel is reported in ``ack.errors`` while the
  others of the same message still succeed.
- Every server frame is encoded once, to ``bytes``, and sent as-is to every socket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

PROTOCOL_VERSION = 1

BAD_REQUEST = "bad_request"
INVALID_CHANNEL = "invalid_channel"
UNKNOWN_TRUCK = "unknown_truck"
FORBIDDEN = "forbidden"
TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
RATE_LIMITED = "rate_limited"
ERROR_CODES = frozenset({BAD_REQUEST, INVALID_CHANNEL, UNKNOWN_TRUCK, FORBIDDEN, TOO_MANY_SUBSCRIPTIONS, RATE_LIMITED})

STATUS_STATES = frozenset({"live", "stale", "degraded"})
MAX_CHANNELS_PER_MESSAGE = 256
MAX_EPOCH_LEN = 64
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class ProtocolError(Exception):
    """A client message that breaks the protocol.

    Attributes:
        code: One of ``ERROR_CODES``.
        message: Human-readable detail, safe to send back to the client.
        id: The client's message id when it could be read, else None.
    """

    def __init__(self, code: str, message: str, id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Last position a client saw on a channel: an epoch and the seq within it."""

    epoch: str
    seq: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``{"op": "subscribe"}``: channels deduplicated in order, resume keyed by channel."""

    id: int
    channels: tuple[str, ...]
    resume: dict[str, ResumePoint]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """``{"op": "unsubscribe"}``: channels deduplicated in order."""

    id: int
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    """``{"op": "ping"}``: answered with a pong carrying the same id."""

    id: int


ClientCommand = Subscribe | Unsubscribe | Ping


def _is_int64(value: object) -> bool:
    # bool is an int subclass, but `true` is not an id a client meant to send.
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def _channels(obj: dict[str, Any], msg_id: int) -> tuple[str, ...]:
    raw = obj.get("channels")
    if type(raw) is not list or not raw:
        raise ProtocolError(BAD_REQUEST, "channels must be a non-empty list", msg_id)
    if len(raw) > MAX_CHANNELS_PER_MESSAGE:
        raise ProtocolError(BAD_REQUEST, f"at most {MAX_CHANNELS_PER_MESSAGE} channels per message", msg_id)
    if not all(type(c) is str for c in raw):
        raise ProtocolError(BAD_REQUEST, "channels must be strings", msg_id)
    return tuple(dict.fromkeys(raw))


def _resume(obj: dict[str, Any], channels: tuple[str, ...], msg_id: int) -> dict[str, ResumePoint]:
    raw = obj.get("resume")
    # A JSON client serialising an unset optional field often sends null.
    if raw is None:
        return {}
    if type(raw) is not dict:
        raise ProtocolError(BAD_REQUEST, "resume must be an object", msg_id)
    points: dict[str, ResumePoint] = {}
    for channel, point in raw.items():
        if type(point) is not dict:
            raise ProtocolError(BAD_REQUEST, "resume entries must be objects", msg_id)
        epoch, seq = point.get("epoch"), point.get("seq")
        if type(epoch) is not str or len(epoch) > MAX_EPOCH_LEN:
            raise ProtocolError(BAD_REQUEST, f"resume epoch must be a string of at most {MAX_EPOCH_LEN}", msg_id)
        if not _is_int64(seq) or seq < 0:
            raise ProtocolError(BAD_REQUEST, "resume seq must be an integer >= 0", msg_id)
        points[channel] = ResumePoint(epoch=epoch, seq=seq)
    # Resume points for channels not being subscribed have nothing to resume.
    return {c: points[c] for c in channels if c in points}


def parse_client_frame(data: str | bytes) -> ClientCommand:
    """Parse one client text frame into a command.

    Args:
        data: The frame payload, as text or as UTF-8 bytes.

    Returns:
        A ``Subscribe``, ``Unsubscribe`` or ``Ping``.

    Raises:
        ProtocolError: ``bad_request`` for anything that is not a well-formed command
            (including invalid UTF-8, over-deep nesting and out-of-range numbers), with
            ``id`` set when the frame was an object carrying a valid id.
    """
    if not isinstance(data, str | bytes):
        raise ProtocolError(BAD_REQUEST, "frame must be text")
    try:
        obj = orjson.loads(data)
    except (orjson.JSONDecodeError, RecursionError, ValueError, TypeError):
        raise ProtocolError(BAD_REQUEST, "frame is not valid JSON") from None
    if type(obj) is not dict:
        raise ProtocolError(BAD_REQUEST, "frame must be a JSON object")

    msg_id = obj.get("id")
    if not _is_int64(msg_id):
        raise ProtocolError(BAD_REQUEST, "id must be a 64-bit integer")

    op = obj.get("op")
    if op == "subscribe":
        channels = _channels(obj, msg_id)
        return Subscribe(id=msg_id, channels=channels, resume=_resume(obj, channels, msg_id))
    if op == "unsubscribe":
        return Unsubscribe(id=msg_id, channels=_channels(obj, msg_id))
    if op == "ping":
        return Ping(id=msg_id)
    if op is None:
        raise ProtocolError(BAD_REQUEST, "missing op", msg_id)
    raise ProtocolError(BAD_REQUEST, "unknown op", msg_id)


# --- server frames ---------------------------------------------------------------------
# Every builder returns the final bytes: the caller encodes a frame once and hands the
# same object to every subscriber. ``ts`` is always int ms since the Unix epoch.


def welcome(session: str, heartbeat_s: float, limits: Mapping[str, Any]) -> bytes:
    """Build the ``welcome`` frame, the first frame of every connection.

    Args:
        session: Opaque session id.
        heartbeat_s: Seconds between server pings; whole numbers are sent as integers.
        limits: Limits the client must respect (frame size, subscriptions, ...).
    """
    heartbeat: float | int = heartbeat_s
    # `25` rather than `25.0`, as the spec shows it.
    if isinstance(heartbeat_s, float) and heartbeat_s.is_integer():
        heartbeat = int(heartbeat_s)
    frame = {"type": "welcome", "protocol": PROTOCOL_VERSION, "session": session}
    return orjson.dumps({**frame, "heartbeat_s": heartbeat, "limits": dict(limits)})


def channel_error(channel: str, code: str, message: str) -> dict[str, str]:
    """Build one entry of ``ack.errors``: ``{"channel", "code", "message"}``."""
    return {"channel": channel, "code": code, "message": message}


def ack(id: int, op: str, ok: Sequence[str], errors: Sequence[Mapping[str, Any]]) -> bytes:
    """Build the ``ack`` of a subscribe or unsubscribe.

    Args:
        id: The client's message id.
        op: ``"subscribe"`` or ``"unsubscribe"``.
        ok: Channels the operation succeeded for.
        errors: Per-channel failures, built with ``channel_error``.
    """
    errs = [dict(e) for e in errors]
    return orjson.dumps({"type": "ack", "id": id, "op": op, "ok": list(ok), "errors": errs})


def snapshot(channel: str, epoch: str, seq: int, ts: int, data: Mapping[str, Any]) -> bytes:
    """Build a ``snapshot`` frame carrying the whole current row ``data``.

    Args:
        channel: ``truck:<id>``.
        epoch: The poller's epoch.
        seq: Sequence number the next diff follows from.
        ts: Server time of the read.
        data: The whole row.
    """
    frame = {"type": "snapshot", "channel": channel, "epoch": epoch, "seq": seq, "ts": ts}
    return orjson.dumps({**frame, "data": dict(data)})


def diff_frame(
    channel: str,
    epoch: str,
    seq: int,
    ts: int,
    changed: Mapping[str, Any],
    removed: Sequence[str],
) -> bytes:
    """Build a ``diff`` frame (see ``gateway.core.diff``).

    Args:
        channel: ``truck:<id>``.
        epoch: The poller's epoch.
        seq: One more than the previous frame's seq in this epoch.
        ts: Server time of the read.
        changed: Fields that are new or changed, with their current value.
        removed: Fields that disappeared.
    """
    frame = {"type": "diff", "channel": channel, "epoch": epoch, "seq": seq, "ts": ts}
    return orjson.dumps({**frame, "changed": dict(changed), "removed": list(removed)})


def status(channel: str, state: str, reason: str) -> bytes:
    """Build a ``status`` frame.

    Args:
        channel: ``truck:<id>``.
        state: ``live``, ``stale`` or ``degraded``.
        reason: Human-readable detail.

    Raises:
        ValueError: If ``state`` is not one of ``STATUS_STATES``.
    """
    if state not in STATUS_STATES:
        raise ValueError(f"unknown status state {state!r}")
    return orjson.dumps({"type": "status", "channel": channel, "state": state, "reason": reason})


def position(channel: str, epoch: str, seq: int) -> bytes:
    """A multiplexed channel's position (``fleet``): what to send in ``resume`` after a reconnect."""
    return orjson.dumps({"type": "position", "channel": channel, "epoch": epoch, "seq": seq})


def pong(id: int) -> bytes:
    """Build the ``pong`` answering a ping with the same id."""
    return orjson.dumps({"type": "pong", "id": id})


def error(id: int | None, code: str, message: str, channel: str | None = None) -> bytes:
    """Build an ``error`` frame; ``id`` None is sent as ``null`` (id unreadable).

    ``channel`` names the channel an asynchronous error is about (e.g. a truck found not
    to exist after a subscribe made while the database was down).
    """
    frame: dict[str, Any] = {"type": "error", "id": id, "code": code, "message": message}
    if channel is not None:
        frame["channel"] = channel
    return orjson.dumps(frame)
