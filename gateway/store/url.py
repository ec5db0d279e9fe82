"""Database URLs: ``mysql://user:pass@host:port/db`` or ``sqlite:///path/to/file.db``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

EMBEDDED_DEFAULT = "sqlite:///fleet.db"


@dataclass(frozen=True, slots=True)
class DbUrl:
    """A parsed database URL. ``path`` is the SQLite file; the rest is MySQL's."""

    scheme: str
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    database: str = ""
    path: str = ""

    def redacted(self) -> str:
        """The URL without its password, for logs and error messages."""
        if self.scheme == "sqlite":
            return f"sqlite:///{self.path}"
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def parse_db_url(text: str) -> DbUrl:
    """Parse and validate a database URL.

    Raises:
        ValueError: with a one-line message naming what is wrong (never the password).
    """
    if not text:
        raise ValueError("empty database URL")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"malformed database URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy spells them.
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc or not path:
            raise ValueError("sqlite URL must look like sqlite:///path/to/file.db")
        return DbUrl(scheme="sqlite", path=unquote(path))
    if scheme in ("mysql", "mysql+aiomysql", "mariadb"):
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname:
            raise ValueError("mysql URL needs a host: mysql://user:pass@host:port/db")
        if not database or "/" in database:
            raise ValueError("mysql URL needs a database name: mysql://user:pass@host:port/db")
        return DbUrl(
            scheme="mysql",
            host=parts.hostname,
            port=port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
        )
    shown = scheme or text.split(":", 1)[0][:20]
    raise ValueError(f"unsupported database URL scheme {shown!r} (use mysql:// or sqlite:///)")
