"""The Docker files say what a working deployment needs (checked here without a Docker engine).

No Docker engine runs on the test machines, so these checks read the files: the image is
built from a wheel with no load tester, and ``docker compose up`` creates the schema before
the gateway starts, keeps MariaDB's data in a volume, and only calls the gateway healthy
when ``/readyz`` answers. When a compose client is installed it must also accept the file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_schema_is_created_by_a_one_shot_service_before_the_gateway_starts():
    services = compose()["services"]
    assert services["init"]["command"][0] == "initdb"
    assert services["init"]["restart"] == "no"
    for name in ("gateway", "simulator"):
        assert services[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["init"]["depends_on"]["mariadb"]["condition"] == "service_healthy"


def test_gateway_health_is_readiness_and_mariadb_keeps_its_data():
    spec = compose()
    assert "/readyz" in " ".join(spec["services"]["gateway"]["healthcheck"]["test"])
    volumes = spec["services"]["mariadb"]["volumes"]
    assert any(v.split(":")[0] in spec["volumes"] and v.split(":")[1] == "/var/lib/mysql" for v in volumes)
    assert "3306:3306" in spec["services"]["mariadb"]["ports"]


def test_mariadb_writes_the_row_based_binary_log_the_binlog_source_needs():
    command = compose()["services"]["mariadb"]["command"]
    assert {"--log-bin=mysql-bin", "--binlog-format=ROW", "--binlog-row-image=FULL",
            "--binlog-row-metadata=FULL"} <= set(command)
    grants = (ROOT / "docker" / "mariadb-grants.sql").read_text()
    assert "REPLICATION SLAVE" in grants and "BINLOG MONITOR" in grants
    # Every server setting the change reader checks for (gateway.changes.problems) is set.
    from gateway.changes.problems import REQUIRED

    given = {arg.split("=")[0].lstrip("-").replace("-", "_"): arg.split("=")[-1] for arg in command}
    for name, value, _ in REQUIRED:
        if name == "log_bin":  # --log-bin=<basename> turns it ON
            assert "log_bin" in given
        else:
            assert given.get(name, "").upper() == value, name


def test_image_installs_a_wheel_without_the_load_tester():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install -e" not in text and "pip wheel" in text
    assert "COPY loadtest" not in text and "/readyz" in text
    assert "loadtest" in (ROOT / ".dockerignore").read_text().split()


def test_compose_client_accepts_the_file_when_installed():
    client = shutil.which("docker-compose")
    if client is None:
        return  # nothing more to check on a machine without a compose client
    result = subprocess.run([client, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_cluster_compose_adds_redis_and_a_second_gateway_on_one_broker():
    cluster = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())["services"]
    brokers = {cluster[name]["environment"]["GATEWAY_BROKER"] for name in ("gateway", "gateway-b")}
    assert brokers == {"redis://redis:6379/0"}
    secrets = {cluster[name]["environment"]["GATEWAY_CURSOR_SECRET"] for name in ("gateway", "gateway-b")}
    assert len(secrets) == 1  # cursors from one gateway page on the other
    assert cluster["gateway-b"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    client = shutil.which("docker-compose")
    if client is not None:
        result = subprocess.run([client, "-f", str(ROOT / "docker-compose.yml"), "-f",
                                 str(ROOT / "docker-compose.cluster.yml"), "config", "-q"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
