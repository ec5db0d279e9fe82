"""Shared fixtures: real MariaDB databases made per test and dropped afterwards.

MariaDB is a hard requirement (``make test`` checks it before pytest): a test that needs
it and cannot reach it fails with a clear message, it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pymysql
import pytest

from gateway.store import Store, open_store
from gateway.store.url import DbUrl, parse_db_url

MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("TEST_MYSQL_PASSWORD", "")


def admin_connection(database: str | None = None) -> pymysql.connections.Connection:
    """A plain blocking connection for test setup and for writes 'by another client'."""
    try:
        return pymysql.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
            database=database, autocommit=True, connect_timeout=5,
        )
    except pymysql.err.OperationalError as exc:
        pytest.fail(f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT} is required and not reachable: {exc}", pytrace=False)


@pytest.fixture
def mysql_db() -> Iterator[str]:
    """A fresh, uniquely named database, dropped after the test."""
    name = f"gwtest_{uuid.uuid4().hex[:12]}"
    conn = admin_connection()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def mysql_url(mysql_db: str) -> DbUrl:
    return parse_db_url(f"mysql://{MYSQL_USER}:{MYSQL_PASSWORD}@{MYSQL_HOST}:{MYSQL_PORT}/{mysql_db}")


@pytest.fixture
def sqlite_url(tmp_path) -> DbUrl:
    return parse_db_url(f"sqlite:///{tmp_path}/fleet.db")


@pytest.fixture(params=["sqlite", "mysql"])
async def store(request) -> AsyncIterator[Store]:
    """Each store test runs once per backend, on an empty schema."""
    url = request.getfixturevalue("mysql_url" if request.param == "mysql" else "sqlite_url")
    st = open_store(url, pool_min=1, pool_max=5, query_timeout=5.0)
    await st.open()
    await st.create_schema()
    try:
        yield st
    finally:
        await st.close()


def pytest_report_header(config) -> str:
    """Say which MariaDB the MySQL half of the suite runs against."""
    try:
        conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
                               connect_timeout=3)
    except pymysql.err.MySQLError as exc:
        return f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT}: NOT REACHABLE ({exc})"
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    conn.close()
    return f"MariaDB {version} at {MYSQL_HOST}:{MYSQL_PORT}: MySQL-store tests run against it, one database per test"
