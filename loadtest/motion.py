"""What one driven update of a truck changes, shared by the database driver and the reference server.

Both produce the same fields, rounded to the same DECIMAL scales as ``sql/mysql.sql``, so
a gateway diff and a reference diff have the same shape and about the same size, and
their fan-out costs compare like for like.

Each update writes ``timestamp`` and ``updated_at`` as the moment of the write (naive UTC
with microseconds, as the fleet's sync worker stores them). ``updated_at`` is how a
client recognises the write in a diff and measures write-to-receive latency: the value
comes back to it unchanged through ``DATETIME(6)`` and the gateway's ISO 8601 encoding.
Rows the load tester does not write keep whatever the fleet had in them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

EPOCH = dt.datetime(1970, 1, 1)
ONE_US = dt.timedelta(microseconds=1)
DRIVEN_COLUMNS = ("truck_id", "timestamp", "updated_at", "speed_mph", "rpm", "latitude", "longitude", "odometer_mi")


def datetime_of_us(stamp_us: int) -> dt.datetime:
    """Naive UTC datetime of a wall-clock time in microseconds since the Unix epoch."""
    return EPOCH + dt.timedelta(microseconds=stamp_us)


def iso_of_us(stamp_us: int) -> str:
    """The ISO 8601 text the gateway sends for a DATETIME(6) value (``...Z``, microseconds when present)."""
    return datetime_of_us(stamp_us).isoformat() + "Z"


def us_of_iso(text: str) -> int:
    """Microseconds since the Unix epoch of an ISO 8601 UTC time ending in ``Z``."""
    return (dt.datetime.fromisoformat(text[:-1] if text.endswith("Z") else text) - EPOCH) // ONE_US


@dataclass(slots=True)
class TruckMotion:
    """Just enough state to move a truck plausibly along a straight road."""

    truck_id: str
    speed_mph: float
    heading_deg: float
    latitude: float
    longitude: float
    odometer_mi: float
    rng: random.Random

    @classmethod
    def start(cls, truck_id: str, row: dict[str, Any] | None = None) -> TruckMotion:
        """Continue from a stored row's position when given, else a seeded start near Denver."""
        rng = random.Random(truck_id)
        row = row or {}
        return cls(
            truck_id=truck_id,
            speed_mph=rng.uniform(50, 68),
            heading_deg=rng.uniform(0, 360),
            latitude=float(row.get("latitude") or 39.7 + rng.uniform(-1, 1)),
            longitude=float(row.get("longitude") or -104.9 + rng.uniform(-1, 1)),
            odometer_mi=float(row.get("odometer_mi") or rng.uniform(40_000, 800_000)),
            rng=rng,
        )

    def step(self, stamp_us: int, dt_s: float) -> dict[str, Any]:
        """Advance ``dt_s`` seconds and return the driven columns (datetimes naive UTC)."""
        rng = self.rng
        self.speed_mph = min(max(self.speed_mph + rng.gauss(0, 0.8), 35.0), 72.0)
        miles = self.speed_mph * dt_s / 3600
        rad = math.radians(self.heading_deg)
        self.latitude += miles * math.cos(rad) / 69.0
        self.longitude += miles * math.sin(rad) / (69.0 * math.cos(math.radians(self.latitude)))
        self.odometer_mi += miles
        when = datetime_of_us(stamp_us)
        return {
            "truck_id": self.truck_id,
            "timestamp": when,
            "updated_at": when,
            "speed_mph": round(self.speed_mph, 2),
            "rpm": int(800 + 10.5 * self.speed_mph + rng.gauss(0, 20)),
            "latitude": round(self.latitude, 6),
            "longitude": round(self.longitude, 6),
            "odometer_mi": round(self.odometer_mi, 1),
        }


def json_values(values: dict[str, Any]) -> dict[str, Any]:
    """The driven columns as the gateway would send them (datetimes as ISO text)."""
    return {k: (v.isoformat() + "Z" if isinstance(v, dt.datetime) else v) for k, v in values.items()}
