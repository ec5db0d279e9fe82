"""A pure model of a truck fleet's telemetry: the sample data and the simulator's source.

No I/O and no clock: the caller passes the time of every step. Each truck draws from its
own ``random.Random`` seeded with (seed, truck id), so a seed always gives the same fleet
and a truck's path does not depend on which other trucks are simulated beside it.

Trucks cycle through ``driving``, ``idle`` and ``parked``; the gauges follow the state
(rpm and oil pressure from speed, temperatures with thermal lag, fuel burnt in proportion
to load and time), a low tank sends the truck to a fuel stop, and faults come and go as
DTC events. Values leave the model rounded to the scales of ``sql/mysql.sql`` so MySQL's
DECIMAL and SQLite's REAL read back the same numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.core.channels import is_valid_truck_id

ENGINE_STATES = ("driving", "idle", "parked")
SEVERITIES = ("critical", "high", "medium", "low")

# Digits each value is rounded to: never more than the column's DECIMAL scale, and fewer
# where the real sensor is coarser (temperatures), so parked trucks stop producing diffs.
DIGITS: dict[str, int] = {
    "speed_mph": 2, "fuel_level_pct": 2, "estimated_gallons": 2, "oil_pressure_psi": 1,
    "oil_temp_f": 1, "coolant_temp_f": 1, "engine_load_pct": 1, "battery_voltage": 2,
    "latitude": 6, "longitude": 6, "heading_deg": 1, "odometer_mi": 1, "engine_hours": 1,
}
METRIC_FIELDS = (
    "engine_state", "speed_mph", "rpm", "fuel_level_pct", "estimated_gallons", "oil_pressure_psi",
    "oil_temp_f", "coolant_temp_f", "engine_load_pct", "battery_voltage", "latitude", "longitude",
    "odometer_mi", "engine_hours",
)
SENSOR_FIELDS = (*METRIC_FIELDS, "heading_deg", "active_dtc_count")

# (code, SPN, FMI, severity, description, relative frequency) — common heavy-duty faults.
DTC_CATALOG: tuple[tuple[str, int, int, str, str, int], ...] = (
    ("P0217", 110, 0, "high", "Engine coolant over temperature condition", 3),
    ("P0524", 100, 1, "critical", "Engine oil pressure too low", 1),
    ("P0087", 157, 1, "high", "Fuel rail/system pressure too low", 2),
    ("P0335", 636, 8, "high", "Crankshaft position sensor A circuit", 1),
    ("P0299", 103, 18, "medium", "Turbocharger underboost condition", 4),
    ("P0401", 27, 7, "medium", "Exhaust gas recirculation flow insufficient", 4),
    ("P2463", 3719, 16, "medium", "Diesel particulate filter soot accumulation", 5),
    ("P20EE", 4364, 18, "medium", "SCR NOx catalyst efficiency below threshold", 4),
    ("P0193", 157, 3, "medium", "Fuel rail pressure sensor circuit high", 2),
    ("P0562", 168, 1, "low", "System voltage low", 3),
    ("P0128", 110, 17, "low", "Coolant temperature below thermostat regulating temperature", 3),
    ("P0471", 1209, 2, "low", "Exhaust pressure sensor range/performance", 2),
    ("P0380", 676, 5, "low", "Glow plug/heater circuit A malfunction", 2),
)
_DTC_WEIGHTS = [entry[5] for entry in DTC_CATALOG]

# Freight hubs the sample fleet starts from, and the box trucks are steered back into so
# they stay on the continental US rather than drifting into an ocean.
_HUBS = (
    (39.7392, -104.9903), (32.7767, -96.7970), (41.8781, -87.6298), (33.7490, -84.3880),
    (39.0997, -94.5786), (35.1495, -90.0490), (39.9612, -82.9988), (40.7608, -111.8910),
    (33.4484, -112.0740), (36.1627, -86.7816), (39.7684, -86.1581), (35.4676, -97.5164),
    (35.0844, -106.6504), (41.2565, -95.9345), (38.2527, -85.7585), (29.7604, -95.3698),
    (38.5816, -121.4944), (40.2732, -76.8867),
)
_LAT_RANGE, _LON_RANGE = (29.5, 47.5), (-121.5, -75.5)
_ID_PREFIXES = ("FL-", "CO", "TX-", "RT", "NE-", "AZ")
_MILES_PER_DEG_LAT = 69.0


@dataclass
class TruckState:
    """One truck: its telemetry columns (``truck_sensors_cache`` minus times) and model internals."""

    truck_id: str
    engine_state: str = "parked"
    speed_mph: float = 0.0
    rpm: int = 0
    fuel_level_pct: float = 60.0
    estimated_gallons: float = 120.0
    oil_pressure_psi: float = 0.0
    oil_temp_f: float = 65.0
    coolant_temp_f: float = 65.0
    engine_load_pct: float = 0.0
    battery_voltage: float = 12.5
    latitude: float = 39.0
    longitude: float = -98.0
    heading_deg: float = 0.0
    odometer_mi: float = 0.0
    engine_hours: float = 0.0
    active_dtc_count: int = 0
    data_age_seconds: int = 0
    # Internals: not columns, but what makes the next reading follow from this one.
    tank_gal: float = 200.0
    refuel_below_pct: float = 17.0
    ambient_f: float = 65.0
    idle_rpm: int = 680
    state_left_s: float = 0.0
    target_speed: float = 0.0
    segment_left_s: float = 0.0
    grade_load: float = 0.0
    stopping: bool = False
    active_dtcs: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def set_fuel(self, gallons: float) -> None:
        """Set the tank content; level and gallons always move together."""
        self.estimated_gallons = min(max(gallons, 0.0), self.tank_gal)
        self.fuel_level_pct = 100.0 * self.estimated_gallons / self.tank_gal

    def values(self, names: Iterable[str]) -> dict[str, Any]:
        """The named columns, rounded as the schema stores them."""
        return {n: round(getattr(self, n), DIGITS[n]) if n in DIGITS else getattr(self, n) for n in names}


@dataclass
class FleetStep:
    """The rows one step produces, ready for the store's write methods."""

    sensor_rows: list[dict[str, Any]] = field(default_factory=list)
    fuel_metrics: list[dict[str, Any]] = field(default_factory=list)
    dtc_events: list[dict[str, Any]] = field(default_factory=list)
    dtc_clears: list[tuple[str, str]] = field(default_factory=list)  # (truck_id, dtc_code)
    refuel_events: list[dict[str, Any]] = field(default_factory=list)


def _chance(rng: random.Random, per_hour: float, dt_s: float) -> bool:
    # A Poisson hazard, so the event rate is the same whatever the step length.
    return rng.random() < 1.0 - math.exp(-per_hour * dt_s / 3600.0)


def _approach(value: float, target: float, dt_s: float, tau_s: float) -> float:
    # First-order lag: thermal mass makes temperatures and voltages follow, not jump.
    return target + (value - target) * math.exp(-dt_s / tau_s)


class Fleet:
    """A deterministic fleet of trucks advanced in steps of simulated time."""

    def __init__(
        self, truck_ids: Sequence[str], seed: int = 0, start: dt.datetime | None = None, *,
        history_interval_s: float = 60.0,
    ) -> None:
        """Create fresh trucks for ``truck_ids`` at time ``start`` (naive UTC; default: now).

        ``history_interval_s`` is how often a truck appends a ``fuel_metrics`` row: a real
        sync worker keeps about one a minute, while the cache row changes every step.
        """
        self.seed = seed
        self.history_interval_s = history_interval_s
        self._last_history: dict[str, dt.datetime] = {}
        self.now = start if start is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.trucks: dict[str, TruckState] = {}
        for truck_id in truck_ids:
            self.add(truck_id)

    @staticmethod
    def make_ids(n: int, exclude: Iterable[str] = ()) -> list[str]:
        """``n`` distinct realistic ids (``FL-0208``, ``CO0681``…), always the same for the same ``n``."""
        taken = set(exclude)
        rng = random.Random("fleet-ids")
        width = 4 if n + len(taken) < 20_000 else 6  # keep the draw cheap when the space fills up
        ids: list[str] = []
        while len(ids) < n:
            candidate = f"{_ID_PREFIXES[len(ids) % len(_ID_PREFIXES)]}{rng.randrange(1, 10**width):0{width}d}"
            if candidate not in taken:
                taken.add(candidate)
                ids.append(candidate)
        return ids

    def add(self, truck_id: str) -> TruckState:
        """Add a fresh truck (or return the one already there).

        Raises:
            ValueError: the id breaks the truck-id rule (``gateway.core.channels``).
        """
        if truck_id not in self.trucks:
            self.trucks[truck_id] = self._new_truck(truck_id)
        return self.trucks[truck_id]

    def _new_truck(self, truck_id: str) -> TruckState:
        if not is_valid_truck_id(truck_id):
            raise ValueError(f"invalid truck id {truck_id!r}")
        rng = random.Random(f"{self.seed}:{truck_id}")
        lat, lon = rng.choice(_HUBS)
        odometer = rng.uniform(40_000, 850_000)
        t = TruckState(
            truck_id=truck_id, engine_state="parked", tank_gal=float(rng.choice((150, 200, 240, 250, 300))),
            refuel_below_pct=rng.uniform(15, 20), ambient_f=rng.uniform(45, 85), idle_rpm=rng.randint(600, 750),
            latitude=lat + rng.uniform(-0.15, 0.15), longitude=lon + rng.uniform(-0.15, 0.15),
            heading_deg=rng.uniform(0, 360), odometer_mi=odometer, engine_hours=odometer / rng.uniform(38, 48),
            battery_voltage=rng.uniform(12.35, 12.6), rng=rng,
        )
        t.set_fuel(t.tank_gal * rng.uniform(0.2, 0.95))
        t.coolant_temp_f = t.oil_temp_f = t.ambient_f
        # Spread the fleet over the states so the first minutes already look like a real fleet.
        self._enter(t, rng.choices(ENGINE_STATES, weights=(5, 1, 4))[0])
        if t.engine_state == "driving":
            t.speed_mph = t.target_speed
            t.coolant_temp_f, t.oil_temp_f = 198.0, 212.0
        self._gauges(t)
        return t

    def restore(self, row: Mapping[str, Any], active_codes: Iterable[str] = ()) -> TruckState:
        """Continue a truck from its stored cache row (JSON-safe values) instead of a fresh start."""
        t = self.trucks.get(row["truck_id"]) or self._new_truck(row["truck_id"])
        for name in SENSOR_FIELDS:
            value = row.get(name)
            if value is None or name in ("engine_state", "active_dtc_count"):
                continue
            setattr(t, name, int(value) if name == "rpm" else float(value))
        gallons, pct = row.get("estimated_gallons"), row.get("fuel_level_pct")
        if gallons and pct and pct > 1:
            t.tank_gal = min(max(100.0 * float(gallons) / float(pct), 100.0), 400.0)
        t.set_fuel(t.estimated_gallons)
        state = row.get("engine_state")
        if state not in ENGINE_STATES:  # another writer's vocabulary: infer it from the gauges
            state = "driving" if t.speed_mph > 0 else "idle" if t.rpm > 0 else "parked"
        self._enter(t, state)
        t.target_speed = t.speed_mph if state == "driving" else 0.0
        t.active_dtcs = list(dict.fromkeys(c for c in active_codes if c))
        t.active_dtc_count = len(t.active_dtcs)
        self.trucks[t.truck_id] = t
        return t

    def _enter(self, t: TruckState, state: str) -> None:
        rng = t.rng
        t.engine_state, t.stopping = state, False
        if state == "driving":
            t.state_left_s = rng.uniform(25, 240) * 60
            self._new_segment(t)
        elif state == "idle":
            t.state_left_s = rng.uniform(2, 25) * 60
        else:  # short stops mostly, sometimes the long rest the hours-of-service rules require
            t.state_left_s = rng.uniform(4, 10) * 3600 if rng.random() < 0.2 else rng.uniform(20, 60) * 60

    def _new_segment(self, t: TruckState) -> None:
        rng = t.rng
        kind = rng.random()
        if kind < 0.65:
            t.target_speed, t.segment_left_s = rng.uniform(58, 72), rng.uniform(5, 20) * 60
        elif kind < 0.9:
            t.target_speed, t.segment_left_s = rng.uniform(25, 50), rng.uniform(2, 10) * 60
        else:  # a light or a jam: stopped with the engine running
            t.target_speed, t.segment_left_s = 0.0, rng.uniform(30, 120)
        t.grade_load = rng.uniform(-8, 14)
        t.heading_deg = (t.heading_deg + rng.choice((0, 0, 0, 90, -90, 45, -45))) % 360

    def _low_fuel(self, t: TruckState) -> bool:
        return t.fuel_level_pct < t.refuel_below_pct

    def _gauges(self, t: TruckState) -> None:
        """Instantaneous gauges that follow directly from state and speed."""
        rng = t.rng
        if t.engine_state == "parked":
            t.speed_mph, t.rpm, t.engine_load_pct, t.oil_pressure_psi = 0.0, 0, 0.0, 0.0
            return
        if t.engine_state == "idle" or t.speed_mph < 1:
            t.rpm = t.idle_rpm + rng.randint(-15, 15)
            t.engine_load_pct = rng.uniform(8, 14)
        else:
            t.rpm = int(min(max(800 + 10.5 * t.speed_mph + rng.gauss(0, 25), 600), 2100))
            accelerating = 12.0 if t.target_speed > t.speed_mph + 3 else 0.0
            load = 18 + 0.75 * t.speed_mph + t.grade_load + accelerating + rng.gauss(0, 2)
            t.engine_load_pct = min(max(load, 5.0), 100.0)
        t.oil_pressure_psi = min(max(10 + 0.025 * t.rpm + rng.gauss(0, 0.6), 5), 90)
        t.battery_voltage = min(max(14.0 + rng.gauss(0, 0.07), 13.8), 14.2)

    def _drive(self, t: TruckState, dt_s: float) -> None:
        rng = t.rng
        t.segment_left_s -= dt_s
        if t.segment_left_s <= 0 and not t.stopping:
            self._new_segment(t)
        target = 0.0 if t.stopping else t.target_speed
        v0 = t.speed_mph
        # Trucks gain speed slowly and brake harder: about 1.2 mph/s up, 3 mph/s down.
        v1 = min(target, v0 + 1.2 * dt_s) if target > v0 else max(target, v0 - 3.0 * dt_s)
        if v1 > 5 and not t.stopping:
            v1 += rng.gauss(0, 0.4)
        t.speed_mph = min(max(v1, 0.0), 75.0)
        miles = (v0 + t.speed_mph) / 2 * dt_s / 3600
        if miles <= 0:
            return
        t.heading_deg += rng.gauss(0, 3) * min(1.0, math.sqrt(dt_s / 60))
        self._steer_home(t)
        rad = math.radians(t.heading_deg)
        t.latitude += miles * math.cos(rad) / _MILES_PER_DEG_LAT
        t.longitude += miles * math.sin(rad) / (_MILES_PER_DEG_LAT * math.cos(math.radians(t.latitude)))
        t.odometer_mi += miles

    def _steer_home(self, t: TruckState) -> None:
        # Outside the box, turn (up to 30° a step) towards the middle of the country.
        if _LAT_RANGE[0] <= t.latitude <= _LAT_RANGE[1] and _LON_RANGE[0] <= t.longitude <= _LON_RANGE[1]:
            t.heading_deg %= 360
            return
        mid_lat, mid_lon = sum(_LAT_RANGE) / 2, sum(_LON_RANGE) / 2
        wanted = math.degrees(math.atan2(mid_lon - t.longitude, mid_lat - t.latitude))
        turn = (wanted - t.heading_deg + 180) % 360 - 180
        t.heading_deg = (t.heading_deg + max(-30.0, min(30.0, turn))) % 360

    def _advance(self, t: TruckState, now: dt.datetime, dt_s: float, out: FleetStep) -> None:
        rng = t.rng
        t.state_left_s -= dt_s
        running = t.engine_state != "parked"
        if t.engine_state == "driving":
            if self._low_fuel(t) and t.state_left_s > 1800:
                t.state_left_s = rng.uniform(300, 1800)  # head for the next truck stop
            if t.state_left_s <= 0:
                t.stopping = True
            self._drive(t, dt_s)
        self._gauges(t)
        burn_gph = 0.4 + 0.11 * t.engine_load_pct if running else 0.0
        t.set_fuel(t.estimated_gallons - burn_gph * dt_s / 3600)
        if running:
            t.engine_hours += dt_s / 3600
        load = t.engine_load_pct
        coolant_to = (196 + 0.08 * load) if t.engine_state == "driving" else 182.0 if running else t.ambient_f
        oil_to = (205 + 0.15 * load) if t.engine_state == "driving" else 188.0 if running else t.ambient_f
        t.coolant_temp_f = _approach(t.coolant_temp_f, coolant_to, dt_s, 480 if running else 2400)
        t.oil_temp_f = _approach(t.oil_temp_f, oil_to, dt_s, 900 if running else 3600)
        if not running:
            t.battery_voltage = _approach(t.battery_voltage, 12.35, dt_s, 20_000)

        if t.engine_state == "driving" and t.stopping and t.speed_mph == 0:
            self._enter(t, "parked" if self._low_fuel(t) or rng.random() < 0.45 else "idle")
            self._stopped_engine(t)
        elif t.engine_state != "driving" and t.state_left_s <= 0:
            if t.engine_state == "idle":
                low = self._low_fuel(t)
                self._enter(t, "parked" if low or rng.random() < 0.35 else "driving")
                self._stopped_engine(t)
            else:
                self._enter(t, "idle" if rng.random() < 0.6 else "driving")
                self._gauges(t)

        if t.engine_state == "parked" and self._low_fuel(t):
            self._refuel(t, now, out)
        self._faults(t, now, dt_s, out)
        t.data_age_seconds = rng.randint(0, 3)

    def _stopped_engine(self, t: TruckState) -> None:
        self._gauges(t)
        if t.engine_state == "parked":
            t.battery_voltage = t.rng.uniform(12.5, 12.65)  # surface charge right after shutdown

    def _refuel(self, t: TruckState, now: dt.datetime, out: FleetStep) -> None:
        before_gal, before_pct = round(t.estimated_gallons, 2), round(t.fuel_level_pct, 2)
        t.set_fuel(t.tank_gal * t.rng.uniform(0.9, 0.995))
        after_gal, after_pct = round(t.estimated_gallons, 2), round(t.fuel_level_pct, 2)
        t.refuel_below_pct = t.rng.uniform(15, 20)
        out.refuel_events.append({
            "truck_id": t.truck_id, "refuel_time": now, "gallons_added": round(after_gal - before_gal, 2),
            "fuel_level_before_pct": before_pct, "fuel_level_after_pct": after_pct,
            "latitude": round(t.latitude, 6), "longitude": round(t.longitude, 6),
        })

    def _faults(self, t: TruckState, now: dt.datetime, dt_s: float, out: FleetStep) -> None:
        rng = t.rng
        # Faults clear after a few hours on average (repaired, or an intermittent fault self-heals).
        for code in list(t.active_dtcs):
            if _chance(rng, 1 / 4, dt_s):
                t.active_dtcs.remove(code)
                out.dtc_clears.append((t.truck_id, code))
        per_hour = 0.05 if t.engine_state != "parked" else 0.01
        if len(t.active_dtcs) < 4 and _chance(rng, per_hour, dt_s):
            code, spn, fmi, severity, description, _ = rng.choices(DTC_CATALOG, weights=_DTC_WEIGHTS)[0]
            if code not in t.active_dtcs:
                self._raise(t, now, (code, spn, fmi, severity, description), out)
        t.active_dtc_count = len(t.active_dtcs)

    def _raise(self, t: TruckState, now: dt.datetime, entry: tuple[str, int, int, str, str], out: FleetStep) -> None:
        code, spn, fmi, severity, description = entry
        t.active_dtcs.append(code)
        t.active_dtc_count = len(t.active_dtcs)
        out.dtc_events.append({
            "truck_id": t.truck_id, "timestamp_utc": now, "dtc_code": code, "spn": spn, "fmi": fmi,
            "severity": severity, "status": "active", "description": description, "cleared_at": None,
        })

    def showcase(self, truck_id: str, now: dt.datetime) -> FleetStep:
        """Give one truck a refuel and an active critical DTC now: example data that documentation can rely on."""
        t = self.trucks[truck_id]
        out = FleetStep()
        self._refuel(t, now, out)
        critical = next(e for e in DTC_CATALOG if e[3] == "critical")
        if critical[0] not in t.active_dtcs:
            self._raise(t, now, critical[:5], out)
        return out

    def step(self, now: dt.datetime, dt_s: float) -> FleetStep:
        """Advance every truck by ``dt_s`` seconds to ``now`` and return the rows that produces.

        Every truck reports a cache row, and a ``fuel_metrics`` row once per
        ``history_interval_s``; DTC raises, DTC clears
        (as ``(truck_id, dtc_code)`` for the writer to resolve to ids) and refuels only when
        they happen.
        """
        if dt_s < 0:
            raise ValueError("dt_s must not be negative")
        out = FleetStep()
        for t in self.trucks.values():
            self._advance(t, now, dt_s, out)
            metrics = t.values(METRIC_FIELDS)
            # The sync worker writes the row (updated_at, never in the future) data_age_seconds
            # after the truck took the reading (timestamp).
            read_at = now - dt.timedelta(seconds=t.data_age_seconds)
            out.sensor_rows.append({
                "truck_id": t.truck_id, "timestamp": read_at, "data_age_seconds": t.data_age_seconds,
                **metrics, "heading_deg": round(t.heading_deg, 1) % 360, "active_dtc_count": t.active_dtc_count,
                "updated_at": now,
            })
            last = self._last_history.get(t.truck_id)
            if last is None or (now - last).total_seconds() >= self.history_interval_s:
                self._last_history[t.truck_id] = now
                out.fuel_metrics.append({"truck_id": t.truck_id, "timestamp_utc": read_at, **metrics})
        self.now = now
        return out
