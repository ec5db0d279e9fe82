"""Each package imports only what its ``__init__`` docstring allows: the folders are the data flow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gateway"

# Third-party or stdlib modules that do I/O or belong to a layer above.
IO_MODULES = {"asyncio", "aiohttp", "aiomysql", "pymysql", "sqlite3", "redis", "socket", "threading",
              "subprocess", "concurrent", "pymysqlreplication", "uvloop", "jwt", "prometheus_client"}

# package -> gateway packages it may import (besides itself).
ALLOWED = {
    "core": set(),
    "store": {"core"},
    "sim": {"core", "store"},
    "live": {"core", "config", "store", "broker", "changes"},
    "server": {"core", "config", "store", "live", "sim", "broker", "changes"},
    "cli": {"core", "config", "store", "live", "sim", "server", "broker", "changes"},
}


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module imported by ``path`` (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_of(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    for path in modules_of(package):
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "gateway" and len(parts) > 1:
                assert parts[1] == package or parts[1] in ALLOWED[package], f"{path.name} imports {name}"


def test_core_does_no_io():
    for path in modules_of("core"):
        bad = {n for n in imports_of(path) if n.split(".")[0] in IO_MODULES}
        assert not bad, f"gateway/core/{path.name} imports {sorted(bad)}"


def test_no_module_sits_loose_in_the_package():
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "config.py"}


def test_every_package_says_what_it_may_import():
    for package in ALLOWED:
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert doc and "May import" in doc, package
