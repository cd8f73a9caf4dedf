"""ioredis (Node.js, from the npm registry: scripts/install-compat) runs the same session
against redis-server and respdyn (compat/node/workload.js); its printed results must be equal.
A second client ecosystem catches what redis-py tolerates (ioredis' INFO ready check, its own
reply parser, scanStream, pipelines)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compat.compare import RECORDER
from compat.targets import Target

NODE_DIR = Path(__file__).parent / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "ioredis").is_dir(),
    reason="node or ioredis missing: scripts/install-compat installs ioredis (./run test does)",
)


def run_workload(target: Target) -> list[Any]:
    proc = subprocess.run(
        ["node", str(NODE_DIR / "workload.js"), target.host, str(target.port)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_ioredis_session_is_identical(redis_target: Target, respdyn_target: Target) -> None:
    theirs, ours = run_workload(redis_target), run_workload(respdyn_target)
    assert [label for label, _ in ours] == [label for label, _ in theirs]
    differing = [(t, o) for t, o in zip(theirs, ours, strict=True) if t != o]
    assert not differing, differing
    RECORDER.extra.setdefault("clients", {})["ioredis (Node.js)"] = (
        f"{len(ours)} calls identical"
    )
