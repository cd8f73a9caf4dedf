"""storage/ is usable on its own: it never imports respdyn or gevent (checked by scanning every
import statement, so a lazy import inside a function is caught too)."""

from __future__ import annotations

import ast
import pathlib

import pytest

STORAGE = pathlib.Path(__file__).resolve().parents[2] / "storage"
FORBIDDEN = ("respdyn", "gevent")


def imported_modules(path: pathlib.Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            names += [a.value for a in node.args[:1] if isinstance(a, ast.Constant)]
    return names


SOURCES = sorted(STORAGE.rglob("*.py"))


def test_there_are_sources_to_check():
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(STORAGE)))
def test_storage_never_imports_respdyn_or_gevent(path):
    bad = [m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path} imports {bad}"


def test_the_scanner_sees_imports(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    import gevent.monkey\n    from respdyn import node\n")
    assert imported_modules(sample) == ["gevent.monkey", "respdyn"]
