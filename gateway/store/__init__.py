"""Where rows come from: one small protocol, a MySQL and an embedded SQLite store."""

from gateway.store.base import Store, StoreBusy, StoreSchemaMissing, StoreUnavailable, open_store

__all__ = ["Store", "StoreBusy", "StoreSchemaMissing", "StoreUnavailable", "open_store"]
