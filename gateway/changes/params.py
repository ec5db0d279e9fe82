"""How to reach the server whose binary log is read (host, port, account)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pymysql


@dataclass(frozen=True, slots=True)
class ConnParams:
    """Connection parameters; build them from the gateway's ``DbUrl`` fields.

    ``connect_timeout`` bounds every (re)connection and ``read_timeout`` every query on
    the short-lived control connections (never the binlog stream, which uses the heartbeat).
    """

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 10.0

    def connect(self, **options: Any) -> pymysql.connections.Connection:
        """A blocking autocommit connection for one question (position, variables, grants)."""
        settings: dict[str, Any] = {
            "host": self.host, "port": self.port, "user": self.user, "password": self.password,
            "autocommit": True, "connect_timeout": self.connect_timeout, "read_timeout": self.read_timeout,
            "charset": "utf8mb4",
        }
        settings.update(options)
        return pymysql.connect(**settings)

    def stream_settings(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``pymysqlreplication`` (it spells the password ``passwd``)."""
        return {"host": self.host, "port": self.port, "user": self.user, "passwd": self.password,
                "connect_timeout": self.connect_timeout, **extra}
