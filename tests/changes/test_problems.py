"""check_binlog: one line saying why the binlog cannot be used, or None."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.changes import ConnParams, check_binlog, current_position
from gateway.changes.problems import binlog_problem
from tests.changes.collect import Collector
from tests.changes.conftest import start_private
from tests.changes.test_reader import insert_truck
from tests.support.private_mariadb import free_port

GOOD = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"}
ALL = ["GRANT ALL PRIVILEGES ON *.* TO `gw`@`%` WITH GRANT OPTION"]


@pytest.mark.parametrize(("variables", "grants", "expected"), [
    (GOOD, ALL, None),
    (GOOD, ["GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `gw`@`%`", "GRANT SELECT ON `fleet`.* TO `gw`@`%`"],
     None),
    (GOOD, ["GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'gw'@'%'"], None),  # MySQL's spelling
    ({**GOOD, "log_bin": "OFF"}, ALL, "log_bin=OFF"),
    ({**GOOD, "binlog_format": "MIXED"}, ALL, "binlog_format is MIXED"),
    ({**GOOD, "binlog_row_image": "MINIMAL"}, ALL, "binlog_row_image is MINIMAL"),
    ({**GOOD, "binlog_row_metadata": "NO_LOG"}, ALL, "binlog_row_metadata is NO_LOG"),
    ({k: v for k, v in GOOD.items() if k != "binlog_row_metadata"}, ALL, "no binlog_row_metadata setting"),
    (GOOD, ["GRANT USAGE ON *.* TO `gw`@`%`", "GRANT ALL PRIVILEGES ON `fleet`.* TO `gw`@`%`"], "REPLICATION SLAVE"),
    (GOOD, ["GRANT REPLICATION SLAVE ON *.* TO `gw`@`%`"], "BINLOG MONITOR"),
])
def test_reasons_from_variables_and_grants(variables, grants, expected):
    problem = binlog_problem(variables, grants)
    if expected is None:
        assert problem is None
    else:
        assert expected in problem and "\n" not in problem


async def test_usable_binlog_has_no_problem(params):
    assert await check_binlog(params) is None


async def test_server_without_binlog():
    server = start_private(binlog=False)
    process, root = server.process, server.root
    try:
        problem = await check_binlog(ConnParams(host=server.host, port=server.port))
    finally:
        server.stop()
    assert problem == "the binary log is off (log_bin=OFF): start the server with --log-bin"
    assert process.poll() is not None and not root.exists()  # stopped by its pid, dir removed


async def test_unreachable_server():
    problem = await check_binlog(ConnParams(port=free_port(), connect_timeout=2.0))
    assert problem.startswith("cannot connect to 127.0.0.1:")


@pytest.mark.parametrize(("variable", "value"), [
    ("binlog_format", "MIXED"), ("binlog_row_image", "MINIMAL"), ("binlog_row_metadata", "MINIMAL"),
])
async def test_wrong_global_setting_on_the_server(params, binlog_server, variable, value):
    # The private server's own settings, changed and put back: never the shared server's.
    admin = binlog_server.connect()
    with admin.cursor() as cur:
        cur.execute(f"SELECT @@GLOBAL.{variable}")
        before = cur.fetchone()[0]
        cur.execute(f"SET GLOBAL {variable} = %s", (value,))
        try:
            problem = await check_binlog(params)
        finally:
            cur.execute(f"SET GLOBAL {variable} = %s", (before,))
    admin.close()
    assert problem == f"{variable} is {value}, change capture needs {'ROW' if variable == 'binlog_format' else 'FULL'}"


async def test_account_privileges_named_and_the_minimum_suffices(params, db, store, sql, binlog_server,
                                                                  start_reader):
    admin = binlog_server.connect()
    user = dataclasses.replace(params, user="gw_binlog", password="pw-1")
    with admin.cursor() as cur:
        cur.execute("CREATE USER 'gw_binlog'@'127.0.0.1' IDENTIFIED BY 'pw-1'")
        try:
            cur.execute(f"GRANT SELECT ON `{db}`.* TO 'gw_binlog'@'127.0.0.1'")
            no_slave = await check_binlog(user)
            refused = Collector()
            start_reader(await current_position(params), refused, params=user)
            refused_reason = await refused.wait_state("disconnected")

            cur.execute("GRANT REPLICATION SLAVE ON *.* TO 'gw_binlog'@'127.0.0.1'")
            no_monitor = await check_binlog(user)

            cur.execute("GRANT BINLOG MONITOR ON *.* TO 'gw_binlog'@'127.0.0.1'")
            assert await check_binlog(user) is None
            # The documented grants are enough: position, stream and table metadata all work.
            got = Collector()
            start_reader(await current_position(user), got, params=user)
            insert_truck(sql, "PRIV-1")
            [change] = await got.wait_changes(1)
            assert change.row == await store.fetch_sensor_row("PRIV-1")
        finally:
            cur.execute("DROP USER 'gw_binlog'@'127.0.0.1'")
    admin.close()
    assert "REPLICATION SLAVE privilege" in no_slave
    assert "REPLICATION SLAVE" in refused_reason
    assert "BINLOG MONITOR" in no_monitor
