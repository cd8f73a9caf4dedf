"""ORSWOT (respdyn/keyspace/crdt/orset.py): merge laws over histories of adds, removes and
syncs between three replicas; the partition scenarios as pure merges; encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from respdyn.keyspace.crdt import orset
from respdyn.keyspace.crdt.codec import PayloadError
from respdyn.keyspace.crdt.orset import HASH_FORMAT, SET_FORMAT, ORSet

N1, N2 = b"n1", b"n2"


def with_members(*members: bytes, actor: bytes = N1) -> ORSet:
    s = ORSet()
    for m in members:
        s.add(m, actor)
    return s


def members(s: ORSet) -> set[bytes]:
    return set(s.elements())


# --- partition scenarios ---------------------------------------------------------------------


def test_concurrent_add_and_remove_keep_the_member():
    base = with_members(b"x")
    left, right = base.copy(), base.copy()
    left.add(b"x", N1)  # SADD x again on one side
    right.remove(b"x")  # SREM x on the other
    assert members(orset.merge(left, right)) == {b"x"}
    assert members(orset.merge(right, left)) == {b"x"}


def test_members_added_on_both_sides_are_all_kept():
    base = with_members(b"a")
    left, right = base.copy(), base.copy()
    left.add(b"b", N1)
    right.add(b"c", N2)
    assert members(orset.merge(left, right)) == {b"a", b"b", b"c"}


def test_a_remove_that_saw_the_add_wins_over_the_stale_copy():
    base = with_members(b"a", b"b")
    newer = base.copy()
    newer.remove(b"a")
    assert members(orset.merge(base, newer)) == {b"b"}


def test_same_member_added_on_both_sides_removed_on_one_survives_through_the_other():
    left, right = ORSet(), ORSet()
    left.add(b"m", N1)
    right.add(b"m", N2)
    merged = orset.merge(left, right)
    assert len(merged.values(b"m")) == 2  # one dot per side
    left.remove(b"m")  # left removes only what it saw: its own dot
    assert members(orset.merge(left, right)) == {b"m"}


def test_a_recreated_value_never_reissues_an_old_incarnations_dots():
    """A delete loses the clock; time-based first dots keep the new incarnation's adds from
    looking seen by a stale copy of the old one."""
    old = ORSet()
    for i in range(5):
        old.add(b"old%d" % i, N1, now_ms=1_000)
    stale = old.copy()
    stale.add(b"other", N2, now_ms=1_500)
    recreated = ORSet()  # after DEL (or removing the last member) on n1
    recreated.add(b"new", N1, now_ms=2_000)
    assert b"new" in orset.merge(recreated, stale)
    assert recreated.values(b"new")[0][0] == (N1, 2_000 * orset.DOTS_PER_MS)


def test_dots_are_stored_relative_to_the_clock():
    s = ORSet()
    for name in (b"a", b"b", b"c"):
        s.add(name, N1, now_ms=1_764_000_000_000)
    small = orset.encode(s, SET_FORMAT)
    assert len(small) == 1 + 1 + 3 + 8 + 1 + 3 * 5  # the big counter once, in the clock
    assert orset.decode(small, SET_FORMAT) == s


# --- laws over histories ---------------------------------------------------------------------

ACTORS = [b"n1", b"n2", b"n3"]
ELEMENTS = st.sampled_from([b"a", b"b", b"c", b"d"])
OPS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.one_of(
            st.tuples(st.just("add"), ELEMENTS, st.binary(max_size=3)),
            st.tuples(st.just("remove"), ELEMENTS, st.just(b"")),
            st.tuples(st.just("sync"), st.integers(0, 2), st.just(b"")),
        ),
    ),
    max_size=40,
)


def replay(ops) -> list[ORSet]:
    states = [ORSet() for _ in ACTORS]
    for replica, (op, arg, value) in ops:
        if op == "add":
            states[replica].add(arg, ACTORS[replica], value)
        elif op == "remove":
            states[replica].remove(arg)
        else:
            states[replica] = orset.merge(states[replica], states[arg])
    return states


@given(OPS)
def test_merge_is_commutative_associative_idempotent(ops):
    a, b, c = replay(ops)
    assert orset.merge(a, b) == orset.merge(b, a)
    assert orset.merge(orset.merge(a, b), c) == orset.merge(a, orset.merge(b, c))
    assert orset.merge(a, a) == a
    assert orset.merge(a, ORSet()) == a


@given(OPS)
def test_merge_does_not_change_its_inputs(ops):
    a, b, _ = replay(ops)
    before = (a.copy(), b.copy())
    orset.merge(a, b)
    assert (a, b) == before


@given(OPS)
def test_encoding_round_trips_and_is_canonical(ops):
    a, b, c = replay(ops)
    merged = orset.merge_all([a, b, c])
    for s in (a, b, c, merged):
        assert orset.decode(orset.encode(s, HASH_FORMAT), HASH_FORMAT) == s
    assert orset.encode(orset.merge(a, b), HASH_FORMAT) == orset.encode(
        orset.merge(b, a), HASH_FORMAT)


@given(OPS)
def test_merger_equals_merge_of_decoded(ops):
    a, b, c = replay(ops)
    payloads = [orset.encode(s, HASH_FORMAT) for s in (a, b, c)]
    assert orset.merger(HASH_FORMAT)(payloads) == orset.encode(
        orset.merge_all([a, b, c]), HASH_FORMAT)


@given(st.lists(st.tuples(st.integers(0, 2), ELEMENTS), max_size=20))
def test_adds_without_removes_are_a_union(adds):
    states = [ORSet() for _ in ACTORS]
    for replica, element in adds:
        states[replica].add(element, ACTORS[replica])
    assert members(orset.merge_all(states)) == {e for _, e in adds}


def test_set_encoding_is_compact():
    data = orset.encode(with_members(b"a", b"b", b"c"), SET_FORMAT)
    assert data[0] == SET_FORMAT
    assert len(data) == 1 + 1 + 3 + 1 + 1 + 3 * 5  # 5 bytes a one-letter member
    assert orset.decode(data, SET_FORMAT) == with_members(b"a", b"b", b"c")


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"", SET_FORMAT),
        (b"\x02\x00\x00", SET_FORMAT),  # a hash payload where a set is expected
        (b"\x01\x01\x02n1", SET_FORMAT),  # clock missing
        (b"\x01\x01\x02n1\x01\x01\x01a\x01\x05\x00", SET_FORMAT),  # unknown actor index
        (b"\x01\x01\x02n1\x01\x01\x01a\x01\x00\x01", SET_FORMAT),  # dot past the clock
        (b"\x02\x01\x02n1\x01\x01\x01a\x01\x00\x00\x05xy", HASH_FORMAT),  # value truncated
    ],
    ids=["empty", "wrong-format", "truncated-clock", "unknown-actor", "beyond-clock",
         "truncated-value"],
)
def test_corrupt_payloads_are_reported(data, fmt):
    with pytest.raises(PayloadError):
        orset.decode(data, fmt)


@given(OPS, ELEMENTS)
def test_find_equals_decode(ops, wanted):
    for state in replay(ops):
        data = orset.encode(state, HASH_FORMAT)
        assert orset.find(data, HASH_FORMAT, wanted) == state.entries.get(wanted)
        assert orset.find(orset.encode(state, SET_FORMAT), SET_FORMAT, wanted) == (
            None if wanted not in state else dict.fromkeys(state.entries[wanted], b""))
