"""Real respdyn processes (and the reference redis-server) for the hostile-client tests."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest
from cluster_harness import Cluster
from harness import RespdynProcess, redis_server, redis_server_path, stop


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RespdynProcess]:
    """One single-node respdyn process for the module; stopped by PID at the end."""
    proc = RespdynProcess(tmp_path_factory.mktemp("hostile") / "data", "--fsync", "no")
    proc.start()
    try:
        yield proc
    finally:
        if proc.proc is not None:
            stop(proc.proc)


@pytest.fixture(scope="module")
def redis_ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    if redis_server_path() is None:
        pytest.skip("redis-server not installed")
    with redis_server(tmp_path_factory.mktemp("redis-ref")) as addr:
        yield addr


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("hostile-cluster"), 3)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def rss(proc: RespdynProcess) -> int:
    """Resident memory of the node and its worker processes, bytes."""
    assert proc.proc is not None
    main = psutil.Process(proc.proc.pid)
    return main.memory_info().rss + sum(
        c.memory_info().rss for c in main.children(recursive=True))
