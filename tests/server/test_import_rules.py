"""Import rules: the protocol package stays sans-I/O (no gevent, no socket), so that every
protocol test is bytes in, values out, and the package can be reused outside the server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import respdyn.protocol

FORBIDDEN = {"gevent", "socket", "selectors", "asyncio", "ssl"}
PROTOCOL_DIR = Path(respdyn.protocol.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_protocol_sources_import_no_io() -> None:
    files = sorted(PROTOCOL_DIR.glob("*.py"))
    assert files
    for path in files:
        assert not (_imported_roots(path) & FORBIDDEN), path


def test_importing_protocol_loads_no_io_module() -> None:
    """Transitively too: a fresh interpreter imports the package and lists what got loaded."""
    code = (
        "import sys, respdyn.protocol, respdyn.protocol.reader, respdyn.protocol.encoder;"
        f"print(sorted(m for m in {sorted(FORBIDDEN)!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
