"""Alerts of the ``alerts`` channel (docs/PROTOCOL.md), derived in pure code.

- ``events``: the ``Event`` value, its kinds, ``AlertConfig`` and the ``event`` frame.
- ``dtc``, ``refuel``, ``sensor``: one rule set each (DTC rows; refuel rows and level
  jumps, de-duplicated; fuel low with hysteresis and staleness from the cache row).
- ``deriver``: ``AlertDeriver``, the one object the reader feeds.
- ``log``: ``AlertLog``, the ring with seq behind resume and ``GET /v1/alerts``.

Nothing here does I/O or imports asyncio, aiohttp or a database driver.
"""

from gateway.core.alerts.deriver import AlertDeriver
from gateway.core.alerts.events import (
    ALERTS_CHANNEL,
    DTC_CLEARED,
    DTC_RAISED,
    FUEL_LOW,
    FUEL_RECOVERED,
    KINDS,
    REFUEL,
    TRUCK_REPORTING,
    TRUCK_STALE,
    AlertConfig,
    Event,
    event_frame,
    parse_event_frame,
)
from gateway.core.alerts.log import AlertLog, LoggedEvent

__all__ = [
    "ALERTS_CHANNEL",
    "DTC_CLEARED",
    "DTC_RAISED",
    "FUEL_LOW",
    "FUEL_RECOVERED",
    "KINDS",
    "REFUEL",
    "TRUCK_REPORTING",
    "TRUCK_STALE",
    "AlertConfig",
    "AlertDeriver",
    "AlertLog",
    "Event",
    "LoggedEvent",
    "event_frame",
    "parse_event_frame",
]
