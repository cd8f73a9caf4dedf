"""PN-counter (respdyn/keyspace/crdt/counter.py): merge laws, partition scenarios, encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from respdyn.keyspace.crdt import counter as pn
from respdyn.keyspace.crdt.codec import PayloadError

ACTORS = [b"n1", b"n2", b"n3"]


def incr(c: pn.Counter, actor: bytes, *deltas: int) -> pn.Counter:
    for d in deltas:
        c = pn.add(c, actor, d)
    return c


# --- partition scenarios as pure merges ------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "left", "right", "expected"),
    [
        (pn.fresh(), [1], [1], 2),  # concurrent INCRs sum: +2, never +1
        (pn.fresh(), [5, -2], [-10], -7),
        (pn.from_int(10, 99, b"n1"), [1], [1], 12),  # both sides converted the same string
        (incr(pn.fresh(), b"n1", 3), [1], [1, 1], 6),
        (pn.fresh(), [], [], 0),
    ],
)
def test_concurrent_increments_sum(start, left, right, expected):
    a = incr(start, b"n1", *left)
    b = incr(start, b"n2", *right)
    assert pn.merge(a, b).value() == expected
    assert pn.merge(b, a).value() == expected


def test_greater_incarnation_wins_whole():
    old = incr(pn.fresh(), b"n1", 5)
    new = incr(pn.from_int(100, 7, b"n2"), b"n2", 1)
    assert pn.merge(old, new).value() == 101
    assert pn.merge(new, old) == pn.merge(old, new)


def test_stale_state_does_not_undo_increments():
    a = incr(pn.fresh(), b"n1", 1, 1, 1)
    stale = incr(pn.fresh(), b"n1", 1)
    assert pn.merge(a, stale).value() == 3


# --- laws ------------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.integers(0, 2),  # replica
        st.one_of(
            st.tuples(st.just("add"), st.integers(-(2**64), 2**64)),
            st.tuples(st.just("sync"), st.integers(0, 2)),
            st.tuples(st.just("convert"), st.integers(-5, 5)),
        ),
    ),
    max_size=30,
)


def replay(ops) -> list[pn.Counter]:
    """Three replicas (actors n1..n3) applying increments, syncs and conversions."""
    states = [pn.fresh() for _ in ACTORS]
    for clock, (replica, (op, arg)) in enumerate(ops, 1):
        if op == "add":
            states[replica] = pn.add(states[replica], ACTORS[replica], arg)
        elif op == "sync":
            states[replica] = pn.merge(states[replica], states[arg])
        else:
            states[replica] = pn.from_int(arg, clock, ACTORS[replica])
    return states


@given(OPS)
def test_merge_is_commutative_associative_idempotent(ops):
    a, b, c = replay(ops)
    assert pn.merge(a, b) == pn.merge(b, a)
    assert pn.merge(pn.merge(a, b), c) == pn.merge(a, pn.merge(b, c))
    assert pn.merge(a, a) == a


@given(OPS)
def test_encoding_round_trips_and_is_canonical(ops):
    a, b, c = replay(ops)
    for s in (a, b, c, pn.merge(a, pn.merge(b, c))):
        assert pn.decode(pn.encode(s)) == s
    assert pn.encode(pn.merge(a, b)) == pn.encode(pn.merge(b, a))


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(-1000, 1000)), max_size=40))
def test_disjoint_actors_add_up(deltas):
    """Every replica increments without syncing: the merge holds every increment."""
    states = [pn.fresh() for _ in ACTORS]
    for replica, delta in deltas:
        states[replica] = pn.add(states[replica], ACTORS[replica], delta)
    assert pn.merge_all(states).value() == sum(d for _, d in deltas)


def test_encoding_is_compact():
    assert len(pn.encode(incr(pn.fresh(), b"node1", 1))) == 13


@pytest.mark.parametrize(
    "data",
    [b"", b"\x02", b"\x01", b"\x01\x00\x00\x05ab", b"\x01\x00\x00\x00\x01\x02n1\x80"],
    ids=["empty", "bad-format", "no-base", "short-node", "truncated-varint"],
)
def test_corrupt_payloads_are_reported(data):
    with pytest.raises(PayloadError):
        pn.decode(data)
