"""The pure cluster modules do no I/O: they import no socket, gevent, threading or clock module.

Checked two ways: statically (the import statements in the source) and dynamically (importing
them in a fresh interpreter pulls none of those modules in).
"""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

import respdyn.cluster

PURE = ["hashing", "ring", "dvv", "quorum", "merkle", "phi", "gossip", "handshake"]
FORBIDDEN = {
    "socket", "select", "selectors", "asyncio", "gevent", "threading", "_thread",
    "multiprocessing", "subprocess", "time", "datetime", "os", "io", "random",
}  # fmt: skip
PACKAGE = pathlib.Path(respdyn.cluster.__file__).parent


def imported_roots(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("name", PURE)
def test_no_forbidden_imports(name: str) -> None:
    assert imported_roots(PACKAGE / f"{name}.py") & FORBIDDEN == set()


@pytest.mark.parametrize("name", PURE)
def test_imports_only_pure_respdyn_modules(name: str) -> None:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("respdyn"):
            assert node.module.removeprefix("respdyn.cluster.") in PURE, node.module


def test_importing_pulls_in_no_io_modules() -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        + "".join(f"import respdyn.cluster.{name}\n" for name in PURE)
        + "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    root = PACKAGE.parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(out)}
    assert loaded & {"socket", "gevent", "threading", "_thread", "asyncio", "selectors"} == set()
