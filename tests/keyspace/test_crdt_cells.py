"""Hash fields and zset scores on a valued ORSWOT (respdyn/keyspace/crdt/cells.py): the
partition scenarios as pure merges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from respdyn.keyspace.crdt import cells, orset
from respdyn.keyspace.crdt import counter as pn
from respdyn.keyspace.crdt.orset import ORSet

N1, N2 = b"n1", b"n2"


def hash_of(**fields: bytes) -> ORSet:
    s = ORSet()
    for name, value in fields.items():
        cells.set_register(s, name.encode(), value, N1, 100)
    return s


def value(s: ORSet, name: bytes) -> bytes | None:
    f = cells.get_field(s, name)
    return None if f is None else f.value


def hincr(s: ORSet, name: bytes, delta: int, actor: bytes) -> None:
    f = cells.get_field(s, name)
    c = pn.fresh() if f is None else f.counter
    if c is None:
        c = pn.from_int(int(f.value), f.ts, f.node)
    cells.set_counter(s, name, pn.add(c, actor, delta), actor, 100)


def test_concurrent_hset_of_different_fields_keeps_both():
    base = hash_of(a=b"1")
    left, right = base.copy(), base.copy()
    cells.set_register(left, b"x", b"left", N1, 200)
    cells.set_register(right, b"y", b"right", N2, 150)
    merged = orset.merge(left, right)
    assert {f: value(merged, f) for f in merged.elements()} == {
        b"a": b"1", b"x": b"left", b"y": b"right"}


@pytest.mark.parametrize(
    ("t1", "t2", "winner"),
    [(200, 150, b"left"), (150, 200, b"right"), (200, 200, b"right")],  # tie: greater node id
)
def test_concurrent_hset_of_one_field_has_a_deterministic_winner(t1, t2, winner):
    base = hash_of(f=b"old")
    left, right = base.copy(), base.copy()
    cells.set_register(left, b"f", b"left", N1, t1)
    cells.set_register(right, b"f", b"right", N2, t2)
    assert value(orset.merge(left, right), b"f") == winner
    assert value(orset.merge(right, left), b"f") == winner


def test_concurrent_hincrby_adds_up_and_a_stale_copy_changes_nothing():
    base = hash_of(n=b"10")
    left, right = base.copy(), base.copy()
    hincr(left, b"n", 1, N1)
    hincr(right, b"n", 1, N2)
    merged = orset.merge(left, right)
    assert value(merged, b"n") == b"12"
    assert value(orset.merge(merged, base), b"n") == b"12"
    hincr(merged, b"n", 5, N1)  # the next update continues the merged counter
    assert value(orset.merge(merged, right), b"n") == b"17"


def test_concurrent_hdel_and_hset_keep_the_field():
    base = hash_of(f=b"v")
    left, right = base.copy(), base.copy()
    left.remove(b"f")
    cells.set_register(right, b"f", b"w", N2, 300)
    assert value(orset.merge(left, right), b"f") == b"w"


def test_hdel_then_hincrby_starts_from_zero_despite_a_stale_counter():
    base = ORSet()
    hincr(base, b"n", 5, N1)
    newer = base.copy()
    newer.remove(b"n")
    hincr(newer, b"n", 1, N2)
    assert value(orset.merge(base, newer), b"n") == b"1"


def test_hset_newer_than_the_counter_wins_over_concurrent_hincrby():
    base = hash_of(n=b"10")
    left, right = base.copy(), base.copy()
    hincr(left, b"n", 1, N1)
    cells.set_register(right, b"n", b"x", N2, 500)
    assert value(orset.merge(left, right), b"n") == b"x"


def test_timestamps_are_hybrid_so_a_causally_later_write_wins():
    s = hash_of(f=b"first")  # ts 100
    cells.set_register(s, b"f", b"second", N2, 50)  # a node whose clock is behind
    other = s.copy()
    assert cells.get_field(s, b"f").ts == 101
    cells.set_register(other, b"g", b"x", N1, 60)
    assert value(orset.merge(s, other), b"f") == b"second"


def test_concurrent_zadd_of_one_member_newest_score_wins():
    base = ORSet()
    cells.set_score(base, b"m", 1.0, N1, 100)
    left, right = base.copy(), base.copy()
    cells.set_score(left, b"m", 5.0, N1, 300)
    cells.set_score(right, b"m", 7.0, N2, 200)
    merged = orset.merge(left, right)
    assert cells.resolve_score(merged.values(b"m")) == (5.0, 300)


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-100, 100)), max_size=20))
def test_hincrby_on_two_sides_sums(deltas):
    sides = [hash_of(n=b"0"), hash_of(n=b"0")]
    sides[1] = sides[0].copy()
    for side, delta in deltas:
        hincr(sides[side], b"n", delta, (N1, N2)[side])
    assert value(orset.merge(*sides), b"n") == b"%d" % sum(d for _, d in deltas)
