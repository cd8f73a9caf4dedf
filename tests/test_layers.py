"""The layering of docs/architecture.md, enforced: lower layers never import higher ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: package -> module prefixes it must never import
FORBIDDEN = {
    "storage": ("respdyn", "gevent"),
    "respdyn/protocol": ("gevent", "socket", "respdyn.server", "respdyn.commands",
                         "respdyn.keyspace", "respdyn.cluster"),
    "respdyn/cluster": ("respdyn.server", "respdyn.commands", "respdyn.keyspace",
                        "respdyn.node"),
    "respdyn/keyspace": ("respdyn.server", "respdyn.commands", "respdyn.node"),
    "respdyn/commands": ("respdyn.server", "respdyn.node"),
    "respdyn/server": ("respdyn.commands", "respdyn.keyspace", "respdyn.cluster",
                       "respdyn.node"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def cases():
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            yield pytest.param(path, forbidden, id=str(path.relative_to(ROOT)))


@pytest.mark.parametrize(("path", "forbidden"), list(cases()))
def test_no_upward_imports(path: Path, forbidden: tuple[str, ...]):
    bad = sorted(
        name for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
