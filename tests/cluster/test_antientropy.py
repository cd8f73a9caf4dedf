"""Anti-entropy in one process: two replicas over real storage engines, joined by a stub
network that calls the peer's handlers directly (the bytes are those of the wire ops).

Trees follow writes exactly (a rebuild gives the same hashes), even writes made while a tree
is being built; an exchange lists only the differing segments and repairs only differing keys,
both ways, deletions included; DYNAMO REPAIR's service counts the keys it repaired."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import gevent
import pytest

import storage
from respdyn.cluster import antientropy as aae
from respdyn.cluster import dvv, merkle
from respdyn.cluster import messages as m
from respdyn.cluster.replica import Replica
from respdyn.cluster.ring import Ring
from respdyn.cluster.transport import RemoteError
from respdyn.keyspace import layout
from respdyn.keyspace.replicated import LayoutKeys

Q = 8


class Network(dict):
    """node id -> StubNode; `down` nodes fail every call at once, like a refused link."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()
        self.calls: list[tuple[str, bytes, list[bytes]]] = []


class StubTransport:
    def __init__(self, network: Network, me: str) -> None:
        self.network, self.me = network, me
        self.inline_ops: frozenset[bytes] = frozenset()
        self.links: dict[str, Any] = {}

    def call(self, node: str, op: bytes, args: list[bytes], callback, timeout=None) -> None:
        self.network.calls.append((node, op, list(args)))
        if node in self.network.down:
            callback(None)
            return
        try:
            payload = self.network[node].handle(self.me, op, args)
        except RemoteError as exc:
            callback(m.Reply(0, False, [exc.code, *exc.detail]))
            return
        callback(m.Reply(0, True, payload))

    def is_up(self, node: str) -> bool | None:
        return node not in self.network.down


class StubNode:
    """What the anti-entropy service uses of a Coordinator, over a real engine."""

    def __init__(self, network: Network, node_id: str, path, ring: Ring) -> None:
        self.node_id = node_id
        self.engine = storage.open(str(path), storage.Options(fsync="no"))
        self.replica = Replica(self.engine, node_id)
        self.membership = SimpleNamespace(  # down: as the failure detector would say
            ring=ring, on_change=[], is_down=lambda node: node in network.down)
        self.keymap = LayoutKeys()
        self.timeout = 1.0
        self.handlers: dict[bytes, Any] = {}
        self.transport = StubTransport(network, node_id)
        network[node_id] = self
        self.service = aae.attach(self, lambda: 0.0)

    def partition_preference(self, partition: int) -> list[str]:
        return self.membership.ring.preference_list(partition, 2)

    def serve(self, op: bytes, handler, inline: bool = False) -> None:
        self.handlers[op] = handler

    def handle(self, peer: str, op: bytes, args: list[bytes]) -> list[bytes]:
        if op == m.STORE:
            self.replica.merge(args[0], args[1])
            return []
        return self.handlers[op](peer, args)

    def call(self, node: str, op: bytes, args: list[bytes], timeout=None) -> m.Reply | None:
        out: list[m.Reply | None] = []
        self.transport.call(node, op, args, out.append, timeout)
        return out[0]

    # -- writes as a client's would arrive -------------------------------------------------

    def write(self, key: bytes, value: bytes | None, ts: int = 1) -> bytes:
        encoded = self.replica.coordinate(raw(key), dvv.Sibling(value, ts), None).encoded
        return encoded

    def clocks(self) -> dict[bytes, bytes]:
        return dict(self.engine.scan())

    def built(self) -> StubNode:
        self.service.trees.refresh()
        self.service.trees.build_queued()
        return self


def raw(key: bytes) -> bytes:
    return layout.data_key(0, key)


@pytest.fixture
def pair(tmp_path) -> Iterator[tuple[StubNode, StubNode]]:
    network = Network()
    ring = Ring.initial(["a", "b"], Q)
    a = StubNode(network, "a", tmp_path / "a", ring)
    b = StubNode(network, "b", tmp_path / "b", ring)
    try:
        yield a, b
    finally:
        a.engine.close()
        b.engine.close()


def replicated(a: StubNode, b: StubNode, count: int) -> None:
    """`count` keys written through a and merged on b, as a successful put leaves them."""
    for i in range(count):
        b.replica.merge(raw(b"key:%d" % i), a.write(b"key:%d" % i, b"v%d" % i))


def roots(node: StubNode) -> dict[int, bytes]:
    return {p: tree.root() for p, tree in node.service.trees.trees.items()}


def rebuilt_roots(node: StubNode) -> dict[int, bytes]:
    fresh = aae.Trees(node)
    fresh.refresh()
    fresh.build_queued()
    return {p: tree.root() for p, tree in fresh.trees.items()}


def test_observed_writes_match_a_rebuild(pair) -> None:
    a, b = pair
    a.built()
    replicated(a, b, 500)
    for i in range(0, 500, 7):
        a.write(b"key:%d" % i, None, ts=2)  # deletes: tombstone clocks
    for i in range(0, 500, 11):
        a.replica.merge(raw(b"key:%d" % i), b.write(b"key:%d" % i, b"from b", ts=3))
    assert len(a.service.trees.ready) == Q
    assert roots(a) == rebuilt_roots(a)
    assert sum(len(t) for t in a.service.trees.trees.values()) == 500


def test_writes_during_a_build_are_counted_once(pair, monkeypatch) -> None:
    """The build's snapshot and the observed writes must not overlap or leave a gap."""
    a, b = pair
    monkeypatch.setattr(aae, "SCAN_YIELD", 16)  # the builder yields often: writes interleave
    replicated(a, b, 3000)

    def writer() -> None:
        for i in range(300):
            a.write(b"key:%d" % (i * 7), b"new", ts=5)
            a.write(b"extra:%d" % i, b"x")
            a.replica.coordinate(layout.data_key(1, b"db1:%d" % i), dvv.Sibling(b"y", 1), None)
            gevent.sleep(0)

    a.service.trees.refresh()
    builder = gevent.spawn(a.service.trees.build_queued)
    writing = gevent.spawn(writer)
    gevent.joinall([builder, writing], timeout=30, raise_error=True)
    assert writing.dead and builder.dead
    assert a.service.stats.builds == Q
    assert roots(a) == rebuilt_roots(a)


def test_exchange_lists_only_differing_segments_and_repairs_both_ways(pair) -> None:
    a, b = pair
    replicated(a, b, 2000)
    only_a = [b"key:%d" % i for i in (3, 500, 1999)]
    for key in only_a:
        a.write(key, b"a's newer", ts=9)
    a.write(b"key:42", None, ts=9)  # a delete b missed
    only_b = [b"b-only:%d" % i for i in range(2)]
    for key in only_b:
        b.write(key, b"b's")
    changed = {raw(k) for k in [*only_a, b"key:42", *only_b]}
    a.built(), b.built()
    network = a.transport.network

    repaired: set[bytes] = set()
    for partition in range(Q):
        network.calls.clear()
        repaired |= a.service.exchange(partition, "b")
        asked = {int(s) for _, op, args in network.calls if op == aae.MSEGS for s in args[3:]}
        expected = {merkle.MerkleTree().segment_of(k) for k in changed
                    if a.service.trees.partition_of(k) == partition}  # fmt: skip
        assert asked == expected, partition
        clocks_asked = {k for _, op, args in network.calls if op == aae.MCLOCKS for k in args}
        assert clocks_asked == {k for k in changed if a.service.trees.partition_of(k) == partition}
    assert repaired == changed
    assert a.clocks() == b.clocks()
    assert roots(a) == roots(b) == rebuilt_roots(b)
    assert dvv.values(dvv.decode(b.replica.read_raw(raw(b"key:42"))))[0].value is None
    assert a.service.stats.exchanges == Q and a.service.stats.keys_repaired == len(changed)
    # equal trees: one hash each, nothing listed
    network.calls.clear()
    assert all(a.service.exchange(p, "b") == set() for p in range(Q))
    assert [op for _, op, _ in network.calls] == [aae.MTREE] * Q


def test_repair_restores_a_wiped_replica_in_pages(pair, monkeypatch) -> None:
    a, b = pair
    monkeypatch.setattr(aae, "SEGMENT_PAGE", 7)  # many MSEGS pages per partition
    for i in range(400):
        a.write(b"key:%d" % i, b"v")
    a.built(), b.built()
    assert b.service.repair() == 400
    assert a.clocks() == b.clocks()
    assert b.service.stats.last_repair_keys == 400
    assert b.service.repair() == 0


def test_repair_skips_down_peers_and_waits_for_trees(pair) -> None:
    a, b = pair
    a.write(b"k", b"v")
    b.built()
    a.transport.network.down.add("a")
    assert b.service.repair() == 0 and b.service.stats.exchanges == 0
    a.transport.network.down.clear()
    a.service.trees.refresh()
    builder = gevent.spawn_later(0.1, a.service.trees.build_queued)  # a's trees come later
    assert b.service.repair() == 1
    builder.join()


def test_range_delete_rebuilds_the_partitions_it_touches(pair) -> None:
    a, b = pair
    replicated(a, b, 200)
    a.built()
    start, end = layout.db_range(0)
    a.replica.delete_range(start, end)
    assert a.service.trees.ready == set()
    a.service.trees.build_queued()
    assert len(a.service.trees.ready) == Q
    assert set(roots(a).values()) == {merkle.MerkleTree().root()}


def test_tree_requests_from_peers_are_checked(pair) -> None:
    a, _ = pair
    trees = a.service.trees
    with pytest.raises(RemoteError) as info:
        trees.serve_tree("b", [b"0", b"0", b"0"])
    assert info.value.code == aae.NOT_READY
    a.built()
    assert trees.serve_tree("b", [b"0", b"0", b"0"]) == [trees.trees[0].root()]
    for args in ([b"0", b"9", b"0"], [b"0", b"1", b"32"], [b"x", b"0", b"0"]):
        with pytest.raises(RemoteError):
            trees.serve_tree("b", args)
    assert m.ARITY[aae.MTREE] == -3 and m.ARITY[aae.MSEGS] == -4 and m.ARITY[aae.MCLOCKS] == -1
