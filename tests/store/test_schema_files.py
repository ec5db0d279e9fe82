"""The DDL a DBA reads in ``sql/`` is exactly what the installed package runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store.sql import schema_statements, schema_text

REPO_SQL = Path(__file__).resolve().parents[2] / "sql"


@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
def test_repository_sql_matches_the_packaged_schema(dialect):
    assert (REPO_SQL / f"{dialect}.sql").read_text(encoding="utf-8") == schema_text(dialect)


@pytest.mark.parametrize("dialect", ["mysql", "sqlite"])
def test_packaged_schema_creates_every_table(dialect):
    created = [s for s in schema_statements(dialect) if s.startswith("CREATE TABLE")]
    assert {s.split()[5] for s in created} == {"truck_sensors_cache", "fuel_metrics", "dtc_events", "refuel_events"}
