"""The Pub/Sub message: ``<kind>|<epoch>|<seq>|<frame JSON>``, readable without parsing JSON.

A relay reads the kind, epoch and seq from the short header and forwards the frame bytes
after it as they are. The header kind is one letter (``s`` snapshot, ``d`` diff, ``t``
status); a status carries the seq its epoch was at. Epochs are therefore never allowed to
contain ``|``. The Lua scripts build the same header (see ``gateway.broker.lua``).
"""

from __future__ import annotations

import orjson

from gateway.broker.base import DIFF, SNAPSHOT, STATUS

KIND_CODES = {SNAPSHOT: b"s", DIFF: b"d", STATUS: b"t"}
_KINDS_BY_CODE = {code: kind for kind, code in KIND_CODES.items()}
MAX_EPOCH_LEN = 64


class BadMessage(ValueError):
    """A Pub/Sub message that does not have the header this package writes."""


def check_epoch(epoch: str) -> None:
    """Raise ValueError unless ``epoch`` can be written in a header and resumed by a client."""
    if not isinstance(epoch, str) or not epoch or len(epoch) > MAX_EPOCH_LEN or "|" in epoch:
        raise ValueError(f"epoch must be 1-{MAX_EPOCH_LEN} characters without '|', got {epoch!r}")


def encode_message(kind: str, epoch: str, seq: int, payload: bytes) -> bytes:
    """Build the message published for one frame (the Memory broker's twin of the Lua code)."""
    return b"%s|%s|%d|%s" % (KIND_CODES[kind], epoch.encode(), seq, payload)


def decode_message(data: bytes) -> tuple[str, str, int, bytes]:
    """Split a published message into (kind, epoch, seq, payload).

    Raises:
        BadMessage: When the header is missing or malformed.
    """
    parts = data.split(b"|", 3)
    if len(parts) != 4:
        raise BadMessage("message has no kind|epoch|seq| header")
    code, epoch, seq, payload = parts
    kind = _KINDS_BY_CODE.get(code)
    if kind is None or not seq.isdigit():
        raise BadMessage("message header has an unknown kind or a bad seq")
    return kind, epoch.decode(), int(seq), payload


def snapshot_payload(channel: str, epoch: str, ts: int, row_json: bytes) -> bytes:
    """The seq-0 snapshot frame JSON around already-encoded row bytes.

    Byte-for-byte what ``gateway.core.protocol.snapshot(channel, epoch, 0, ts, row)``
    builds (a test checks it), without decoding and re-encoding the row.
    """
    return (
        b'{"type":"snapshot","channel":' + orjson.dumps(channel) + b',"epoch":' + orjson.dumps(epoch)
        + b',"seq":0,"ts":' + str(int(ts)).encode() + b',"data":' + row_json + b"}"
    )
