"""Headless Chromium (Debian's ``chromium``, driven by Playwright) and a gateway subprocess.

Playwright's own browser download cannot work here, so the browser is the system's
``/usr/bin/chromium`` (``TEST_CHROMIUM`` overrides the path). When Playwright or the
browser is missing, the browser tests fail with the steps that install them: they are
never skipped (``make test`` installs both).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Error, Page

INSTALL_HINT = (
    "install them with: apt-get update && apt-get install -y chromium   and   "
    ".venv/bin/pip install playwright==1.65.2   (make test does both; do NOT run 'playwright install')"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--password-store=basic",
]


def chromium_path() -> str:
    """The Chromium binary to drive; fails the test with install steps when there is none."""
    path = os.environ.get("TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(f"the browser tests need Debian's Chromium at {path}, and it is missing; {INSTALL_HINT}",
                    pytrace=False)
    return path


def require_playwright() -> Any:
    """The ``playwright.async_api`` module; fails the test with install steps when it is missing."""
    try:
        from playwright import async_api
    except ImportError as exc:
        pytest.fail(f"the browser tests need Playwright for Python ({exc}); {INSTALL_HINT}", pytrace=False)
    return async_api


@contextlib.asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed afterwards (Playwright gives each launch a fresh profile)."""
    async_api = require_playwright()
    executable = chromium_path()
    with tempfile.TemporaryDirectory(prefix="chromium-home-") as home:
        async with async_api.async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=executable, headless=True,
                args=CHROMIUM_ARGS,
                env={**os.environ, "HOME": home},
            )
            try:
                yield browser
            finally:
                await browser.close()


class ConsoleWatch:
    """Collects a page's console errors and uncaught exceptions; the tests require none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.log: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)

    def _on_console(self, message: ConsoleMessage) -> None:
        self.log.append(f"{message.type}: {message.text}")
        if message.type == "error":
            self.errors.append(f"console.error: {message.text} ({message.location.get('url', '')})")

    def _on_pageerror(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error.message}\n{error.stack or ''}")

    def assert_clean(self) -> None:
        assert not self.errors, "the page logged errors:\n" + "\n".join(self.errors)


async def start_process(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m gateway <args>`` (serve or demo with ``--port 0``); returns it and its base URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError(f"gateway {' '.join(args)} exited before listening")
        if line.startswith("listening on http://"):
            return proc, line.strip().removeprefix("listening on ")
