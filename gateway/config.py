"""Settings: one frozen dataclass per run, from flags and ``GATEWAY_*`` environment.

Every option ``--some-option`` also reads ``GATEWAY_SOME_OPTION``; a flag wins over the
environment. Values are converted and range-checked by argparse itself (an environment
value is parsed exactly like the flag), so a bad value anywhere is one line on stderr and
exit code 2, before anything starts.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from gateway.dburl import EMBEDDED_DEFAULT, DbUrl, parse_db_url


def number(kind: type, low: float | None = None, high: float | None = None) -> Callable:
    """An argparse type: ``kind`` parsed from text and checked against [low, high]."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r} is out of range (must be {bounds})")
        return value

    convert.__name__ = kind.__name__
    return convert


def duration(text: str) -> float:
    """An argparse type: seconds, or a number with s, m, h or d (``90``, ``30m``, ``1h``)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    scale = units.get(text[-1:].lower(), 0)
    digits = text[:-1] if scale else text
    try:
        value = float(digits) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90, 30m, 1h or 7d") from None
    if not 0 < value < 10 * 365 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range")
    return value


def _db_url(text: str) -> DbUrl:
    try:
        return parse_db_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option and its environment twin."""

    flag: str
    convert: Callable[[str], Any]
    default: str
    help: str

    @property
    def dest(self) -> str:
        return self.flag.replace("-", "_")

    @property
    def env(self) -> str:
        return "GATEWAY_" + self.dest.upper()


DB = Option("db", _db_url, EMBEDDED_DEFAULT, "database URL: mysql://user:pass@host:port/db or sqlite:///file.db")

SERVE_OPTIONS: tuple[Option, ...] = (
    DB,
    Option("host", str, "127.0.0.1", "address to listen on"),
    Option("port", number(int, 0, 65535), "8080", "port to listen on (0 picks a free one)"),
    Option("poll-interval", number(float, 0.05, 60), "1.0", "seconds between two reads of a watched truck"),
    Option("linger", number(float, 0, 3600), "5.0", "seconds a poller survives its last subscriber"),
    Option("stale-after", number(float, 1, 86400), "120", "a row older than this many seconds is 'stale'"),
    Option("heartbeat", number(float, 1, 3600), "25", "seconds between server pings"),
    Option("max-frame-bytes", number(int, 64, 1 << 20), "4096", "largest client frame; larger closes with 1009"),
    Option("max-subscriptions", number(int, 1, 100000), "200", "channels one connection may watch"),
    Option("send-buffer-bytes", number(int, 4096, 1 << 30), str(1 << 20), "bytes queued per slow client"),
    Option("send-timeout", number(float, 0.1, 3600), "10", "seconds a socket may stay unwritable before 4008"),
    Option("ring-size", number(int, 0, 100000), "64", "recent diffs kept per channel for resume"),
    Option("rate-limit", number(float, 0.1, 100000), "20", "client messages per second per connection (sustained)"),
    Option("rate-burst", number(int, 1, 100000), "40", "client messages allowed in a burst"),
    Option("max-violations", number(int, 1, 100000), "20", "bad or excessive messages before closing with 1008"),
    Option("allowed-origins", _origins, "", "comma-separated browser origins allowed (empty: any)"),
    Option("jwt-secret", str, "", "HS256 key: when set (or --jwt-public-key), every request needs a bearer token"),
    Option("jwt-public-key", str, "", "PEM file of an RS256/ES256 public key verifying bearer tokens"),
    Option("max-connections", number(int, 1, 1_000_000), "20000", "open WebSocket connections in total (503 past it)"),
    Option("max-connections-per-ip", number(int, 1, 1_000_000), "4096", "open WebSockets per client address (429)"),
    Option("handshake-timeout", number(float, 0.1, 3600), "10", "seconds a new TCP connection has to send its request"),
    Option("idle-timeout", number(float, 1, 86400), "300", "seconds a socket with no subscription may stay silent"),
    Option("cursor-secret", str, "", "key signing REST page cursors (share it between replicas; default: random)"),
    Option("pool-min", number(int, 0, 1000), "5", "MySQL pool: connections kept open"),
    Option("pool-max", number(int, 1, 1000), "20", "MySQL pool: most connections"),
    Option("pool-recycle", number(float, 1, 86400), "3600", "MySQL pool: connection lifetime in s (< wait_timeout)"),
    Option("query-timeout", number(float, 0.1, 600), "5", "seconds any one query may take"),
    Option("backoff-max", number(float, 0.1, 3600), "30", "most seconds a failing poller waits between tries"),
    Option("log-level", str.upper, "INFO", "DEBUG, INFO, WARNING or ERROR"),
)


_EMBEDDED = parse_db_url(EMBEDDED_DEFAULT)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``gateway serve`` needs, validated once."""

    db: DbUrl = _EMBEDDED
    host: str = "127.0.0.1"
    port: int = 8080
    poll_interval: float = 1.0
    linger: float = 5.0
    stale_after: float = 120.0
    heartbeat: float = 25.0
    max_frame_bytes: int = 4096
    max_subscriptions: int = 200
    send_buffer_bytes: int = 1 << 20
    send_timeout: float = 10.0
    ring_size: int = 64
    rate_limit: float = 20.0
    rate_burst: int = 40
    max_violations: int = 20
    allowed_origins: tuple[str, ...] = ()
    jwt_secret: str = field(default="", repr=False)  # never in logs or tracebacks
    jwt_public_key: str = ""
    max_connections: int = 20000
    max_connections_per_ip: int = 4096
    handshake_timeout: float = 10.0
    idle_timeout: float = 300.0
    cursor_secret: str = field(default="", repr=False)
    pool_min: int = 5
    pool_max: int = 20
    pool_recycle: float = 3600.0
    query_timeout: float = 5.0
    backoff_max: float = 30.0
    log_level: str = "INFO"

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> Settings:
        """Build settings from parsed arguments, ignoring ones that are not settings."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in vars(ns).items() if k in names})


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


def check_serve_settings(settings: Settings) -> str | None:
    """Cross-field checks argparse cannot do; returns the problem or None."""
    if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        return f"--log-level: {settings.log_level!r} is not DEBUG, INFO, WARNING or ERROR"
    if settings.jwt_secret and settings.jwt_public_key:
        return "give --jwt-secret or --jwt-public-key, not both"
    if settings.jwt_public_key and not os.path.isfile(settings.jwt_public_key):
        return f"--jwt-public-key: no such file {settings.jwt_public_key!r}"
    if settings.pool_min > settings.pool_max:
        return f"--pool-min ({settings.pool_min}) is larger than --pool-max ({settings.pool_max})"
    return None
