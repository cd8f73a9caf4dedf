"""A real respdyn process per test module (fresh data dir), and the reference redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import RespdynProcess, redis_server, redis_server_path, respdyn


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[RespdynProcess]:
    with respdyn(tmp_path_factory.mktemp("node") / "data") as proc:
        yield proc


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[tuple[str, int]]:
    if redis_server_path() is None:
        pytest.skip("redis-server missing: run scripts/install-redis (./run test does)")
    with redis_server(tmp_path_factory.mktemp("redis")) as addr:
        yield addr
