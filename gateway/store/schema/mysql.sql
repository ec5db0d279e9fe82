-- Fleet telemetry schema for MySQL / MariaDB (utf8mb4, InnoDB).
-- Idempotent: tables are created only when missing, and `gateway initdb` creates each
-- index below only when information_schema says it is missing, so running it twice is
-- safe on MariaDB and on MySQL 8 (which lacks CREATE INDEX IF NOT EXISTS).
-- All DATETIME values are UTC.

CREATE TABLE IF NOT EXISTS truck_sensors_cache (
    truck_id          VARCHAR(64)   NOT NULL,
    `timestamp`       DATETIME(6)   NOT NULL,
    data_age_seconds  INT           NULL,
    engine_state      VARCHAR(16)   NULL,
    speed_mph         DECIMAL(6,2)  NULL,
    rpm               INT           NULL,
    fuel_level_pct    DECIMAL(5,2)  NULL,
    estimated_gallons DECIMAL(7,2)  NULL,
    oil_pressure_psi  DECIMAL(6,2)  NULL,
    oil_temp_f        DECIMAL(6,2)  NULL,
    coolant_temp_f    DECIMAL(6,2)  NULL,
    engine_load_pct   DECIMAL(5,2)  NULL,
    battery_voltage   DECIMAL(5,2)  NULL,
    latitude          DECIMAL(9,6)  NULL,
    longitude         DECIMAL(9,6)  NULL,
    heading_deg       DECIMAL(5,1)  NULL,
    odometer_mi       DECIMAL(10,1) NULL,
    engine_hours      DECIMAL(9,1)  NULL,
    active_dtc_count  INT           NOT NULL DEFAULT 0,
    updated_at        DATETIME(6)   NOT NULL,
    PRIMARY KEY (truck_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS fuel_metrics (
    id                BIGINT        NOT NULL AUTO_INCREMENT,
    truck_id          VARCHAR(64)   NOT NULL,
    timestamp_utc     DATETIME(6)   NOT NULL,
    engine_state      VARCHAR(16)   NULL,
    speed_mph         DECIMAL(6,2)  NULL,
    rpm               INT           NULL,
    fuel_level_pct    DECIMAL(5,2)  NULL,
    estimated_gallons DECIMAL(7,2)  NULL,
    oil_pressure_psi  DECIMAL(6,2)  NULL,
    oil_temp_f        DECIMAL(6,2)  NULL,
    coolant_temp_f    DECIMAL(6,2)  NULL,
    engine_load_pct   DECIMAL(5,2)  NULL,
    battery_voltage   DECIMAL(5,2)  NULL,
    latitude          DECIMAL(9,6)  NULL,
    longitude         DECIMAL(9,6)  NULL,
    odometer_mi       DECIMAL(10,1) NULL,
    engine_hours      DECIMAL(9,1)  NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS dtc_events (
    id                BIGINT        NOT NULL AUTO_INCREMENT,
    truck_id          VARCHAR(64)   NOT NULL,
    timestamp_utc     DATETIME(6)   NOT NULL,
    dtc_code          VARCHAR(32)   NOT NULL,
    spn               INT           NOT NULL,
    fmi               INT           NOT NULL,
    severity          VARCHAR(16)   NOT NULL,
    status            VARCHAR(16)   NOT NULL,
    description       VARCHAR(255)  NULL,
    cleared_at        DATETIME(6)   NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS refuel_events (
    id                    BIGINT        NOT NULL AUTO_INCREMENT,
    truck_id              VARCHAR(64)   NOT NULL,
    refuel_time           DATETIME(6)   NOT NULL,
    gallons_added         DECIMAL(7,2)  NOT NULL,
    fuel_level_before_pct DECIMAL(5,2)  NULL,
    fuel_level_after_pct  DECIMAL(5,2)  NULL,
    latitude              DECIMAL(9,6)  NULL,
    longitude             DECIMAL(9,6)  NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE INDEX IF NOT EXISTS idx_fuel_metrics_truck_time ON fuel_metrics (truck_id, timestamp_utc);
CREATE INDEX IF NOT EXISTS idx_dtc_events_truck_status_severity ON dtc_events (truck_id, status, severity);
CREATE INDEX IF NOT EXISTS idx_dtc_events_severity ON dtc_events (severity);
CREATE INDEX IF NOT EXISTS idx_dtc_events_status ON dtc_events (status);
CREATE INDEX IF NOT EXISTS idx_dtc_events_spn ON dtc_events (spn);
CREATE INDEX IF NOT EXISTS idx_refuel_events_truck_time ON refuel_events (truck_id, refuel_time);
