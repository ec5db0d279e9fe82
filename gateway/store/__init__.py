"""Where rows come from: one small protocol, a MySQL and an embedded SQLite store."""

from gateway.store.base import Store, StoreUnavailable, open_store

__all__ = ["Store", "StoreUnavailable", "open_store"]
