"""The package as users install it: a wheel in a fresh virtualenv, no source tree in sight.

The wheel is built from this checkout, installed (not editable) into a new venv with only
its declared dependencies, and its ``gateway`` command runs ``initdb`` and ``serve``
against the embedded store and MariaDB from a directory that holds no project files, so
nothing can be found next to the source. The base install must not pull the load tester's
plotting and statistics stack.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the built wheel installed; returns its bin directory."""
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300, cwd=work)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "warning" not in (build.stdout + build.stderr).lower(), build.stdout + build.stderr
    wheel = next(wheels.glob("*.whl"))
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    install = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                             capture_output=True, text=True, timeout=600, cwd=work)
    assert install.returncode == 0, install.stdout + install.stderr
    return bin_dir


def test_base_install_carries_the_server_only(installed):
    listed = subprocess.run([str(installed / "python"), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    for heavy in ("matplotlib", "numpy", "psutil", "hdrhistogram", "pytest", "playwright"):
        assert f"\n{heavy}==" not in f"\n{listed}", heavy
    probe = subprocess.run([str(installed / "python"), "-c", "import loadtest"], capture_output=True, cwd="/")
    assert probe.returncode != 0  # the load tester stays in the repository


async def _serve_and_probe(bin_dir: Path, db: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    init = subprocess.run([str(bin_dir / "gateway"), "initdb", "--db", db, "--sample-trucks", "3"],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env)
    assert init.returncode == 0, init.stderr
    proc = await asyncio.create_subprocess_exec(
        str(bin_dir / "gateway"), "serve", "--port", "0", "--db", db, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, (await proc.stderr.read()).decode())
        base = line.removeprefix("listening on ")
        async with aiohttp.ClientSession() as session:
            assert (await session.get(base + "/readyz")).status == 200
            trucks = await (await session.get(base + "/v1/trucks")).json()
            assert len(trucks["items"]) == 3
            page = await session.get(base + "/")
            assert page.status == 200 and "<html" in (await page.text()).lower()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert "Traceback" not in (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_installed_gateway_runs_on_the_embedded_store(installed, tmp_path):
    await _serve_and_probe(installed, f"sqlite:///{tmp_path}/fleet.db", tmp_path)


async def test_installed_gateway_runs_on_mariadb(installed, tmp_path, mysql_db):
    await _serve_and_probe(installed, f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{mysql_db}", tmp_path)


async def test_installed_demo_serves_the_dashboard(installed, tmp_path):
    proc = await asyncio.create_subprocess_exec(
        str(installed / "gateway"), "demo", "--port", "0", "--db", f"sqlite:///{tmp_path}/demo.db", "--trucks", "3",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        base = line.removeprefix("listening on ")
        async with aiohttp.ClientSession() as session:
            page = await session.get(base + "/")
            assert page.status == 200 and "<html" in (await page.text()).lower()
            assert len((await (await session.get(base + "/v1/trucks")).json())["items"]) == 3
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
