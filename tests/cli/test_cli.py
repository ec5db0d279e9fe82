"""The command line as a user meets it: real processes, real MariaDB, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import aiohttp
import orjson

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.store.test_mysql import SPEC_INDEXES, mysql_indexes

GATEWAY = [sys.executable, "-m", "gateway"]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*GATEWAY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def mysql_url(database: str) -> str:
    return f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{database}"


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_bad_flags_are_one_line_errors():
    assert_one_line_error(run("serve", "--port", "http"), 2, "--port", "not an integer")
    assert_one_line_error(run("serve", "--port", "70000"), 2, "--port", "out of range")
    assert_one_line_error(run("serve", "--poll-interval", "0"), 2, "--poll-interval")
    assert_one_line_error(run("serve", "--nope"), 2, "unrecognized arguments")
    assert_one_line_error(run("serve", "--pool-min", "9", "--pool-max", "3"), 2, "--pool-min")
    assert_one_line_error(run("frobnicate"), 2, "invalid choice")


def test_environment_variables_are_read_and_checked():
    assert_one_line_error(run("serve", env={"GATEWAY_HEARTBEAT": "soon"}), 2, "--heartbeat")
    assert_one_line_error(run("initdb", env={"GATEWAY_DB": "postgres://x/y"}), 2, "unsupported database URL scheme")


def test_bad_database_urls_are_one_line_errors():
    assert_one_line_error(run("serve", "--db", "ftp://host/db"), 2, "unsupported database URL scheme 'ftp'")
    assert_one_line_error(run("initdb", "--db", "mysql://root@127.0.0.1:3306/"), 2, "database name")
    assert_one_line_error(run("initdb", "--db", "mysql://root@127.0.0.1:notaport/x"), 2, "malformed")


def test_unreachable_database_is_one_line_error():
    result = run("initdb", "--db", "mysql://root:secret@127.0.0.1:1/fleet")
    assert_one_line_error(result, 1, "not reachable", "mysql://root@127.0.0.1:1/fleet")
    assert "secret" not in result.stderr


def test_initdb_twice_on_mysql_keeps_every_index_and_seeds(mysql_db):
    first = run("initdb", "--db", mysql_url(mysql_db), "--sample-trucks", "3")
    assert first.returncode == 0, first.stderr
    second = run("initdb", "--db", mysql_url(mysql_db))
    assert second.returncode == 0, second.stderr
    found = mysql_indexes(mysql_db)
    for key, columns in SPEC_INDEXES.items():
        assert found[key] == columns


def test_initdb_on_the_embedded_store(tmp_path):
    url = f"sqlite:///{tmp_path}/fleet.db"
    assert run("initdb", "--db", url, "--sample-trucks", "2").returncode == 0
    assert run("initdb", "--db", url).returncode == 0


async def _start_serve(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *GATEWAY, "serve", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
    assert line.startswith("listening on http://127.0.0.1:"), line
    return proc, line.removeprefix("listening on ")


async def test_sigterm_closes_every_socket_with_1001_and_exits_0(mysql_db):
    assert run("initdb", "--db", mysql_url(mysql_db), "--sample-trucks", "2").returncode == 0
    proc, base = await _start_serve("--db", mysql_url(mysql_db))
    try:
        async with aiohttp.ClientSession() as session:
            assert (await session.get(base + "/healthz")).status == 200
            trucks = (await session.get(base + "/readyz")).status
            assert trucks == 200
            sockets = [await session.ws_connect(base + "/v1/ws") for _ in range(5)]
            for ws in sockets:
                assert orjson.loads((await ws.receive(timeout=5)).data)["type"] == "welcome"
            proc.send_signal(signal.SIGTERM)
            closes = await asyncio.gather(*(ws.receive(timeout=10) for ws in sockets))
            assert [(m.type, m.data) for m in closes] == [(aiohttp.WSMsgType.CLOSE, 1001)] * 5
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        stderr = (await proc.stderr.read()).decode()
        assert "Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_starts_with_the_database_down_and_says_so(tmp_path):
    proc, base = await _start_serve("--db", "mysql://root@127.0.0.1:1/fleet", "--query-timeout", "1")
    try:
        async with aiohttp.ClientSession() as session:
            assert (await session.get(base + "/healthz")).status == 200
            ready = await session.get(base + "/readyz")
            assert ready.status == 503
            assert (await ready.json())["error"]["code"] == "db_unavailable"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_demo_streams_the_simulated_fleet_and_stops_on_ctrl_c(tmp_path):
    db = tmp_path / "demo.db"
    proc = await asyncio.create_subprocess_exec(
        *GATEWAY, "demo", "--port", "0", "--db", f"sqlite:///{db}", "--trucks", "3", "--rate", "5",
        "--poll-interval", "0.1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        base = line.removeprefix("listening on ")
        import sqlite3

        truck = sqlite3.connect(db).execute("SELECT truck_id FROM truck_sensors_cache LIMIT 1").fetchone()[0]
        async with aiohttp.ClientSession() as session, session.ws_connect(base + "/v1/ws") as ws:
            await ws.receive(timeout=5)
            await ws.send_str(orjson.dumps({"op": "subscribe", "id": 1, "channels": [f"truck:{truck}"]}).decode())
            types = [orjson.loads((await ws.receive(timeout=10)).data)["type"] for _ in range(3)]
            assert types == ["ack", "snapshot", "diff"]  # the simulator's writes arrive as diffs
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert "Traceback" not in (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_a_port_in_use_is_one_line_with_the_fix(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command, extra in (("serve", ()), ("demo", ("--trucks", "2"))):
            result = run(command, "--port", port, "--db", f"sqlite:///{tmp_path}/{command}.db", "--log-level", "ERROR",
                         *extra)
            assert_one_line_error(result, 1, f"127.0.0.1:{port}", "in use", "--port", "make demo PORT=")


def test_token_mints_issuer_audience_and_reads_its_key_from_a_file(tmp_path):
    import jwt

    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key-long-enough-for-hs256-0123456789\n")
    result = run("token", "--jwt-secret-file", str(key_file), "--trucks", "A1,B2", "--iss", "ops", "--aud", "gw")
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), "s3cret-key-long-enough-for-hs256-0123456789", algorithms=["HS256"],
                        audience="gw", issuer="ops")
    assert claims["trucks"] == ["A1", "B2"]
    assert_one_line_error(run("token", "--jwt-secret-file", str(tmp_path / "missing")), 2, "cannot read")


def test_every_command_has_a_help_page():
    for command in ("serve", "initdb", "simulate", "demo", "token"):
        result = run(command, "--help")
        assert result.returncode == 0 and "usage: gateway" in result.stdout, (command, result.stderr)


def test_cluster_options_are_checked_in_one_line():
    assert_one_line_error(run("serve", "--broker", "postgres://db/0"), 2, "--broker", "redis://")
    assert_one_line_error(run("serve", "--workers", "0"), 2, "--workers", "out of range")
    assert_one_line_error(run("serve", "--lease-ttl", "0.1"), 2, "--lease-ttl", "out of range")
    assert_one_line_error(run("serve", "--low-fuel-pct", "101"), 2, "--low-fuel-pct", "out of range")
