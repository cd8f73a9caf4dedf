"""The list CRDT: merge laws (commutative, associative, idempotent), every concurrent push kept
in one deterministic order, removals never undone by a merge, LINSERT's dense positions, and the
encoding (round trip, format byte, corruption)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respdyn.keyspace.crdt import lists as crdt

# --- building replicas -----------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.booleans(), st.lists(st.binary(max_size=3), min_size=1,
                                                           max_size=3)),
        st.tuples(st.just("insert"), st.integers(0, 50), st.binary(max_size=3)),
        st.tuples(st.just("set"), st.integers(0, 50), st.binary(max_size=3)),
        st.tuples(st.just("remove"), st.lists(st.integers(0, 50), max_size=3)),
    ),
    max_size=12,
)


def apply(value: crdt.ListValue, ops: list, node: bytes) -> crdt.ListValue:
    """Run `ops` on a copy of `value` as `node` would (ids from next_seq, like the commands)."""
    value = crdt.decode(crdt.encode(value))
    for op in ops:
        seq = value.next_seq(node, 1000)
        n = len(value)
        if op[0] == "push":
            value.push(op[2], op[1], node, seq)
        elif op[0] == "insert":
            value.insert(op[1] % (n + 1), op[2], node, seq)
        elif op[0] == "set" and n:
            value.set(op[1] % n, op[2], node, seq)
        elif op[0] == "remove" and n:
            value.remove([i % n for i in op[1]])
    return value


@st.composite
def replicas(draw, count: int = 3) -> list[crdt.ListValue]:
    """`count` concurrent versions of one list: a common history, then one branch per node."""
    base = apply(crdt.ListValue(), draw(OPS), b"base")
    return [apply(base, draw(OPS), b"node%d" % i) for i in range(count)]


def merged(*values: crdt.ListValue) -> bytes:
    return crdt.merge([crdt.encode(v) for v in values])


# --- merge laws --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(replicas())
def test_merge_is_commutative_associative_idempotent(values):
    a, b, c = values
    assert merged(a, b) == merged(b, a)
    ab_c = crdt.merge([merged(a, b), crdt.encode(c)])
    a_bc = crdt.merge([crdt.encode(a), merged(b, c)])
    assert ab_c == a_bc == merged(a, b, c) == merged(c, b, a)
    assert merged(a, a) == crdt.encode(crdt.merge_values([a]))
    assert crdt.merge([merged(a, b), crdt.encode(a)]) == merged(a, b)


@settings(max_examples=300, deadline=None)
@given(replicas())
def test_merge_keeps_every_live_element_and_never_resurrects(values):
    result = crdt.decode(merged(*values))
    ids = [e.id for e in result.elements]
    assert len(ids) == len(set(ids))
    removed = {i for v in values for i in _ids_removed(v)}
    for v in values:
        for e in v.elements:
            assert (e.id in ids) == (e.id not in removed)
    assert not set(ids) & removed
    # each replica's own order is kept for the elements that survive
    for v in values:
        order = [e.id for e in v.elements if e.id in ids]
        assert order == [i for i in ids if i in set(order)]


def _ids_removed(value: crdt.ListValue):
    for node, ranges in value.removed.items():
        for first, last in ranges:
            for seq in range(first, last + 1):
                yield node, seq


def test_concurrent_pushes_on_both_sides_keep_everything_in_one_order():
    base = crdt.from_values([b"x"], b"base", 1)
    left = apply(base, [("push", False, [b"l1", b"l2"]), ("push", True, [b"l0"])], b"A")
    right = apply(base, [("push", False, [b"r1"]), ("push", True, [b"r0"])], b"B")
    one = crdt.decode(merged(left, right)).values()
    assert one == crdt.decode(merged(right, left)).values()
    assert sorted(one) == sorted([b"x", b"l1", b"l2", b"l0", b"r1", b"r0"])
    # pushes at one end interleave by distance from the common element, ties by node id
    assert one == [b"l0", b"r0", b"x", b"l1", b"r1", b"l2"]


def test_concurrent_pops_deliver_the_same_element_on_both_sides():
    """At-least-once: both sides popped `a`; after the merge it is gone once, not twice."""
    base = crdt.from_values([b"a", b"b", b"c"], b"base", 1)
    left, right = apply(base, [("remove", [0])], b"A"), apply(base, [("remove", [0])], b"B")
    assert left.values() == right.values() == [b"b", b"c"]
    assert crdt.decode(merged(left, right)).values() == [b"b", b"c"]


def test_concurrent_lset_converges_to_one_value():
    base = crdt.from_values([b"a"], b"base", 1)
    left, right = apply(base, [("set", 0, b"L")], b"A"), apply(base, [("set", 0, b"R")], b"B")
    assert crdt.decode(merged(left, right)).values() == crdt.decode(merged(right, left)).values()
    assert crdt.decode(merged(left, right)).values() in ([b"L"], [b"R"])


def test_lset_then_concurrent_pop_removes_the_element():
    base = crdt.from_values([b"a", b"b"], b"base", 1)
    left, right = apply(base, [("set", 0, b"L")], b"A"), apply(base, [("remove", [0])], b"B")
    assert crdt.decode(merged(left, right)).values() == [b"b"]


# --- positions ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 200), min_size=1, max_size=60))
def test_inserting_anywhere_keeps_positions_strictly_ordered(indexes):
    value = crdt.ListValue()
    expected: list[bytes] = []
    for n, i in enumerate(indexes):
        i %= len(expected) + 1
        value.insert(i, b"%d" % n, b"N", n)
        expected.insert(i, b"%d" % n)
    positions = [e.position for e in value.elements]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert crdt.decode(crdt.encode(value)).values() == expected


def test_repeated_insert_at_one_place_stays_shallow():
    """LINSERT AFTER the same pivot a thousand times: depth grows slowly (midpoints first)."""
    value = crdt.from_values([b"p", b"q"], b"N", 1)
    for n in range(1000):
        value.insert(1, b"x", b"N", 10 + n)
    assert max(len(e.position) for e in value.elements) <= 70


def test_between_with_equal_digits_goes_one_level_deeper():
    a, b = ((0, b"A", 1),), ((0, b"B", 1),)  # a concurrent RPUSH pair: same digit
    mid = crdt.between(a, b, b"C", 5)
    assert a < mid < b


# --- encoding ----------------------------------------------------------------------------------


def test_encoding_round_trip_and_compact_removed_ranges():
    value = crdt.from_values([b"job%d" % i for i in range(100)], b"node-1", 10**15)
    value.remove(range(60))  # a queue's pops: one range
    data = crdt.encode(value)
    assert data[0] == crdt.FORMAT
    back = crdt.decode(data)
    assert back.values() == [b"job%d" % i for i in range(60, 100)]
    assert back.removed == {b"node-1": [(10**15, 10**15 + 59)]}
    assert crdt.encode(back) == data


def test_next_seq_is_consecutive_for_a_node_and_floor_for_a_new_one():
    value = crdt.from_values([b"a", b"b"], b"A", 7)
    assert value.next_seq(b"A", 1000) == 9
    value.remove([0, 1])
    assert value.next_seq(b"A", 1000) == 9  # removed ids are never reissued
    assert value.next_seq(b"B", 1000) == 1000


@pytest.mark.parametrize(
    "data",
    [b"", b"\x02", b"\x01", b"\x01\x01\x05abc", b"\x01\x00\x01\x01\x00\x05\x01",
     b"\x01\x00\x00\x00x"],
    ids=["empty", "bad-format", "truncated-nodes", "truncated-node", "unknown-node", "trailing"],
)
def test_corrupt_payloads_are_refused(data):
    with pytest.raises(crdt.ListFormatError):
        crdt.decode(data)
