"""Merkle trees: incremental updates, top-down diff, exchange cost proportional to differences.

The tree keeps no key map, so these tests play the replica's part: `Data` holds the keys and
their version hashes (the "disk") and tells the tree each key's old hash on every change."""

from __future__ import annotations

import random

import pytest

from respdyn.cluster import merkle
from respdyn.cluster.merkle import (
    Exchange,
    MerkleTree,
    diff,
    differing_keys,
    differing_sorted,
)


class Data:
    """A replica's keys and the tree that follows them, as the observers keep it."""

    def __init__(self, **shape: int) -> None:
        self.keys: dict[bytes, bytes] = {}
        self.tree = MerkleTree(**shape)

    def set(self, key: bytes, version_hash: bytes) -> None:
        self.tree.update(key, self.keys.get(key), version_hash)
        self.keys[key] = version_hash

    def delete(self, key: bytes) -> None:
        self.tree.update(key, self.keys.pop(key, None), None)

    def segment_keys(self, seg: int) -> dict[bytes, bytes]:
        return self.tree.by_segment(self.keys.items(), [seg]).get(seg, {})


def filled_data(count: int, **shape: int) -> Data:
    data = Data(**shape)
    for i in range(count):
        data.set(b"key:%d" % i, b"v1")
    return data


def filled(count: int, **shape: int) -> MerkleTree:
    return filled_data(count, **shape).tree


def test_equal_trees_have_no_diff() -> None:
    a, b = filled(2000), filled(2000)
    assert a.root() == b.root()
    assert diff(a, b) == []
    assert len(a) == 2000


def test_insertion_order_does_not_matter() -> None:
    a, b = MerkleTree(), MerkleTree()
    keys = [b"k%d" % i for i in range(300)]
    for k in keys:
        a.add(k, b"x")
    for k in reversed(keys):
        b.add(k, b"old")
        b.update(k, b"old", b"x")
    assert a.level(a.depth) == b.level(b.depth) and a.root() == b.root()


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("new version", lambda d: d.set(b"key:7", b"v2")),
        ("missing key", lambda d: d.delete(b"key:7")),
        ("extra key", lambda d: d.set(b"key:7", b"v1") or d.set(b"other", b"v1")),
    ],
)
def test_one_change_is_found_in_its_segment(name: str, change) -> None:
    a, b = filled_data(2000), filled_data(2000)
    change(b)
    segments = diff(a.tree, b.tree)
    assert len(segments) == 1
    (seg,) = segments
    key = b"other" if name == "extra key" else b"key:7"
    assert seg == a.tree.segment_of(key)
    assert differing_keys(a.segment_keys(seg), b.segment_keys(seg)) == [key]


def test_delete_then_reinsert_restores_the_root() -> None:
    data = filled_data(100)
    root = data.tree.root()
    data.delete(b"key:5")
    data.delete(b"absent")
    assert data.tree.root() != root and len(data.tree) == 99
    data.set(b"key:5", b"v1")
    assert data.tree.root() == root


def test_updates_match_a_rebuild() -> None:
    """Any sequence of sets and deletes, followed by the tree, gives the tree built afresh
    from the final keys: what lets observers keep a tree current without rescanning."""
    rng = random.Random(5)
    data = filled_data(500)
    for _ in range(3000):
        key = b"key:%d" % rng.randrange(700)
        if rng.random() < 0.3:
            data.delete(key)
        else:
            data.set(key, b"v%d" % rng.randrange(4))
    rebuilt = MerkleTree()
    for key, version_hash in data.keys.items():
        rebuilt.add(key, version_hash)
    assert data.tree.level(2) == rebuilt.level(2) and data.tree.root() == rebuilt.root()
    assert len(data.tree) == len(rebuilt) == len(data.keys)


def test_memory_does_not_grow_with_keys() -> None:
    """O(segments) memory: the tree's containers are as long with 5000 keys as with none."""

    def sizes(tree: MerkleTree) -> list[int]:
        out = []
        for value in vars(tree).values():
            if isinstance(value, list | dict | set):
                out.append(len(value))
                out += [len(x) for x in value if isinstance(x, list | dict)]
        return out

    empty, full = MerkleTree(), filled(5000)
    full.root()
    assert sizes(full) == sizes(empty)


def test_by_segment_lists_only_the_wanted_segments() -> None:
    data = filled_data(300)
    wanted = sorted({data.tree.segment_of(b"key:%d" % i) for i in (1, 2, 3)})
    grouped = data.tree.by_segment(data.keys.items(), wanted)
    assert sorted(grouped) == wanted
    listed = {k for keys in grouped.values() for k in keys}
    assert listed == {k for k in data.keys if data.tree.segment_of(k) in wanted}


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
        b.update(key, b"v1", b"v2")
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
    for level, indices in [(3, [0]), (1, [32]), (2, [-1]), (0, [1])]:  # from a peer: checked
        with pytest.raises(ValueError):
            MerkleTree().hashes(level, indices)


def test_updates_are_incremental(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a write only the written leaf's ancestors are rehashed, not the whole tree."""
    tree = filled(5000)
    tree.root()
    tree.update(b"key:1", b"v1", b"v9")
    assert tree._dirty == {tree.segment_of(b"key:1")}  # the leaf only: ancestors on a read
    calls = []
    real = merkle._h64
    monkeypatch.setattr(merkle, "_h64", lambda *parts: calls.append(len(parts)) or real(*parts))
    root = tree.root()
    assert calls == [32, 32] and not tree._dirty  # one inner node per level
    fresh = filled(5000)
    fresh.update(b"key:1", b"v1", b"v9")
    assert tree.level(1) == fresh.level(1) and root == fresh.root()


@pytest.mark.parametrize("seed", range(20))
def test_differing_sorted_streams_match_differing_keys(seed: int) -> None:
    rng = random.Random(seed)
    mine = {b"k%03d" % rng.randrange(60): b"v%d" % rng.randrange(2) for _ in range(40)}
    theirs = {b"k%03d" % rng.randrange(60): b"v%d" % rng.randrange(2) for _ in range(40)}
    streamed = differing_sorted(iter(sorted(mine.items())), iter(sorted(theirs.items())))
    assert list(streamed) == differing_keys(mine, theirs)


@pytest.mark.parametrize("size", [0, 1, 200, 1023, 1024, 70000])
def test_leaf_terms_keep_their_definition(size: int) -> None:
    """A leaf term is XXH3-64 of (version, key) seeded with the version's length, whatever
    the version's size: peers of one version compare the same leaves (docs/cluster.md says
    what a rolling upgrade across a change of this definition costs)."""
    import xxhash

    version, key = bytes(range(256)) * (size // 256) + bytes(size % 256), b"k\x00\x01key"
    assert merkle._term(key, version) == xxhash.xxh3_64_intdigest(version + key, seed=size)
    if size:  # the same bytes cut elsewhere between version and key: another term
        assert merkle._term(key, version) != merkle._term(version[-1:] + key, version[:-1])
