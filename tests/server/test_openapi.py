"""The OpenAPI document (README: endpoints): it lists exactly the app's routes, and a live gateway keeps to it.

The second test is the contract test ``make test`` runs: a real ``gateway serve`` on a sample
fleet in MariaDB, fuzzed by the schemathesis CLI, every status code, content type and body
checked against ``/openapi.json``, and no 5xx.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from gateway.config import Settings
from gateway.server.app import make_app
from gateway.server.openapi import EXAMPLE_TRUCK
from gateway.sim.fleet import Fleet
from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER

GATEWAY = [sys.executable, "-m", "gateway"]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
NOT_REST = {"/v1/ws", "/openapi.json"}  # the WebSocket and the document itself
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SAMPLE_TRUCKS = 3
RUN_BUDGET = 90  # seconds; a run takes ~15 s on two cores


async def test_document_is_valid_openapi_and_lists_exactly_the_routes(aiohttp_client, sqlite_url):
    app = make_app(Settings(db=sqlite_url))
    client = await aiohttp_client(app)
    resp = await client.get("/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    doc = orjson.loads(await resp.read())
    OPENAPI_31_VALIDATOR.validate(doc)

    routes = {r.resource.canonical for r in app.router.routes() if r.method == "GET"}
    dashboard = {path for path in routes if path == "/" or path.startswith("/static/")}  # page.py's files
    assert set(doc["paths"]) == routes - NOT_REST - dashboard
    for path, item in doc["paths"].items():
        assert list(item) == ["get"], path
        responses = item["get"]["responses"]
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["$ref"].startswith("#/components/responses/"), (path, status)
    for name, response in doc["components"]["responses"].items():
        schema = "NotReady" if name == "NotReady" else "Error"  # /readyz's 503 also names each component's state
        assert response["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}, name
    assert EXAMPLE_TRUCK in Fleet.make_ids(SAMPLE_TRUCKS)  # the fuzzer's example truck exists in the sample fleet


def _db_url(database: str) -> str:
    password = f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else ""
    return f"mysql://{MYSQL_USER}{password}@{MYSQL_HOST}:{MYSQL_PORT}/{database}"


def _local_env() -> dict[str, str]:
    """The environment without proxies or schemathesis settings: traffic stays on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().endswith("_PROXY") and not k.startswith("SCHEMATHESIS_")}
    return {**env, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "NO_COLOR": "1"}


async def test_schemathesis_against_a_live_gateway(mysql_db, tmp_path):
    db = _db_url(mysql_db)
    init = subprocess.run([*GATEWAY, "initdb", "--db", db, "--sample-trucks", str(SAMPLE_TRUCKS)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    server_log = tmp_path / "serve.log"
    with server_log.open("wb") as log:
        server = await asyncio.create_subprocess_exec(*GATEWAY, "serve", "--port", "0", "--db", db,
                                                      stdout=asyncio.subprocess.PIPE, stderr=log)
    try:
        line = (await asyncio.wait_for(server.stdout.readline(), 20)).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, server_log.read_text())
        base = line.removeprefix("listening on ")
        config = tmp_path / "schemathesis.toml"
        config.write_text("")  # no stray project or user configuration
        started = time.monotonic()
        fuzzer = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base}/openapi.json",
            "--checks", CHECKS, "--max-examples", "40", "--seed", "20261122", "--workers", "1",
            "--request-timeout", "10", "--generation-database", "none", "--no-color",
            cwd=tmp_path, env=_local_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(fuzzer.communicate(), RUN_BUDGET)
        except TimeoutError:
            fuzzer.kill()
            output, _ = await fuzzer.communicate()
            pytest.fail(f"schemathesis ran over {RUN_BUDGET} s:\n{output.decode(errors='replace')}")
        report = output.decode(errors="replace")
        print(f"schemathesis took {time.monotonic() - started:.1f} s\n{report}")
        assert fuzzer.returncode == 0, f"{report}\n--- gateway log ---\n{server_log.read_text()[-5000:]}"
        assert "No issues found" in report, report
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 10)
            except TimeoutError:
                server.kill()
                await server.wait()
