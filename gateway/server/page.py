"""The live dashboard: ``GET /`` and ``GET /static/{name}``, served from the package's ``static/`` folder.

The page is plain files (HTML, CSS, JavaScript, an icon) shipped in the package: no build
step, no CDN, so it works on a machine with no network but the gateway. Rules:

- Only a flat name from ``static/`` is served: one path segment, no leading dot, a known
  suffix, and a file whose resolved path sits directly in that folder (no ``..``, no
  symlink out). Anything else is a JSON 404 like every other unknown path.
- ``Cache-Control: no-cache`` with a strong ``ETag``: browsers revalidate on every load
  (an upgraded gateway never runs a stale page) and get 304 while nothing changed.
- The page carries no fleet data and stays open when auth is on (``access.py``); the data
  it shows comes from ``/v1/`` with the user's token.
- Files are read on first use and kept while their size and mtime stay the same.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NamedTuple

from aiohttp import web

from gateway.core.etag import none_match

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9]+)+$")

# The page loads only its own files and talks only to its own origin ('self' covers the
# same host's ws:/wss: in CSP Level 3 browsers). It may not be framed (clickjacking).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class _Cached(NamedTuple):
    stamp: tuple[int, int]
    body: bytes
    etag: str


_cache: dict[str, _Cached] = {}


def _load(name: str) -> _Cached | None:
    """The file ``static/<name>``, or None when the name is not a servable file."""
    if not _NAME_RE.match(name) or Path(name).suffix.lower() not in CONTENT_TYPES:
        return None
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    stamp = (info.st_mtime_ns, info.st_size)
    cached = _cache.get(name)
    if cached is None or cached.stamp != stamp:
        try:
            body = path.read_bytes()
        except OSError:
            return None
        cached = _Cached(stamp, body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
        _cache[name] = cached
    return cached


def _respond(request: web.Request, name: str) -> web.Response:
    cached = _load(name)
    if cached is None:
        raise web.HTTPNotFound(reason=f"no such file {request.path!r}")
    headers = {"Cache-Control": "no-cache", "ETag": cached.etag, "X-Content-Type-Options": "nosniff"}
    if name.endswith(".html"):
        headers.update(PAGE_HEADERS)
    if none_match(request.headers.get("If-None-Match"), cached.etag):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = CONTENT_TYPES[Path(name).suffix.lower()]
    return web.Response(body=cached.body, headers=headers)


async def index(request: web.Request) -> web.Response:
    """``GET /``: the dashboard page."""
    return _respond(request, INDEX)


async def static_file(request: web.Request) -> web.Response:
    """``GET /static/{name}``: one of the page's files."""
    return _respond(request, request.match_info["name"])


def add_routes(app: web.Application) -> None:
    """``/`` and ``/static/{name}`` (HEAD too)."""
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
