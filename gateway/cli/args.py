"""Argument-parsing helpers shared by every subcommand."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable

from gateway.config import Option, number


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option], env: dict[str, str] | None = None) -> None:
    """Add options whose defaults come from ``GATEWAY_*`` (parsed like the flag)."""
    environ = os.environ if env is None else env
    for option in options:
        parser.add_argument(
            f"--{option.flag}",
            dest=option.dest,
            type=option.convert,
            default=environ.get(option.env, option.default),
            help=f"{option.help} [env {option.env}, default {option.default or 'none'}]",
        )


# Shared by ``simulate`` and ``demo``.
HISTORY_INTERVAL = Option("history-interval", number(float, 0, 86400), "60",
                          "seconds between two fuel_metrics rows of a truck (0: every update)")
