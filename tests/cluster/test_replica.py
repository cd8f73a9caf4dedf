"""The replica's pure steps: what the coordinating replica stores for a write, and what a
replica stores when another one's clock arrives (table-driven, no engine, no network)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import storage
from respdyn.cluster import dvv
from respdyn.cluster.replica import LWW, SIBLINGS, Replica, coordinate_step, merge_step


def S(value: bytes | None, ts: int) -> dvv.Sibling:
    return dvv.Sibling(value, ts)


def values(clock: dvv.Clock) -> list[bytes | None]:
    return sorted((s.value for s in dvv.values(clock)), key=lambda v: v or b"")


def write(local, value, context, node, policy=SIBLINGS):
    return coordinate_step(local, value, context, node, policy)


A1 = write(None, S(b"a", 1), None, "n1")  # n1:1 = a
B1 = write(None, S(b"b", 2), None, "n2")  # n2:1 = b, concurrent with a
BOTH = merge_step(A1, B1)


@pytest.mark.parametrize(
    "local, value, context, node, expected",
    [
        # a first write
        (None, S(b"a", 1), None, "n1", [b"a"]),
        # a blind write supersedes everything this replica holds
        (A1, S(b"x", 3), None, "n1", [b"x"]),
        (BOTH, S(b"x", 3), None, "n3", [b"x"]),
        # a context that saw nothing keeps what is stored as siblings
        (A1, S(b"x", 3), (), "n1", [b"a", b"x"]),
        # a context covering one sibling supersedes exactly that one
        (BOTH, S(b"x", 3), (("n1", 1),), "n1", [b"b", b"x"]),
        (BOTH, S(b"x", 3), dvv.join(BOTH), "n2", [b"x"]),
        # a tombstone is a value like any other
        (A1, S(None, 3), dvv.join(A1), "n1", [None]),
        # a context from the future (another replica saw more) is fine
        (A1, S(b"x", 3), (("n1", 5),), "n1", [b"x"]),
    ],
)
def test_coordinate_step(local, value, context, node, expected):
    clock = write(local, value, context, node)
    assert values(clock) == expected
    if local is not None:
        assert dvv.less(local, clock)  # the new clock dominates what was stored
    assert all(s.node == node for s in dvv.values(clock) if s.value == value.value)


def test_blind_writes_at_one_replica_never_repeat_a_dot():
    clock = None
    for i in range(5):
        clock = write(clock, S(b"%d" % i, i), None, "n1")
    assert clock.entries == (("n1", 5, (dvv.Sibling(b"4", 4, "n1"),)),)


@pytest.mark.parametrize(
    "local, incoming, expected",
    [
        (None, A1, [b"a"]),
        (A1, A1, [b"a"]),  # idempotent
        (A1, B1, [b"a", b"b"]),  # concurrent: siblings
        (A1, write(A1, S(b"x", 3), None, "n1"), [b"x"]),  # newer: replaces
        (write(A1, S(b"x", 3), None, "n1"), A1, [b"x"]),  # older arrives late: ignored
        (BOTH, write(BOTH, S(b"r", 9), dvv.join(BOTH), "n3"), [b"r"]),  # a resolve
    ],
)
def test_merge_step(local, incoming, expected):
    assert values(merge_step(local, incoming)) == expected


def test_lww_policy_keeps_the_newest_and_the_history():
    merged = merge_step(A1, B1, LWW)
    assert values(merged) == [b"b"]  # ts 2 beats ts 1
    assert dvv.join(merged) == dvv.join(BOTH)
    assert values(write(A1, S(b"x", 0), (), "n2", LWW)) == [b"a"]  # lww at write time too


def test_prune_keeps_members():
    clock = coordinate_step(None, S(b"a", 1), None, "n1", SIBLINGS, {"n1"})
    assert dvv.join(clock) == (("n1", 1),)


class FakeEngine(dict):
    def get(self, key, fill_cache=True):  # storage.Engine.get's signature
        return super().get(key)

    def put(self, key, value):
        self[key] = value

    def write(self, batch):  # a WriteBatch of puts (merge_many's)
        for _, key, value in batch.ops:
            self[key] = value

    def write_out(self):  # the WAL hand-off to the OS a new dot waits for
        pass


def test_replica_service_stores_encoded_clocks():
    engine = FakeEngine()
    replica = Replica(engine, "n1")
    written = replica.coordinate(b"k", S(b"a", 1), None)
    clock, encoded = written.clock, written.encoded
    assert engine[b"k"] == encoded == dvv.encode(clock)
    assert replica.merge(b"k", encoded) is False  # same bytes: nothing to do
    assert replica.merge(b"k", dvv.encode(B1)) is True
    assert values(replica.read(b"k")) == [b"a", b"b"]
    assert replica.stored_with_siblings == 1
    other = Replica(FakeEngine(), "n2")
    assert other.merge(b"k", encoded) is True  # a first version is stored as sent
    with pytest.raises(ValueError):
        Replica(engine, "n1", policy="newest")


# ---- tombstones past their grace period -------------------------------------------------------


def _tombstone(node: str, ts: int) -> dvv.Clock:
    """A value written, then deleted over it: only the deletion is left."""
    first = dvv.update(dvv.new([S(b"x", ts - 1)]), None, node)
    return dvv.update(dvv.new([S(None, ts)], dvv.join(first)), first, node)


def test_expired_tombstone_is_only_an_old_deletion():
    old = _tombstone("n1", 1000)
    assert dvv.expired_tombstone(old, 2000)
    assert not dvv.expired_tombstone(old, 1000)  # not older than the bound
    live = dvv.update(dvv.new([S(b"v", 10)]), None, "n1")
    assert not dvv.expired_tombstone(live, 10**15)
    both = dvv.sync(old, dvv.update(dvv.new([S(b"w", 10)]), None, "n2"))
    assert not dvv.expired_tombstone(both, 10**15)  # a concurrent value keeps it


def test_a_purged_tombstone_is_no_version_and_cannot_hide_newer_writes():
    engine = FakeEngine()
    replica = Replica(engine, "n1")
    replica.grace_ms = 1000
    engine[b"k"] = dvv.encode(_tombstone("n1", 5))  # deleted long ago: counter n1 = 2
    assert replica.read(b"k") is None
    clock = replica.coordinate(b"k", S(b"again", 10**13), None).clock
    assert values(clock) == [b"again"]  # a fresh history: the old tombstone is not merged in
    other = Replica(FakeEngine(), "n2")
    other.grace_ms = 1000
    other.engine[b"k"] = dvv.encode(_tombstone("n1", 5))  # a replica not compacted yet
    assert other.merge(b"k", dvv.encode(clock))
    assert values(other.read(b"k")) == [b"again"]
    assert not other.merge(b"k", dvv.encode(_tombstone("n1", 5)))  # ignored from now on
    assert values(other.read(b"k")) == [b"again"]


def test_without_a_grace_period_tombstones_stay_versions():
    engine = FakeEngine()
    replica = Replica(engine, "n1")
    engine[b"k"] = dvv.encode(_tombstone("n1", 5))
    assert replica.read(b"k") is not None


def test_a_write_over_the_same_version_is_stored_as_sent_and_over_another_is_merged():
    coordinator, in_sync, diverged = (Replica(FakeEngine(), n) for n in ("n1", "n2", "n3"))
    first = coordinator.coordinate(b"k", S(b"a", 1), None)
    for replica in (in_sync, diverged):
        assert replica.merge(b"k", first.encoded, first.base) is True
    assert diverged.merge(b"k", dvv.encode(B1)) is True  # a concurrent write only n3 has
    second = coordinator.coordinate(b"k", S(b"c", 3), None)
    assert second.base == dvv.digest(first.encoded)
    assert in_sync.merge(b"k", second.encoded, second.base) is True
    assert in_sync.engine[b"k"] == second.encoded  # as sent: it descends what n2 held
    assert diverged.merge(b"k", second.encoded, second.base) is True
    assert sorted(values(diverged.read(b"k"))) == [b"b", b"c"]  # the concurrent one survives
    assert diverged.merge(b"k", second.encoded, b"\0" * 16) is False  # a wrong base: merged


def test_a_delete_names_no_base():
    replica = Replica(FakeEngine(), "n1")
    replica.coordinate(b"k", S(b"a", 1), None)
    assert replica.coordinate(b"k", S(None, 2), None).base is None


def test_offloaded_replicas_store_what_direct_ones_do():
    """With engine calls offloaded (fsync=always) every write goes through the offload under
    the key's lock, with the same results and stored bytes as the direct path."""
    calls = []

    def offload(fn, *args):
        calls.append(fn.__name__)
        return fn(*args)

    direct, offloaded = Replica(FakeEngine(), "n1"), Replica(FakeEngine(), "n1", offload=offload)
    peer_direct = Replica(FakeEngine(), "n2")
    peer_offloaded = Replica(FakeEngine(), "n2", offload=offload)
    steps = [(b"k", S(b"a", 1), None), (b"k", S(b"b", 2), None), (b"j", S(None, 3), None),
             (b"k", S(b"c", 4), ())]
    for key, value, context in steps:
        a = direct.coordinate(key, value, context)
        b = offloaded.coordinate(key, value, context)
        assert (a.encoded, a.base) == (b.encoded, b.base)
        assert peer_direct.merge(key, a.encoded, a.base) == peer_offloaded.merge(
            key, b.encoded, b.base)
    assert peer_direct.merge(b"k", dvv.encode(B1)) == peer_offloaded.merge(b"k", dvv.encode(B1))
    assert direct.engine == offloaded.engine and peer_direct.engine == peer_offloaded.engine
    assert calls.count("put") == 2 * len(steps) + 1
    assert not offloaded._locks and not peer_offloaded._locks  # every lock released


# ---- multi-key STORE: merge_many -------------------------------------------------------------

WRITES = st.lists(
    st.tuples(st.sampled_from(["n1", "n2"]), st.sampled_from([b"a", b"b", b"c"]),
              st.one_of(st.none(), st.binary(max_size=3)), st.booleans()),
    min_size=1, max_size=30,
)


def _items(writes: list) -> list[tuple[bytes, bytes, bytes | None]]:
    """The STOREs two coordinators send for `writes` (some without their base, as a repair
    or a delete sends them; some keys several times in a row)."""
    coordinators = {node: Replica(FakeEngine(), node) for node in ("n1", "n2")}
    items = []
    for ts, (node, key, value, with_base) in enumerate(writes):
        written = coordinators[node].coordinate(key, S(value, ts), None)
        items.append((key, written.encoded, written.base if with_base else None))
    return items


@settings(max_examples=60, deadline=None)
@given(writes=WRITES, cut=st.integers(min_value=1, max_value=30))
def test_merge_many_stores_what_one_merge_at_a_time_does(writes, cut):
    items = _items(writes)
    one, many = Replica(FakeEngine(), "n3"), Replica(FakeEngine(), "n3")
    seen_one, seen_many = [], []
    one.observers.append(lambda *change: seen_one.append(change))
    many.observers.append(lambda *change: seen_many.append(change))
    for key, clock, base in items:
        one.merge(key, clock, base)
    for start in range(0, len(items), cut):
        many.merge_many(items[start : start + cut])
    assert dict(many.engine) == dict(one.engine)
    assert seen_many == seen_one  # the anti-entropy trees follow the same changes
    assert many.stored_with_siblings == one.stored_with_siblings


@pytest.fixture
def engine(tmp_path):
    engine = storage.open(tmp_path / "db")
    yield engine
    engine.close()


def test_merge_many_is_one_engine_write(engine):
    replica = Replica(engine, "n3")
    items = _items([("n1", b"k%d" % i, b"v", True) for i in range(3)]
                   + [("n2", b"a", b"w", True), ("n2", b"a", b"x", True)])
    before = engine.stats()["group_commits"]
    replica.merge_many(items)
    assert engine.stats()["group_commits"] == before + 1  # one WAL record for the lot
    assert engine.get(b"a") == items[-1][1]  # the key met twice: the second over the first
    assert [engine.get(key) for key, _, _ in items[:3]] == [clock for _, clock, _ in items[:3]]


def test_merge_many_writes_nothing_if_a_clock_is_garbage(engine):
    replica = Replica(engine, "n3")
    good = _items([("n1", b"k", b"v", True)])
    engine.put(b"j", good[0][1])  # so the garbage below must be decoded to be merged
    with pytest.raises(ValueError):
        replica.merge_many([*good, (b"j", b"\xd1garbage", None)])
    assert engine.get(b"k") is None
