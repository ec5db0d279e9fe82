"""Entity tags: the one ``If-None-Match`` rule of the REST API and the page's files.

Rules (RFC 9110 §13.1.2): the header is ``*`` or a comma-separated list of entity tags; the
comparison is weak (``W/"x"`` matches ``"x"``), so a cache that weakened a tag still gets its
304. A tag is matched whole, never as a substring of another.
"""

from __future__ import annotations


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or ``*``): the response may be a 304."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
