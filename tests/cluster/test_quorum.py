"""Quorum tally: each row is a request shape, a sequence of answers, the outcome after each."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from respdyn.cluster.quorum import Acks, Outcome, Tally

P, OK, F = Outcome.PENDING, Outcome.OK, Outcome.FAILED

# (name, Tally kwargs, [(node, ok, hint_for)], [outcome after each answer])
CASES = [
    ("W=2 of 3, two acks", dict(n=3, needed=2), [("a", True, None), ("b", True, None)], [P, OK]),
    ("W=2 of 3, one fails then ok", dict(n=3, needed=2),
        [("a", True, None), ("b", False, None), ("c", True, None)], [P, P, OK]),
    ("W=2 of 3, two failures", dict(n=3, needed=2),
        [("a", False, None), ("b", False, None)], [P, F]),
    ("R=1 of 3", dict(n=3, needed=1), [("a", True, None)], [OK]),
    ("W=3 of 3, one failure fails at once", dict(n=3, needed=3),
        [("a", True, None), ("b", False, None)], [P, F]),
    ("W=3 of only 2 targets: failed up front", dict(n=2, needed=3), [("a", True, None)], [F]),
    ("sloppy: hint counts toward W", dict(n=3, needed=2),
        [("a", True, None), ("d", True, "b")], [P, OK]),
    ("strict: hint does not count", dict(n=3, needed=2, count_hints=False),
        [("a", True, None), ("d", True, "b"), ("c", True, None)], [P, P, OK]),
    ("strict: hints cannot reach W", dict(n=3, needed=2, count_hints=False),
        [("d", True, "a"), ("e", True, "b")], [P, F]),
    ("PW=2: needs two primaries", dict(n=3, needed=2, primaries_needed=2),
        [("d", True, "a"), ("b", True, None), ("c", True, None)], [P, P, OK]),
    ("PW=2: two stand-ins answered", dict(n=3, needed=2, primaries_needed=2),
        [("d", True, "a"), ("e", True, "b")], [P, F]),
    ("duplicate answer ignored", dict(n=3, needed=2),
        [("a", True, None), ("a", True, None), ("b", False, None), ("c", True, None)],
        [P, P, P, OK]),
    ("duplicate failure does not fail twice", dict(n=3, needed=2),
        [("a", False, None), ("a", False, None), ("b", True, None)], [P, P, P]),
    ("answers past n ignored", dict(n=1, needed=1), [("a", False, None), ("b", True, None)],
        [F, F]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "kwargs", "answers", "outcomes"), CASES, ids=[c[0] for c in CASES]
)
def test_tally(name: str, kwargs: dict, answers: list, outcomes: list[Outcome]) -> None:
    tally = Tally(**kwargs)
    got = [tally.add(node, ok, reply=node, hint_for=hint) for node, ok, hint in answers]
    assert got == outcomes
    assert tally.outcome() is outcomes[-1]
    assert tally.enough() == (outcomes[-1] is OK)
    assert tally.failed() == (outcomes[-1] is F)


def test_replies_errors_and_done() -> None:
    tally = Tally(n=3, needed=2)
    tally.add("a", True, reply=b"v1")
    tally.add("b", False, reply="timeout")
    assert not tally.done() and tally.pending == 1
    tally.add("c", True, reply=b"v2", hint_for="x")
    assert tally.done() and tally.outcome() is OK
    assert tally.replies() == [b"v1", b"v2"]
    assert [(e.node, e.reply) for e in tally.errors()] == [("b", "timeout")]
    assert tally.successes() == 2 and tally.primary_successes() == 1


def test_done_when_all_answered_even_if_pending_cannot_happen() -> None:
    tally = Tally(n=0, needed=1)
    assert tally.done() and tally.outcome() is F


@pytest.mark.parametrize("kwargs", [dict(n=-1, needed=1), dict(n=3, needed=0),
                                    dict(n=3, needed=1, primaries_needed=-1)])  # fmt: skip
def test_bad_shapes(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Tally(**kwargs)


def test_pure_modules_together_sloppy_write_handoff_and_repair() -> None:
    """A put while a replica is down, as the coordinator will drive it: fallbacks pick a
    stand-in, the tally counts its hinted answer toward W=2, the hint is handed back with
    dvv.sync when the owner returns, and Merkle trees then agree."""
    from respdyn.cluster import dvv
    from respdyn.cluster.merkle import MerkleTree, diff
    from respdyn.cluster.ring import Ring

    ring = Ring.initial(["a", "b", "c", "d", "e"])
    key = b"{cart}:alice"
    partition = ring.partition_of_key(key)
    owners = ring.preference_list(partition, 3)
    down = {owners[1]}
    targets = ring.fallbacks(partition, 3, down)
    stand_in, intended = next((n, i) for n, i in targets if i is not None)
    assert intended == owners[1] and stand_in not in owners

    stores: dict[str, dvv.Clock] = {}
    hints: dict[str, dvv.Clock] = {}
    coordinator = targets[0][0]
    clock = dvv.update(dvv.new([dvv.Sibling(b"book", 1000)]), stores.get(coordinator), coordinator)
    tally = Tally(n=len(targets), needed=2)
    for node, hint_for in targets:
        if hint_for is None:
            stores[node] = dvv.sync(stores.get(node, dvv.EMPTY), clock)
        else:
            hints[hint_for] = clock
        tally.add(node, ok=True, hint_for=hint_for)
    assert tally.outcome() is Outcome.OK and tally.primary_successes() == 2

    # the owner returns: handoff delivers the hint
    stores[intended] = dvv.sync(stores.get(intended, dvv.EMPTY), hints.pop(intended))
    trees = {}
    for node in owners:
        tree = MerkleTree()
        tree.add(key, dvv.encode(stores[node]))
        trees[node] = tree
    assert diff(trees[owners[0]], trees[owners[1]]) == []
    assert [s.value for s in dvv.values(stores[owners[1]])] == [b"book"]


# (n, W, answers, decided after each, enough at the end)
ACKS = [
    (3, 2, [True, True], [False, True], True),  # this node, then one replica
    (3, 2, [True, False, True], [False, False, True], True),
    (3, 2, [True, False, False], [False, False, True], False),  # decided when all are in
    (3, 2, [False, False], [False, True], False),  # failed: one answer cannot reach 2
    (3, 1, [True], [True], True),  # W=1: decided by the coordinator's own store
    (3, 3, [True, False], [False, True], False),
    (2, 3, [True], [True], False),  # W above the nodes asked: failed at once
    (1, 1, [True, True], [True, False], True),  # an answer past n is ignored
]


@pytest.mark.parametrize(("n", "w", "answers", "decided", "enough"), ACKS)
def test_acks(n: int, w: int, answers: list[bool], decided: list[bool], enough: bool) -> None:
    acks = Acks(n, w)
    assert [acks.add(ok) for ok in answers] == decided
    assert acks.enough() is enough


@given(st.integers(1, 5), st.integers(1, 5), st.lists(st.booleans(), max_size=5))
def test_acks_decide_as_a_tally_of_distinct_nodes_does(n: int, w: int, answers: list) -> None:
    acks, tally = Acks(n, w), Tally(n, w)
    for i, ok in enumerate(answers[:n]):
        decided = acks.add(ok)
        tally.add(f"node{i}", ok)
        assert decided == tally.done()
        assert acks.enough() == tally.enough() and acks.failed() == tally.failed()
