"""``gateway.core`` does no I/O: importing all of it loads no event loop, web or database library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gateway.core

CORE = Path(gateway.core.__file__).parent
FORBIDDEN = ("asyncio", "aiohttp", "aiomysql", "pymysql", "sqlite3", "socket")


def test_core_imports_no_io_library():
    modules = sorted(f"gateway.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__")
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert len(modules) >= 10
    assert loaded == ""
