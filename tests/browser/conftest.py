"""Fixtures of the browser tests: a live gateway on MariaDB (the server tests' own) and a page on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.browser.support import ConsoleWatch, launch_chromium, require_playwright
from tests.server.conftest import seeded_store, start_gateway  # noqa: F401 (fixtures shared with the server tests)

VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture
def expect():
    """Playwright's ``expect`` with a 10 s default (imported here: a missing Playwright fails tests, not collection)."""
    assertions = require_playwright().expect
    assertions.set_options(timeout=10_000)
    return assertions


@pytest.fixture
async def browser() -> AsyncIterator:
    async with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
async def open_page(browser) -> AsyncIterator[Callable[..., Awaitable[tuple]]]:
    """Factory: ``page, console = await open_page(url, route_ws=None)``; every page starts in a fresh context.

    ``route_ws`` (an async handler) is installed with ``page.route_web_socket`` before the
    page loads, to watch or tamper with the protocol between the page and the gateway.
    """
    contexts = []

    async def open_(url: str, route_ws: Callable | None = None) -> tuple:
        context = await browser.new_context(viewport=VIEWPORT, color_scheme="dark")
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(10_000)
        console = ConsoleWatch(page)
        if route_ws is not None:
            await page.route_web_socket("**/v1/ws*", route_ws)
        await page.goto(url)
        return page, console

    yield open_
    for context in contexts:
        await context.close()
