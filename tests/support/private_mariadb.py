"""The private binlog-enabled MariaDB of the change-capture tests (it lives in ``loadtest.privatedb``,
which the ``changes`` load mode uses too)."""

from loadtest.privatedb import BINLOG_OPTIONS, PrivateMariaDB, ServerStartError, free_port

__all__ = ["BINLOG_OPTIONS", "PrivateMariaDB", "ServerStartError", "free_port"]
