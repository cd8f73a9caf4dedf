"""Siblings without timing luck: two nodes are cut off from each other (the test-only switch
DYNAMO DEBUG PARTITION), each takes a write of the same key, then the partition heals."""

from __future__ import annotations

import pytest
import redis


def _partition(cluster, a: int, b: int) -> None:
    cluster.client(a).execute_command("DYNAMO", "DEBUG", "PARTITION", f"node{b}")
    cluster.client(b).execute_command("DYNAMO", "DEBUG", "PARTITION", f"node{a}")


def _heal(cluster) -> None:
    for k in range(1, len(cluster) + 1):
        cluster.client(k).execute_command("DYNAMO", "DEBUG", "HEAL")


def _siblings(c: redis.Redis, key: str, meta: bool = False):
    args = ["SIBLINGS", key, *(["WITHMETA"] if meta else [])]
    return c.execute_command(*args)


def _concurrent_writes(cluster, key: str) -> None:
    _partition(cluster, 1, 2)
    try:
        cluster.client(1).set(key, "cart-a")  # node1 + node3 store it (W=2)
        cluster.client(2).set(key, "cart-b")  # node2 + node3: node3 now holds both
    finally:
        _heal(cluster)


def test_concurrent_writes_become_siblings_with_one_deterministic_winner(cluster3):
    cluster = cluster3
    _concurrent_writes(cluster, "cart")
    clients = [cluster.client(k) for k in (1, 2, 3)]
    for c in clients:
        token, values = _siblings(c, "cart")
        assert sorted(values) == [b"cart-a", b"cart-b"]
        assert token
    winners = {c.get("cart") for c in clients}
    assert len(winners) == 1  # the same value on every node
    _, meta = _siblings(clients[0], "cart", meta=True)
    newest = max(meta, key=lambda s: (s[1], s[2]))  # newest timestamp, ties by node id
    assert winners == {newest[0]}
    assert {s[2] for s in meta} == {b"node1", b"node2"}  # each write's coordinating node
    assert len(_siblings(clients[2], "cart")[1]) == 2  # GET keeps the siblings
    assert clients[0].info("cluster")["cluster_reads_with_siblings"] >= 1


def test_resolve_collapses_and_a_concurrent_write_survives(cluster3):
    cluster = cluster3
    _concurrent_writes(cluster, "cart2")
    c1, c2, c3 = (cluster.client(k) for k in (1, 2, 3))
    token, values = _siblings(c1, "cart2")
    assert len(values) == 2
    # another client writes after our read and before our RESOLVE
    c2.set("cart2", "written-meanwhile")
    assert c1.execute_command("RESOLVE", "cart2", token, "cart-a+b") == b"OK"
    for c in (c1, c2, c3):
        assert sorted(_siblings(c, "cart2")[1]) == [b"cart-a+b", b"written-meanwhile"]
    # resolving with the fresh context collapses everything to one value
    token, _ = _siblings(c3, "cart2")
    c3.execute_command("RESOLVE", "cart2", token, "final")
    for c in (c1, c2, c3):
        assert _siblings(c, "cart2")[1] == [b"final"]
        assert c.get("cart2") == b"final"


def test_resolve_without_concurrency_and_plain_set_supersede(cluster3):
    cluster = cluster3
    _concurrent_writes(cluster, "k1")
    c1 = cluster.client(1)
    token, _ = _siblings(c1, "k1")
    c1.execute_command("RESOLVE", "k1", token, "merged")
    assert _siblings(cluster.client(2), "k1")[1] == [b"merged"]
    _concurrent_writes(cluster, "k2")
    # a plain SET through a node holding both siblings supersedes them
    cluster.client(3).set("k2", "blind")
    assert _siblings(cluster.client(1), "k2")[1] == [b"blind"]


def test_a_delete_can_be_a_sibling(cluster3):
    cluster = cluster3
    cluster.client(1).set("gone", "v0")
    _partition(cluster, 1, 2)
    try:
        assert cluster.client(2).delete("gone") == 1  # node2 + node3 store the tombstone
        cluster.client(1).set("gone", "kept")  # node1 never saw the delete: concurrent
    finally:
        _heal(cluster)
    values = _siblings(cluster.client(3), "gone")[1]
    assert sorted(values, key=lambda v: v or b"") == [None, b"kept"]


def test_bad_context_tokens(cluster3):
    c = cluster3.client(1)
    c.set("ctx", "v")
    with pytest.raises(redis.ResponseError, match="invalid context token"):
        c.execute_command("RESOLVE", "ctx", "not a token!", "x")
    with pytest.raises(redis.ResponseError, match="invalid context token"):
        c.execute_command("RESOLVE", "ctx", "", "x")
    assert c.get("ctx") == b"v"
    # a stale (older) context is fine: it covers less, so the newer value stays a sibling
    old, _ = _siblings(c, "ctx")
    c.set("ctx", "newer")
    c.execute_command("RESOLVE", "ctx", old, "from-old-context")
    assert sorted(_siblings(c, "ctx")[1]) == [b"from-old-context", b"newer"]
    # a key never written has an empty context that RESOLVE accepts
    token, values = _siblings(c, "fresh")
    assert values == []
    c.execute_command("RESOLVE", "fresh", token, "first")
    assert c.get("fresh") == b"first"


def test_lww_policy_collapses_at_write_time(make_cluster):
    cluster = make_cluster(3, "--conflict-policy", "lww")
    _concurrent_writes(cluster, "cart")
    for k in (1, 2, 3):
        assert _siblings(cluster.client(k), "cart")[1] == [b"cart-b"]
