"""Who the client is behind a reverse proxy: pure functions over the peer and two headers.

Rules:
- ``X-Forwarded-For`` and ``Forwarded`` are believed only when the TCP peer is one of the
  trusted proxies (``--trusted-proxies``); from anyone else they are ignored, since any
  client can send them.
- The chain is read from the right (the hop nearest to us) to the left, skipping hops
  that are themselves trusted proxies; the first address that is not is the client.
  A left part that a client wrote itself is never reached while a trusted proxy appends.
- ``Forwarded`` (RFC 7239) wins over ``X-Forwarded-For`` when both are present; an
  unparsable hop stops the walk at the last good address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (or bare addresses) to networks.

    Raises:
        ValueError: naming the entry that is not a network.
    """
    networks: list[Network] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def forwarded_for(header: str) -> list[str]:
    """The ``for=`` values of an RFC 7239 ``Forwarded`` header, in order."""
    hops: list[str] = []
    for element in header.split(","):
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                hops.append(value.strip())
    return hops


def client_address(
    peer: str | None,
    trusted: Sequence[Network],
    forwarded: str | None = None,
    x_forwarded_for: str | None = None,
) -> str:
    """The address to count a client by.

    Args:
        peer: the TCP peer's address (aiohttp's ``request.remote``).
        trusted: the trusted proxies' networks; empty means headers are never believed.
        forwarded: the ``Forwarded`` header, if any.
        x_forwarded_for: the ``X-Forwarded-For`` header, if any.

    Returns:
        The client's address as text (the peer itself unless a trusted proxy says otherwise).
    """
    current = _address(peer or "")
    if current is None or not trusted or not _trusted(current, trusted):
        return peer or "?"
    if forwarded:
        hops = forwarded_for(forwarded)
    elif x_forwarded_for:
        hops = [h for h in x_forwarded_for.split(",") if h.strip()]
    else:
        hops = []
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # "unknown", an obfuscated name or junk: trust nothing to its left
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def forwarded_proto(peer: str | None, trusted: Sequence[Network], forwarded: str | None,
                    x_forwarded_proto: str | None) -> str | None:
    """The scheme the client used, as a trusted proxy reports it (None when not reported or not trusted)."""
    current = _address(peer or "")
    if current is None or not trusted or not _trusted(current, trusted):
        return None
    if forwarded:
        first = forwarded.split(",")[0]
        for pair in first.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "proto":
                return value.strip().strip('"').lower() or None
        return None
    if x_forwarded_proto:
        return x_forwarded_proto.split(",")[0].strip().lower() or None
    return None
