"""WebSocket wire frames built once and written as-is to many sockets.

Server-to-client frames are never masked (RFC 6455 §5.1), so the complete frame (header
and payload) is the same bytes for every recipient. Building it once per message lets the
fan-out write each socket with a single ``transport.write`` and no per-recipient Python
work; compression is off (per-message deflate would make frames per-socket).
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81


def _frame(first_byte: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        header = bytes((first_byte, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", first_byte, 126, length)
    else:
        header = struct.pack("!BBQ", first_byte, 127, length)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    """A complete, final, unmasked text frame carrying ``payload`` (UTF-8 JSON)."""
    return _frame(_FIN_TEXT, payload)


def payload_of(frame: bytes) -> bytes:
    """The payload of a complete unmasked frame built by ``text_frame``."""
    length = frame[1] & 0x7F
    return frame[2 if length < 126 else 4 if length == 126 else 10:]
