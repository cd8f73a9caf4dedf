"""Real respdyn clusters for the integration tests (tests/support/cluster_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cluster_harness import Cluster


@pytest.fixture
def make_cluster(tmp_path) -> Iterator:
    """Factory: make_cluster(size, *serve_args) -> a started Cluster, stopped at teardown."""
    started: list[Cluster] = []

    def make(size: int, *extra: str) -> Cluster:
        cluster = Cluster(tmp_path / f"c{len(started)}", size, *extra)
        started.append(cluster)
        return cluster.start()

    try:
        yield make
    finally:
        for cluster in started:
            cluster.stop()


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster3"), 3)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster5(tmp_path_factory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster5"), 5)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
