"""Running a command's coroutine: on uvloop when installed, logging set up once."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any


def configure_logging(level: str) -> None:
    """One line per record on stderr."""
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run the main coroutine on uvloop when it is installed; returns its exit code."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)
