"""Settings: one frozen dataclass per run, each option declared once, as a field.

A field's metadata carries its flag text, converter and help; ``gateway.cli`` turns every
field into ``--some-option`` with the environment twin ``GATEWAY_SOME_OPTION`` (a flag
wins over the environment). Values are converted and range-checked by the converters
below, so a bad value anywhere is one line on stderr and exit code 2, before anything
starts. Converters raise ``argparse.ArgumentTypeError``, which argparse reports as one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from gateway.core.clientaddr import Network, parse_networks
from gateway.core.origins import normalise_host, normalise_origin
from gateway.store.url import EMBEDDED_DEFAULT, DbUrl, parse_db_url


def number(kind: type, low: float | None = None, high: float | None = None) -> Callable[[str], Any]:
    """A converter: ``kind`` parsed from text and checked against [low, high]."""

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
    """A converter: seconds, or a number with s, m, h or d (``90``, ``30m``, ``1h``)."""
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


def db_url(text: str) -> DbUrl:
    """A converter: a database URL (``gateway.store.url``)."""
    try:
        return parse_db_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds_or_off(text: str) -> float:
    """A converter: a duration as ``duration`` reads it, or ``0`` for "no limit"."""
    if text.strip() in ("0", "0s", "off", ""):
        return 0.0
    return duration(text)


def origins(text: str) -> tuple[str, ...]:
    """A converter: comma-separated browser origins, normalised (``gateway.core.origins``)."""
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        normal = normalise_origin(part)
        if normal is None:
            raise argparse.ArgumentTypeError(f"{part!r} is not an origin such as https://ops.example.com")
        out.append(normal)
    return tuple(out)


def hostnames(text: str) -> tuple[str, ...]:
    """A converter: comma-separated hostnames, lower-cased."""
    return tuple(normalise_host(h) for h in text.split(",") if h.strip())


def networks(text: str) -> tuple[Network, ...]:
    """A converter: comma-separated CIDRs or addresses."""
    try:
        return parse_networks(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def flag(text: str) -> bool:
    """A converter: true/false, yes/no, on/off, 1/0."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def choice(*allowed: str) -> Callable[[str], str]:
    """A converter: one of ``allowed`` (case-insensitive)."""

    def convert(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(allowed)}")
        return value

    convert.__name__ = "choice"
    return convert


def broker_url(text: str) -> str:
    """A converter: empty (no cluster), ``redis://host:port/db`` or ``memory://name``."""
    text = text.strip()
    if not text:
        return ""
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in ("redis", "rediss", "unix", "memory"):
        raise argparse.ArgumentTypeError(f"unsupported broker URL {text.split('@')[-1]!r} (use redis://host:port/db)")
    return text


def log_level(text: str) -> str:
    """A converter: DEBUG, INFO, WARNING or ERROR."""
    value = text.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise argparse.ArgumentTypeError(f"{text!r} is not DEBUG, INFO, WARNING or ERROR")
    return value


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


def setting(default: str, convert: Callable[[str], Any], help: str, *, secret: bool = False) -> Any:
    """Declare one option as a Settings field: its default is ``convert(default)``."""
    return field(default=convert(default), repr=not secret,
                 metadata={"default": default, "convert": convert, "help": help})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``gateway serve`` needs, validated once. Each field is one option."""

    db: DbUrl = setting(  # noqa: RUF009 - the declaration helper returns a dataclasses.field
        EMBEDDED_DEFAULT, db_url, "database URL: mysql://user:pass@host:port/db or sqlite:///file.db")
    host: str = setting("127.0.0.1", str, "address to listen on")
    port: int = setting("8080", number(int, 0, 65535), "port to listen on (0 picks a free one)")
    poll_interval: float = setting("1.0", number(float, 0.05, 60), "seconds between two reads of a watched truck")
    linger: float = setting("5.0", number(float, 0, 3600), "seconds a poller survives its last subscriber")
    stale_after: float = setting("120", number(float, 1, 86400), "a row older than this many seconds is 'stale'")
    heartbeat: float = setting("25", number(float, 1, 3600), "seconds between server pings")
    max_frame_bytes: int = setting("4096", number(int, 64, 1 << 20), "largest client frame; larger closes with 1009")
    max_subscriptions: int = setting("200", number(int, 1, 100000), "channels one connection may watch")
    send_buffer_bytes: int = setting(str(1 << 20), number(int, 4096, 1 << 30), "bytes queued per slow client")
    send_timeout: float = setting("10", number(float, 0.1, 3600), "seconds a socket may stay unwritable before 4008")
    ring_size: int = setting("64", number(int, 0, 100000), "recent diffs kept per channel for resume")
    rate_limit: float = setting("20", number(float, 0.1, 100000), "client messages per second per connection")
    rate_burst: int = setting("40", number(int, 1, 100000), "client messages allowed in a burst")
    max_violations: int = setting("20", number(int, 1, 100000),
                                  "violation budget: bad or excessive messages (and unknown trucks) before 1008")
    violation_decay: float = setting("2", number(float, 0, 100000), "violations forgiven per second (leaky bucket)")
    allowed_origins: tuple[str, ...] = setting("", origins, "comma-separated browser origins allowed (empty: any)")
    public_hosts: tuple[str, ...] = setting(
        "localhost,127.0.0.1,::1", hostnames,
        "hostnames the gateway's own page is served under: its same-origin page passes --allowed-origins")
    trusted_proxies: tuple[Network, ...] = setting(
        "", networks, "CIDRs of reverse proxies whose X-Forwarded-For/Forwarded name the client (empty: none)")
    jwt_secret: str = setting("", str, "HS256 key: when set (or --jwt-public-key), every request needs a bearer token;"
                              " prefer GATEWAY_JWT_SECRET or --jwt-secret-file (a flag shows in the process list)",
                              secret=True)
    jwt_secret_file: str = setting("", str, "file holding the HS256 key (instead of --jwt-secret)")
    jwt_public_key: str = setting("", str, "PEM file of an RS256/ES256 public key verifying bearer tokens")
    jwt_issuer: str = setting("", str, "required 'iss' of every token (empty: not checked)")
    jwt_audience: str = setting("", str, "required 'aud' of every token (empty: not checked)")
    jwt_max_lifetime: float = setting("0", seconds_or_off,
                                      "longest token lifetime accepted (exp - iat, e.g. 12h; 0: no limit)")
    max_connections: int = setting("20000", number(int, 1, 1_000_000), "open WebSockets in total (503 past it)")
    max_connections_per_ip: int = setting("4096", number(int, 1, 1_000_000), "open WebSockets per client address")
    handshake_timeout: float = setting("10", number(float, 0.1, 3600), "seconds a connection has to send its request")
    keepalive_timeout: float = setting("15", number(float, 0.1, 3600),
                                       "seconds an HTTP connection may sit idle or send its next request's headers")
    idle_timeout: float = setting("300", number(float, 1, 86400), "seconds a socket with no subscription may be silent")
    max_unverified_per_connection: int = setting(
        "50", number(int, 0, 100000), "subscriptions one connection may hold to trucks not checked (database down)")
    max_unverified: int = setting("1000", number(int, 0, 1_000_000),
                                  "pollers of unchecked trucks in total while the database is down")
    unknown_truck_ttl: float = setting("5", number(float, 0, 3600),
                                       "seconds a missing truck id is remembered (no query; 0: not remembered)")
    rest_concurrency: int = setting("4", number(int, 1, 10000), "REST requests doing database work at once")
    rest_queue: int = setting("1024", number(int, 0, 1_000_000), "REST requests waiting for a turn; past it 503 busy")
    rest_queue_timeout: float = setting("5", number(float, 0.01, 600), "longest wait for a REST turn, then 503 busy")
    rest_rate_limit: float = setting("100", number(float, 0, 1_000_000),
                                     "REST requests per second per client address (0: no limit); past it 429")
    rest_rate_burst: int = setting("200", number(int, 1, 1_000_000), "REST requests a client may burst")
    readyz_detail: bool = setting("false", flag, "let /readyz name the database and its errors to anyone")
    cursor_secret: str = setting("", str, "key signing REST page cursors (share it between replicas; default: random)",
                                 secret=True)
    cursor_secret_file: str = setting("", str, "file holding the cursor key (instead of --cursor-secret)")
    pool_min: int = setting("5", number(int, 0, 1000), "MySQL pool: connections kept open")
    pool_max: int = setting("20", number(int, 1, 1000), "MySQL pool: most connections")
    pool_live_reserve: int = setting("4", number(int, 0, 1000),
                                     "MySQL pool: connections only the live path (pollers, /readyz) may use")
    pool_recycle: float = setting("3600", number(float, 1, 86400), "MySQL pool: connection life in s (< wait_timeout)")
    query_timeout: float = setting("5", number(float, 0.1, 600), "seconds any one query may take")
    backoff_max: float = setting("30", number(float, 0.1, 3600), "most seconds a failing poller waits between tries")
    log_level: str = setting("INFO", log_level, "DEBUG, INFO, WARNING or ERROR")
    broker: str = setting("", broker_url, "cluster broker, redis://host:port/db: processes sharing it (and the prefix) "
                          "form one cluster with one database reader per truck", secret=True)
    broker_prefix: str = setting("gateway", str, "key prefix of the cluster in the broker")
    lease_ttl: float = setting("5", number(float, 0.5, 3600), "seconds a reader lease lives unrenewed (failover)")
    workers: int = setting("1", number(int, 1, 256), "serving processes on the same host and port")
    fleet_refresh: float = setting("5", number(float, 0.1, 3600), "seconds between two listings of the trucks "
                                   "while the fleet or alerts channel is subscribed (new trucks appear)")
    fleet_linger: float = setting("30", number(float, 0, 86400), "seconds the fleet stays watched (and logged) "
                                  "after its last subscriber left: the window a dashboard can resume in")
    fleet_log_size: int = setting("50000", number(int, 1, 10_000_000), "truck frames kept for fleet resume")
    low_fuel_pct: float = setting("15", number(float, 0, 100), "alerts: fuel_low below this fuel level (percent)")
    alerts_poll: float = setting("2", number(float, 0.1, 3600), "alerts: seconds between reads of the DTC "
                                 "and refuel tables")
    alerts_log_size: int = setting("10000", number(int, 1, 10_000_000), "alerts: events kept for resume and REST")
    changes: str = setting("poll", choice("poll", "binlog"),
                           "change source of truck_sensors_cache: poll (read each watched row every --poll-interval)"
                           " or binlog (follow the MySQL/MariaDB binary log; polls while the binlog is unusable)")
    binlog_server_id: int = setting("0", number(int, 0, 4294967295),
                                    "replica id of this process's binlog reader, unique among the server's replicas"
                                    " (0: random in 2147483648..4294967295; with --workers, worker i uses id + i)")
    binlog_retry: float = setting("30", number(float, 0.1, 3600), "most seconds between two checks of an unusable"
                                  " binlog (the first retry comes after 1 s, then the wait doubles)")

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> Settings:
        """Build settings from parsed arguments, ignoring ones that are not settings."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in vars(ns).items() if k in names})


def settings_options() -> tuple[Option, ...]:
    """Every Settings field as a command-line option, in declaration order."""
    return tuple(
        Option(f.name.replace("_", "-"), f.metadata["convert"], f.metadata["default"], f.metadata["help"])
        for f in fields(Settings)
    )


SERVE_OPTIONS: tuple[Option, ...] = settings_options()
DB: Option = SERVE_OPTIONS[0]


def check_serve_settings(settings: Settings) -> str | None:
    """Cross-field checks a single converter cannot do; returns the problem or None."""
    given = (("--jwt-secret", settings.jwt_secret), ("--jwt-secret-file", settings.jwt_secret_file),
             ("--jwt-public-key", settings.jwt_public_key))
    keys = [name for name, value in given if value]
    if len(keys) > 1:
        return f"give one of {', '.join(keys)}, not several"
    if settings.cursor_secret and settings.cursor_secret_file:
        return "give --cursor-secret or --cursor-secret-file, not both"
    for name, path in (("--jwt-public-key", settings.jwt_public_key), ("--jwt-secret-file", settings.jwt_secret_file),
                       ("--cursor-secret-file", settings.cursor_secret_file)):
        if path:
            try:
                read_secret_file(path)
            except ValueError as exc:
                return f"{name}: {exc}"
    if settings.changes == "binlog" and settings.db.scheme != "mysql":
        return "--changes binlog needs a mysql:// database (the embedded store has no binary log)"
    if settings.pool_min > settings.pool_max:
        return f"--pool-min ({settings.pool_min}) is larger than --pool-max ({settings.pool_max})"
    if settings.db.scheme == "mysql" and settings.pool_live_reserve >= settings.pool_max:
        return (f"--pool-live-reserve ({settings.pool_live_reserve}) must be below --pool-max ({settings.pool_max}):"
                " REST needs connections too")
    return None


def read_secret_file(path: str) -> str:
    """A secret kept in a file, without its trailing newline.

    Raises:
        ValueError: the file cannot be read or is empty (the message never shows its content).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read {path!r} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path!r} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"{path!r} is empty")
    return text


def jwt_secret_of(settings: Settings) -> str:
    """The HS256 key, from ``--jwt-secret`` or ``--jwt-secret-file``."""
    return read_secret_file(settings.jwt_secret_file) if settings.jwt_secret_file else settings.jwt_secret


def cursor_secret_of(settings: Settings) -> str:
    """The cursor key, from ``--cursor-secret`` or ``--cursor-secret-file`` (empty: random per process)."""
    return read_secret_file(settings.cursor_secret_file) if settings.cursor_secret_file else settings.cursor_secret
