-- The embedded store's schema (SQLite): the same tables and columns as sql/mysql.sql.
-- DATETIME columns hold UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (sorts in time order);
-- decimal telemetry is REAL so a value keeps its float type whatever it rounds to.

CREATE TABLE IF NOT EXISTS truck_sensors_cache (
    truck_id          TEXT     NOT NULL PRIMARY KEY,
    "timestamp"       DATETIME NOT NULL,
    data_age_seconds  INTEGER  NULL,
    engine_state      TEXT     NULL,
    speed_mph         REAL     NULL,
    rpm               INTEGER  NULL,
    fuel_level_pct    REAL     NULL,
    estimated_gallons REAL     NULL,
    oil_pressure_psi  REAL     NULL,
    oil_temp_f        REAL     NULL,
    coolant_temp_f    REAL     NULL,
    engine_load_pct   REAL     NULL,
    battery_voltage   REAL     NULL,
    latitude          REAL     NULL,
    longitude         REAL     NULL,
    heading_deg       REAL     NULL,
    odometer_mi       REAL     NULL,
    engine_hours      REAL     NULL,
    active_dtc_count  INTEGER  NOT NULL DEFAULT 0,
    updated_at        DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS fuel_metrics (
    id                INTEGER  PRIMARY KEY AUTOINCREMENT,
    truck_id          TEXT     NOT NULL,
    timestamp_utc     DATETIME NOT NULL,
    engine_state      TEXT     NULL,
    speed_mph         REAL     NULL,
    rpm               INTEGER  NULL,
    fuel_level_pct    REAL     NULL,
    estimated_gallons REAL     NULL,
    oil_pressure_psi  REAL     NULL,
    oil_temp_f        REAL     NULL,
    coolant_temp_f    REAL     NULL,
    engine_load_pct   REAL     NULL,
    battery_voltage   REAL     NULL,
    latitude          REAL     NULL,
    longitude         REAL     NULL,
    odometer_mi       REAL     NULL,
    engine_hours      REAL     NULL
);

CREATE TABLE IF NOT EXISTS dtc_events (
    id                INTEGER  PRIMARY KEY AUTOINCREMENT,
    truck_id          TEXT     NOT NULL,
    timestamp_utc     DATETIME NOT NULL,
    dtc_code          TEXT     NOT NULL,
    spn               INTEGER  NOT NULL,
    fmi               INTEGER  NOT NULL,
    severity          TEXT     NOT NULL,
    status            TEXT     NOT NULL,
    description       TEXT     NULL,
    cleared_at        DATETIME NULL
);

CREATE TABLE IF NOT EXISTS refuel_events (
    id                    INTEGER  PRIMARY KEY AUTOINCREMENT,
    truck_id              TEXT     NOT NULL,
    refuel_time           DATETIME NOT NULL,
    gallons_added         REAL     NOT NULL,
    fuel_level_before_pct REAL     NULL,
    fuel_level_after_pct  REAL     NULL,
    latitude              REAL     NULL,
    longitude             REAL     NULL
);

CREATE INDEX IF NOT EXISTS idx_fuel_metrics_truck_time ON fuel_metrics (truck_id, timestamp_utc);
CREATE INDEX IF NOT EXISTS idx_dtc_events_truck_status_severity ON dtc_events (truck_id, status, severity);
CREATE INDEX IF NOT EXISTS idx_dtc_events_severity ON dtc_events (severity);
CREATE INDEX IF NOT EXISTS idx_dtc_events_status ON dtc_events (status);
CREATE INDEX IF NOT EXISTS idx_dtc_events_spn ON dtc_events (spn);
CREATE INDEX IF NOT EXISTS idx_refuel_events_truck_time ON refuel_events (truck_id, refuel_time);
