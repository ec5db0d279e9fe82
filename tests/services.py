"""Check that the services the suite needs answer before pytest starts (``make test``).

MariaDB is required. When it is not running on this machine and its server binary is
installed, one start is tried (as the machine's own docs describe); if it still does not
answer, the run fails with one clear line. It is never skipped, in CI or elsewhere.
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


def mariadb_answers() -> str | None:
    """None when MariaDB answers, else the reason."""
    try:
        conn = pymysql.connect(host=HOST, port=PORT, user=os.environ.get("TEST_MYSQL_USER", "root"),
                               password=os.environ.get("TEST_MYSQL_PASSWORD", ""), connect_timeout=3)
    except pymysql.err.MySQLError as exc:
        return str(exc)
    conn.close()
    return None


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
