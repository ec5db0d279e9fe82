"""Change capture from the MySQL/MariaDB binary log (README, "Change capture").

``BinlogReader`` follows ROW events of the fleet's tables in one database, in a thread,
and hands the committed after-images to the asyncio loop one transaction at a time.
``current_position`` and ``check_binlog`` are the two questions an integrator asks
before starting it: where the log is now, and whether it is usable at all.
"""

from gateway.changes.binlog import BinlogReader
from gateway.changes.params import ConnParams
from gateway.changes.position import Position, current_position, log_order
from gateway.changes.problems import check_binlog, is_connection_problem
from gateway.changes.rowsink import ReaderCounters
from gateway.changes.txn import DEFAULT_TABLES, Batch, Change, TableSpec

__all__ = [
    "DEFAULT_TABLES",
    "Batch",
    "BinlogReader",
    "Change",
    "ConnParams",
    "Position",
    "ReaderCounters",
    "TableSpec",
    "check_binlog",
    "current_position",
    "is_connection_problem",
    "log_order",
]
