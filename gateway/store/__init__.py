"""Where rows come from: one small protocol, a MySQL and an embedded SQLite store, database URLs.

May import: gateway.core and the drivers (aiomysql, sqlite3). The schema ships as package
data in ``schema/``.
"""

from gateway.store.base import Store, StoreBusy, StoreSchemaMissing, StoreUnavailable, open_store

__all__ = ["Store", "StoreBusy", "StoreSchemaMissing", "StoreUnavailable", "open_store"]
