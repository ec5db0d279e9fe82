"""Channel names: ``truck:<truck_id>``.

Rules:
- A truck id is 1-64 ASCII characters: a letter or digit, then letters, digits, ``_``,
  ``.`` or ``-``. Nothing else is ever used in a query or a channel name, so unicode
  look-alikes, whitespace and a trailing newline are all rejected.
- A bad channel raises ``ProtocolError("invalid_channel")`` so it can be reported in
  ``ack.errors`` without failing the other channels of the same message.
"""

from __future__ import annotations

import re

from gateway.core.protocol import INVALID_CHANNEL, ProtocolError

CHANNEL_PREFIX = "truck:"
TRUCK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# fullmatch (not `$`, which also matches before a trailing newline) and re.ASCII so the
# classes can never widen to unicode letters or digits.
_TRUCK_ID_RE = re.compile(TRUCK_ID_PATTERN.removeprefix("^").removesuffix("$"), re.ASCII)
_MAX_ECHO = 80


def is_valid_truck_id(truck_id: object) -> bool:
    """Tell whether ``truck_id`` is a well-formed truck id.

    Args:
        truck_id: Any value; only a matching ``str`` is valid.

    Returns:
        True when it matches ``TRUCK_ID_PATTERN`` exactly.
    """
    return type(truck_id) is str and _TRUCK_ID_RE.fullmatch(truck_id) is not None


def truck_id_of(channel: object) -> str:
    """Extract the truck id from a channel name.

    Args:
        channel: A channel name as the client sent it.

    Returns:
        The truck id.

    Raises:
        ProtocolError: ``invalid_channel`` when it is not ``truck:`` plus a valid id.
    """
    if type(channel) is str and channel.startswith(CHANNEL_PREFIX):
        truck_id = channel[len(CHANNEL_PREFIX) :]
        if is_valid_truck_id(truck_id):
            return truck_id
    # Echo only a bounded, repr-escaped prefix: the name came from an untrusted client.
    shown = repr(channel[:_MAX_ECHO]) if isinstance(channel, str) else type(channel).__name__
    raise ProtocolError(INVALID_CHANNEL, f"channel must be '{CHANNEL_PREFIX}' + a truck id, got {shown}")


def channel_of(truck_id: str) -> str:
    """Build the channel name of a truck.

    Args:
        truck_id: The truck id, as stored in ``truck_sensors_cache``.

    Returns:
        ``truck:<truck_id>``.
    """
    return CHANNEL_PREFIX + truck_id
