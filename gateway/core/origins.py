"""Browser origins: normalised text and the one rule deciding which may open a socket.

Rules:
- An origin is ``scheme://host[:port]`` compared as a whole, after normalising: scheme and
  host lower-cased, the default port (80 for http, 443 for https) dropped, no path, no
  trailing slash. ``HTTPS://Ops.Example.com:443/`` and ``https://ops.example.com`` are one.
- With no allowlist every origin passes (the gateway runs open, or trusts its tokens alone).
- With one, an origin passes when it is on the list, or when it is the gateway's own
  origin *and* its host is one of the configured public hostnames. The request's ``Host``
  header alone proves nothing: a DNS-rebinding page sends a ``Host`` and an ``Origin``
  that agree, both naming the attacker's hostname.
- ``null`` and anything unparsable never pass an allowlist.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalise_origin(text: str) -> str | None:
    """``scheme://host[:port]`` in canonical form, or None when ``text`` is not an origin."""
    text = text.strip()
    if not text or text == "null":
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalise_host(text: str) -> str:
    """A hostname lower-cased, without a trailing dot or IPv6 brackets (``Gw.Example.COM.`` → ``gw.example.com``)."""
    return text.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def own_origin(scheme: str, host_header: str | None) -> str | None:
    """The origin a page served by this request's host would have."""
    if not host_header:
        return None
    return normalise_origin(f"{scheme}://{host_header}")


def origin_allowed(
    origin: str | None,
    allowed: Collection[str],
    public_hosts: Collection[str] = (),
    request_origin: str | None = None,
) -> bool:
    """Whether a browser page from ``origin`` may open a socket.

    Args:
        origin: the ``Origin`` header, or None (not a browser: tokens alone decide).
        allowed: normalised allowlist (empty: any origin).
        public_hosts: normalised hostnames this gateway is served under.
        request_origin: the request's own origin (scheme as the client used it, ``Host``).
    """
    if origin is None or not allowed:
        return True
    normal = normalise_origin(origin)
    if normal is None:
        return False
    if normal in allowed:
        return True
    if request_origin is None or normal != request_origin:
        return False
    host = urlsplit(normal).hostname or ""
    return normalise_host(host) in public_hosts
