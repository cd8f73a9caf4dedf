"""respdyn's own commands on a node started without cluster options: a one-node ring."""

from __future__ import annotations

import pytest
import redis
from harness import respdyn


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("single")
    with respdyn(root / "data") as node:
        yield redis.Redis(host=node.host, port=node.port, socket_timeout=10)


def test_siblings_and_resolve_on_one_node(single):
    assert single.execute_command("SIBLINGS", "nothing") == [b"", []]
    single.set("k", "v")
    token, values = single.execute_command("SIBLINGS", "k")
    assert values == [b"v"]
    assert single.execute_command("RESOLVE", "k", token, "w") in (b"OK", "OK", True)
    assert single.get("k") == b"w"
    with pytest.raises(redis.ResponseError, match="invalid context token"):
        single.execute_command("RESOLVE", "k", "@@garbage", "x")
    _, meta = single.execute_command("SIBLINGS", "k", "WITHMETA")
    assert meta[0][0] == b"w" and meta[0][1] > 0
    with pytest.raises(redis.ResponseError, match="syntax error"):
        single.execute_command("SIBLINGS", "k", "WITHNOTHING")


def test_consistency_and_dynamo_on_one_node(single):
    reply = single.execute_command("CONSISTENCY")
    shown = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))
    assert shown == {b"n": 1, b"r": 1, b"w": 1}
    single.execute_command("CONSISTENCY", "ALL")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        single.execute_command("CONSISTENCY", "SOME")
    ring = single.execute_command("DYNAMO", "RING")
    assert len(ring) == 1 and ring[0][:3] == [0, 0, 16383]
    assert single.execute_command("DYNAMO", "MEMBERS")[0][3] == b"self"
    single.set("here", "1")
    assert single.execute_command("DYNAMO", "LOCAL", "here") == 1
    assert single.execute_command("DYNAMO", "LOCAL", "absent") == 0
    assert any(b"PREFLIST" in line for line in single.execute_command("DYNAMO", "HELP"))
    with pytest.raises(redis.ResponseError, match="enable-debug-commands"):
        single.execute_command("DYNAMO", "DEBUG", "HEAL")
    assert single.info("cluster").get("cluster_enabled", 0) == 0
