"""Check that the services the suite needs answer before pytest starts (``make test``).

MariaDB and Redis are required. When one is not running on this machine and its server
binary is installed, one start is tried; if it still does not answer, the run fails with
one clear line. Neither is ever skipped, in CI or elsewhere. (Tests that must kill a
server start private ones of their own: ``tests/support/private_*.py``.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pymysql

HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
SERVER = "/usr/sbin/mariadbd"
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def mariadb_answers() -> str | None:
    """None when MariaDB answers, else the reason."""
    try:
        conn = pymysql.connect(host=HOST, port=PORT, user=os.environ.get("TEST_MYSQL_USER", "root"),
                               password=os.environ.get("TEST_MYSQL_PASSWORD", ""), connect_timeout=3)
    except pymysql.err.MySQLError as exc:
        return str(exc)
    conn.close()
    return None


def redis_answers() -> str | None:
    """None when Redis answers PING, else the reason."""
    import redis

    try:
        with redis.Redis(host=HOST, port=REDIS_PORT, socket_timeout=3, socket_connect_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        return str(exc)
    return None


def ensure_redis() -> int:
    problem = redis_answers()
    if problem and os.path.exists(REDIS_SERVER):
        print(f"Redis not answering ({problem}); starting {REDIS_SERVER}", flush=True)
        subprocess.run([REDIS_SERVER, "--port", str(REDIS_PORT), "--bind", HOST, "--daemonize", "yes"], check=False)
        deadline = time.monotonic() + 15
        while problem and time.monotonic() < deadline:
            time.sleep(0.2)
            problem = redis_answers()
    if problem:
        print(f"error: the test suite needs Redis at {HOST}:{REDIS_PORT}: {problem}", file=sys.stderr)
        return 1
    print(f"Redis at {HOST}:{REDIS_PORT} answers", flush=True)
    return 0


def main() -> int:
    problem = mariadb_answers()
    if problem and os.path.exists(SERVER) and shutil.which("start-stop-daemon") and os.geteuid() == 0:
        print(f"MariaDB not answering ({problem}); starting {SERVER}", flush=True)
        subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", SERVER], check=False)
        deadline = time.monotonic() + 30
        while problem and time.monotonic() < deadline:
            time.sleep(0.5)
            problem = mariadb_answers()
    if problem:
        print(f"error: the test suite needs MariaDB at {HOST}:{PORT} (root, no password): {problem}", file=sys.stderr)
        return 1
    print(f"MariaDB at {HOST}:{PORT} answers", flush=True)
    return ensure_redis()


if __name__ == "__main__":
    sys.exit(main())
