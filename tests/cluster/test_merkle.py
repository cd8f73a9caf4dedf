"""Merkle trees: incremental updates, top-down diff, exchange cost proportional to differences."""

from __future__ import annotations

import pytest

from respdyn.cluster.merkle import Exchange, MerkleTree, diff, differing_keys


def filled(count: int, **shape: int) -> MerkleTree:
    tree = MerkleTree(**shape)
    for i in range(count):
        tree.insert(b"key:%d" % i, b"v1")
    return tree


def test_equal_trees_have_no_diff() -> None:
    a, b = filled(2000), filled(2000)
    assert a.root() == b.root()
    assert diff(a, b) == []
    assert len(a) == 2000


def test_insertion_order_does_not_matter() -> None:
    a, b = MerkleTree(), MerkleTree()
    keys = [b"k%d" % i for i in range(300)]
    for k in keys:
        a.insert(k, b"x")
    for k in reversed(keys):
        b.insert(k, b"old")
        b.insert(k, b"x")
    assert a.level(a.depth) == b.level(b.depth) and a.root() == b.root()


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("new version", lambda t: t.insert(b"key:7", b"v2")),
        ("missing key", lambda t: t.delete(b"key:7")),
        ("extra key", lambda t: t.insert(b"key:7", b"v1") or t.insert(b"other", b"v1")),
    ],
)
def test_one_change_is_found_in_its_segment(name: str, change) -> None:
    a, b = filled(2000), filled(2000)
    change(b)
    segments = diff(a, b)
    assert len(segments) == 1
    (seg,) = segments
    key = b"other" if name == "extra key" else b"key:7"
    assert seg == a.segment_of(key)
    assert differing_keys(a.segment_keys(seg), b.segment_keys(seg)) == [key]


def test_delete_then_reinsert_restores_the_root() -> None:
    tree = filled(100)
    root = tree.root()
    tree.delete(b"key:5")
    tree.delete(b"absent")
    assert tree.root() != root and len(tree) == 99
    tree.insert(b"key:5", b"v1")
    assert tree.root() == root


def test_empty_tree_and_levels() -> None:
    tree = MerkleTree(segments=1024, fanout=32)
    assert tree.depth == 2
    assert [len(tree.level(i)) for i in range(3)] == [1, 32, 1024]
    assert tree.level(2) == [bytes(8)] * 1024
    assert tree.root() == MerkleTree().root()


@pytest.mark.parametrize(("segments", "fanout", "depth"), [(1024, 32, 2), (1024, 2, 10),
                                                           (16, 16, 1), (4096, 16, 3)])  # fmt: skip
def test_shapes(segments: int, fanout: int, depth: int) -> None:
    assert MerkleTree(segments, fanout).depth == depth


@pytest.mark.parametrize(("segments", "fanout"), [(1000, 32), (1, 32), (1024, 1), (32, 64)])
def test_bad_shapes(segments: int, fanout: int) -> None:
    with pytest.raises(ValueError):
        MerkleTree(segments, fanout)


@pytest.mark.parametrize("changed", [0, 1, 2, 5, 20])
def test_exchange_cost_follows_the_differences(changed: int) -> None:
    a, b = filled(5000), filled(5000)
    keys = [b"key:%d" % (i * 97) for i in range(changed)]
    for key in keys:
        b.insert(key, b"v2")
    exchange = Exchange(a)
    rounds = 0
    while (step := exchange.request()) is not None:
        exchange.receive(b.hashes(*step))
        rounds += 1
    expected = sorted({a.segment_of(k) for k in keys})
    assert sorted(exchange.differing) == expected
    inner = len({s // 32 for s in expected})  # differing level-1 nodes
    assert exchange.compared == 1 + 32 * (1 if changed else 0) + 32 * inner
    assert rounds == (3 if changed else 1)
    assert exchange.compared <= 1 + 32 + 32 * changed  # never the 1024 leaves of a full scan


def test_exchange_rejects_bad_answers() -> None:
    exchange = Exchange(MerkleTree())
    with pytest.raises(ValueError):
        exchange.receive([])
    exchange.receive([MerkleTree().root()])
    assert exchange.request() is None and exchange.differing == []
    with pytest.raises(ValueError):
        exchange.receive([b""])
    with pytest.raises(ValueError):
        diff(MerkleTree(), MerkleTree(1024, 4))


def test_updates_are_incremental() -> None:
    """After a write only the written leaf's ancestors are rehashed, not the whole tree."""
    tree = filled(5000)
    tree.root()
    tree.insert(b"key:1", b"v9")
    assert [len(d) for d in tree._dirty] == [1, 1]
    tree.root()
    assert [len(d) for d in tree._dirty] == [0, 0]
