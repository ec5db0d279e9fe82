"""``GET /`` and ``/static/…``: content types, revalidation, no traversal, open with auth on (no browser)."""

from __future__ import annotations

import pytest
from yarl import URL

from gateway.server.page import CONTENT_TYPES, STATIC_DIR

TYPES = {"/": "text/html; charset=utf-8", "/static/main.js": "text/javascript; charset=utf-8",
         "/static/style.css": "text/css; charset=utf-8", "/static/favicon.svg": "image/svg+xml"}


async def test_page_and_its_files_are_served_with_types_and_no_cache(start_gateway):
    gw = await start_gateway()
    for path, content_type in TYPES.items():
        async with gw.session.get(gw.url + path) as response:
            assert response.status == 200, path
            assert response.headers["Content-Type"] == content_type
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            etag = response.headers["ETag"]
            body = await response.read()
        assert body
        async with gw.session.get(gw.url + path, headers={"If-None-Match": etag}) as again:
            assert again.status == 304
            assert await again.read() == b""
        # One tag rule for the page and REST: a list and weak tags match, a longer tag does not.
        async with gw.session.get(gw.url + path, headers={"If-None-Match": f'"x", W/{etag}'}) as listed:
            assert listed.status == 304
        async with gw.session.get(gw.url + path, headers={"If-None-Match": etag[:-1] + 'x"'}) as other:
            assert other.status == 200
        async with gw.session.get(gw.url + path, headers={"If-None-Match": etag + "-gzip"}) as sub:
            assert sub.status == 200  # another tag that merely contains this one (a substring test matched it)
    async with gw.session.get(gw.url + "/") as response:
        html = await response.text()
        csp = response.headers["Content-Security-Policy"]
    assert '<script type="module" src="/static/main.js"></script>' in html
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    async with gw.session.head(gw.url + "/static/main.js") as head:
        assert head.status == 200 and head.headers["Content-Type"] == TYPES["/static/main.js"]


def test_every_shipped_file_has_a_content_type():
    # README.md is for people reading the package (the module map), not for the page: never served.
    names = [p.name for p in STATIC_DIR.iterdir() if p.name != "README.md"]
    assert {"index.html", "main.js", "client.js", "style.css", "favicon.svg"} <= set(names)
    for name in names:
        assert any(name.endswith(suffix) for suffix in CONTENT_TYPES), name


@pytest.mark.parametrize("raw", [
    "/static/..%2Fserver%2Fpage.py",
    "/static/%2e%2e%2fserver%2fpage.py",
    "/static/%2E%2E",
    "/static/..",
    "/static/.main.js",
    "/static/main.js%00.css",
    "/static/main.js%2F",
    "/static/page.py",
    "/static/__init__.py",
    "/static/",
    "/static//etc/passwd",
    "/static/..%5Cserver%5Cpage.py",
    "/static/nope.js",
    "/static/README.md",
    "/index.html/../server/page.py",
])
async def test_nothing_outside_the_static_folder_is_served(start_gateway, raw):
    gw = await start_gateway()
    async with gw.session.get(URL(gw.url + raw, encoded=True), allow_redirects=False) as response:
        assert response.status == 404, raw
        assert response.headers["Content-Type"].startswith("application/json")
        body = await response.text()
    assert "import" not in body and "root:" not in body


async def test_page_stays_open_when_auth_is_on(start_gateway):
    gw = await start_gateway(jwt_secret="page-test-secret-0123456789abcdef")
    for path in TYPES:
        async with gw.session.get(gw.url + path) as response:
            assert response.status == 200, path
    async with gw.session.get(gw.url + "/v1/trucks") as response:
        assert response.status == 401
