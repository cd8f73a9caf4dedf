"""Dotted version vector sets: the paper's and Riak's examples, sibling bounds, algebra, codec."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respdyn.cluster import dvv
from respdyn.cluster.dvv import Clock, Sibling


def v(name: str, ts: int = 0) -> Sibling:
    return Sibling(name.encode(), ts)


def put(value: str, context: dvv.Context, existing: Clock | None, node: str) -> Clock:
    """A client write of `value` with `context`, coordinated by `node` over `existing`."""
    return dvv.update(dvv.new([v(value)], context), existing, node)


def shape(clock: Clock) -> tuple[list, list]:
    """A readable form: ([(id, counter, [values newest first])], [anonymous values])."""
    entries = [(i, n, [s.value.decode() for s in vals]) for i, n, vals in clock.entries]
    return entries, [s.value.decode() for s in clock.anonymous]


# ---- Riak dvvset's examples (update_test, sync_test, syn_update_test), as tables ---------------

A0 = put("v1", (), None, "a")
A1 = put("v2", dvv.join(A0), A0, "a")


@pytest.mark.parametrize(
    ("name", "clock", "expected"),
    [
        ("first write", A0, ([("a", 1, ["v1"])], [])),
        ("overwrite seen", A1, ([("a", 2, ["v2"])], [])),
        ("other coordinator", put("v3", dvv.join(A1), A1, "b"),
            ([("a", 2, []), ("b", 1, ["v3"])], [])),
        ("stale ctx, other", put("v4", dvv.join(A0), A1, "b"),
            ([("a", 2, ["v2"]), ("b", 1, ["v4"])], [])),
        ("stale ctx, same", put("v5", dvv.join(A0), A1, "a"), ([("a", 3, ["v5", "v2"])], [])),
        ("blind write", put("v6", (), A1, "a"), ([("a", 3, ["v6", "v2"])], [])),
    ],
)  # fmt: skip
def test_update(name: str, clock: Clock, expected: tuple) -> None:
    assert shape(clock) == expected


def test_paper_example_mary_and_peter() -> None:
    """Mary writes v1; Peter reads it; Mary writes v2 blindly; Peter writes v3 over what he read:
    v3 supersedes v1 only, so v2 and v3 are siblings (the anomaly per-server clocks get wrong)."""
    s0 = put("v1", (), None, "a")
    peter = dvv.join(s0)
    s1 = put("v2", (), s0, "a")
    s2 = put("v3", peter, s1, "a")
    assert peter == (("a", 1),)
    assert shape(s1) == ([("a", 2, ["v2", "v1"])], [])
    assert shape(s2) == ([("a", 3, ["v3", "v2"])], [])


X = Clock((("x", 1, ()),))
A = put("v1", (), None, "a")
Y = put("v2", (), None, "b")
AA1 = put("v2", dvv.join(A), A, "a")
A3 = dvv.update(dvv.new([v("v3")], dvv.join(AA1)), None, "b")
A4 = dvv.update(dvv.new([v("v3")], dvv.join(AA1)), None, "c")
W = Clock((("a", 1, ()),))
Z = Clock((("a", 2, (v("v2"), v("v1"))),))


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (W, Z, ([("a", 2, ["v2"])], [])),
        (A4, A3, ([("a", 2, []), ("b", 1, ["v3"]), ("c", 1, ["v3"])], [])),
        (X, A, ([("a", 1, ["v1"]), ("x", 1, [])], [])),
        (A, Y, ([("a", 1, ["v1"]), ("b", 1, ["v2"])], [])),
        (A, AA1, ([("a", 2, ["v2"])], [])),
    ],
)
def test_sync(left: Clock, right: Clock, expected: tuple) -> None:
    assert shape(dvv.sync(left, right)) == expected
    assert dvv.sync(left, right) == dvv.sync(right, left)


B = put("v2", dvv.join(A), A, "a")
B2 = dvv.update(dvv.new([v("v2")], dvv.join(A)), None, "b")
C = put("v3", dvv.join(B), A, "c")
D = dvv.update(dvv.new([v("v4")], dvv.join(C)), B2, "d")


@pytest.mark.parametrize(
    ("left", "right", "relation"),
    [
        (A, B, "less"),
        (A, C, "less"),
        (B, C, "less"),
        (B, D, "less"),
        (B2, D, "less"),
        (A, D, "less"),
        (B2, C, "concurrent"),
        (B, B2, "concurrent"),
        (A, Y, "concurrent"),
        (A, A, "equal"),
        (dvv.EMPTY, A, "less"),
        (X, A, "concurrent"),
    ],
)
def test_causal_order(left: Clock, right: Clock, relation: str) -> None:
    got = (
        "equal" if dvv.equal(left, right)
        else "less" if dvv.less(left, right)
        else "greater" if dvv.less(right, left)
        else "concurrent"
    )  # fmt: skip
    assert got == relation
    assert dvv.concurrent(left, right) == (relation == "concurrent")
    if relation == "less":
        assert not dvv.less(right, left)


def test_join_and_values() -> None:
    b1 = put("v2", dvv.join(A), A, "b")
    assert dvv.join(dvv.new([v("v1")])) == ()
    assert dvv.join(A) == (("a", 1),)
    assert dvv.join(b1) == (("a", 1), ("b", 1))
    assert [s.value for s in dvv.values(b1)] == [b"v2"]
    both = dvv.sync(A, Y)
    assert sorted(s.value for s in dvv.values(both)) == [b"v1", b"v2"]
    assert dvv.size(both) == 2


def test_update_stamps_coordinator_and_checks_input() -> None:
    clock = dvv.update(dvv.new([Sibling(b"x", 1700000000123)]), None, "n7")
    assert dvv.values(clock) == [Sibling(b"x", 1700000000123, "n7")]
    with pytest.raises(ValueError):
        dvv.update(dvv.new([v("a"), v("b")]), None, "n1")


# ---- winner and last-writer-wins ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("siblings", "expected"),
    [
        ([Sibling(b"old", 1, "a"), Sibling(b"new", 2, "a")], Sibling(b"new", 2, "a")),
        ([Sibling(b"x", 5, "a"), Sibling(b"y", 5, "b")], Sibling(b"y", 5, "b")),  # tie: node id
        ([Sibling(None, 9, "a"), Sibling(b"y", 5, "b")], Sibling(None, 9, "a")),  # newer delete
        ([Sibling(None, 5, "a"), Sibling(b"", 5, "a")], Sibling(b"", 5, "a")),  # value > tombstone
        ([Sibling(b"a", 5, "n"), Sibling(b"b", 5, "n")], Sibling(b"b", 5, "n")),
    ],
)
def test_winner(siblings: list[Sibling], expected: Sibling) -> None:
    dotted = Clock(tuple((f"c{k}", 1, (s,)) for k, s in enumerate(siblings)))  # all concurrent
    assert dvv.winner(dotted) == expected
    assert dvv.winner(Clock((), tuple(reversed(siblings)))) == expected


def test_lww_keeps_history_and_only_the_winner() -> None:
    both = dvv.sync(put("x", (), None, "a"), dvv.update(dvv.new([Sibling(b"y", 9)]), None, "b"))
    resolved = dvv.lww(both)
    assert [s.value for s in dvv.values(resolved)] == [b"y"]
    assert dvv.join(resolved) == dvv.join(both)
    assert dvv.sync(resolved, both) == resolved  # the losing sibling does not come back
    with pytest.raises(ValueError):
        dvv.winner(dvv.EMPTY)


# ---- sibling bound: riak_cs#1006 ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_siblings_bounded_by_concurrent_writers(seed: int) -> None:
    """7 writers, 3 replicas, W=2 and R=2. Each writer loops read -> write, writing blindly
    (it never merges siblings) with the context of its last read, coordinated by a random
    replica; writers interleave at random. Riak with per-vnode vector clocks grew to 21 siblings
    and beyond in this loop; DVVSet keeps at most one per writer."""
    rng = random.Random(seed)
    replicas = [dvv.EMPTY] * 3
    contexts: list[dvv.Context | None] = [None] * 7  # None: must read before writing
    most = 0
    for step in range(800):
        writer = rng.randrange(7)
        i, j = rng.sample(range(3), 2)
        context = contexts[writer]
        if context is None:  # read: merge two replicas' answers (R=2)
            contexts[writer] = dvv.join(dvv.sync(replicas[i], replicas[j]))
            continue
        value = Sibling(f"w{writer}-{step}".encode(), step)
        replicas[i] = dvv.update(dvv.new([value], context), replicas[i], f"r{i}")
        replicas[j] = dvv.sync(replicas[j], replicas[i])  # W=2
        contexts[writer] = None
        if rng.random() < 0.1:  # occasional anti-entropy to the third replica
            k = 3 - i - j
            replicas[k] = dvv.sync(replicas[k], replicas[i])
        most = max(most, *(dvv.size(r) for r in replicas))
        assert all(len(r.entries) <= 3 for r in replicas)  # one entry per coordinator
    assert 2 <= most <= 7


def test_blind_writes_without_context_keep_every_value() -> None:
    """The contrast: writes with no context are all concurrent, and DVVSet keeps them all."""
    clock = None
    for k in range(20):
        clock = put(f"v{k}", (), clock, "a")
    assert clock is not None and dvv.size(clock) == 20


# ---- algebra (Hypothesis) ----------------------------------------------------------------------


@st.composite
def replica_states(draw: st.DrawFn) -> list[Clock]:
    """States reached by 3 replicas under random writes (stale contexts) and syncs."""
    replicas = [dvv.EMPTY] * 3
    seen: list[Clock] = [dvv.EMPTY]
    for step in range(draw(st.integers(1, 25))):
        i = draw(st.integers(0, 2))
        if draw(st.booleans()):
            ctx = dvv.join(draw(st.sampled_from(seen)))
            replicas[i] = dvv.update(
                dvv.new([Sibling(b"%d" % step, step)], ctx), replicas[i], f"r{i}"
            )
        else:
            replicas[i] = dvv.sync(replicas[i], replicas[draw(st.integers(0, 2))])
        seen.append(replicas[i])
    return seen


@settings(max_examples=150, deadline=None)
@given(replica_states(), st.data())
def test_sync_is_commutative_associative_idempotent(
    states: list[Clock], data: st.DataObject
) -> None:
    a, b, c = (data.draw(st.sampled_from(states)) for _ in range(3))
    assert dvv.sync(a, b) == dvv.sync(b, a)
    assert dvv.sync(dvv.sync(a, b), c) == dvv.sync(a, dvv.sync(b, c))
    assert dvv.sync(a, a) == a
    merged = dvv.sync(a, b)
    assert not dvv.less(merged, a) and not dvv.less(merged, b)


@settings(max_examples=100, deadline=None)
@given(replica_states())
def test_encode_round_trip(states: list[Clock]) -> None:
    for clock in states:
        assert dvv.decode(dvv.encode(clock)) == clock
        assert dvv.decode_context(dvv.encode_context(dvv.join(clock))) == dvv.join(clock)


# ---- pruning -----------------------------------------------------------------------------------


def many(entries: list[tuple[str, int, int]]) -> Clock:
    return Clock(tuple((i, n, tuple(v(f"{i}{k}") for k in range(live))) for i, n, live in entries))


@pytest.mark.parametrize(
    ("entries", "members", "limit", "kept"),
    [
        ([("a", 1, 0), ("b", 1, 0)], set(), 10, ["a", "b"]),  # under the limit: untouched
        ([("a", 5, 0), ("b", 1, 0), ("c", 3, 0)], set(), 2, ["a", "c"]),  # smallest counter first
        ([("a", 5, 0), ("b", 1, 1), ("c", 3, 0)], set(), 2, ["a", "b"]),  # keeps live values
        ([("a", 5, 0), ("b", 1, 0), ("c", 3, 0)], {"b"}, 2, ["a", "b"]),  # keeps members
        ([("a", 1, 0), ("b", 1, 0)], {"a", "b"}, 1, ["a", "b"]),  # never a member: soft limit
    ],
)
def test_prune(entries: list, members: set[str], limit: int, kept: list[str]) -> None:
    assert [i for i, _, _ in dvv.prune(many(entries), members, limit).entries] == kept


# ---- codecs ------------------------------------------------------------------------------------


def test_encoding_is_compact_and_documented() -> None:
    clock = put("hello", (), None, "n1")
    assert dvv.encode(clock) == b"".join(
        [
            bytes([0xD1, 1, 2]) + b"n1",  # one id: "n1"
            bytes([1, 0, 1, 1]),  # one entry: id 0, counter 1, one value
            bytes([0, 0, 1, 5]) + b"hello",  # value, ts 0, node "n1", 5 bytes
            bytes([0]),  # no anonymous values
        ]
    )
    tombstone = dvv.update(dvv.new([Sibling(None, 300)]), None, "n1")
    assert dvv.decode(dvv.encode(tombstone)) == tombstone
    assert dvv.encode_context((("n1", 3),)) == b"AQECbjED"


GOOD = dvv.encode(put("v", (), put("u", (), None, "b"), "a"))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("bad magic", b"\x00" + GOOD[1:]),
        ("truncated", GOOD[:-1]),
        ("trailing", GOOD + b"\x00"),
        ("unsorted ids", bytes([0xD1, 2, 1]) + b"b" + bytes([1]) + b"a" + bytes([0, 0])),
        ("entry index out of range", bytes([0xD1, 0, 1, 0, 1, 0, 0])),
        ("counter below values", bytes([0xD1, 1, 1]) + b"a" + bytes([1, 0, 0, 0, 0])),
        ("unsorted entries",
            bytes([0xD1, 2, 1]) + b"a" + bytes([1]) + b"b" + bytes([2, 1, 1, 0, 0, 1, 0, 0])),
        ("bad sibling kind", bytes([0xD1, 0, 0, 1, 7, 0, 0])),
        ("sibling node out of range", bytes([0xD1, 0, 0, 1, 1, 0, 3])),
        ("endless varint", bytes([0xD1]) + b"\xff" * 20),
        ("count past end", bytes([0xD1, 0x7F])),
    ],
)  # fmt: skip
def test_decode_rejects(name: str, data: bytes) -> None:
    with pytest.raises(ValueError):
        dvv.decode(data)


@pytest.mark.parametrize(
    "token",
    [
        b"",
        "",
        b"!!!!",
        b"A",  # impossible base64 length
        b"AQ==",  # padding is not part of the token
        b"AgA",  # version 2
        b"AQEBYQA",  # counter 0
        b"AQIBYgEBYQE",  # ids not sorted
        b"AQEBYQEA",  # trailing byte
        b"AQE",  # truncated
        "AQE\u00e9",
        b"AQ\nA",
    ],
)
def test_decode_context_rejects(token: bytes | str) -> None:
    with pytest.raises(ValueError):
        dvv.decode_context(token)


def test_context_token_is_printable_and_round_trips() -> None:
    ctx = (("node-a", 12), ("node-b", 300000))
    token = dvv.encode_context(ctx)
    assert token.isascii() and b"=" not in token
    assert dvv.decode_context(token) == ctx
    assert dvv.decode_context(token.decode()) == ctx
    assert dvv.decode_context(dvv.encode_context(())) == ()


def test_docs_shopping_cart_example() -> None:
    """docs/cluster.md's worked example, step by step."""
    s1 = put("book", (), None, "n1")
    alice = dvv.join(s1)
    assert alice == (("n1", 1),)
    s2 = put("book,pen", alice, s1, "n1")  # the phone
    assert shape(s2) == ([("n1", 2, ["book,pen"])], [])
    s3 = put("book,lamp", alice, s2, "n2")  # the laptop, same stale context, another node
    assert shape(s3) == ([("n1", 2, ["book,pen"]), ("n2", 1, ["book,lamp"])], [])
    read = dvv.join(s3)
    assert read == (("n1", 2), ("n2", 1))
    merged = sorted({item for s in dvv.values(s3) for item in s.value.decode().split(",")})
    s4 = put(",".join(merged), read, s3, "n3")
    assert [s.value for s in dvv.values(s4)] == [b"book,lamp,pen"]
    first = dvv.update(dvv.new([Sibling(b"x" * 10, 1700000000000)]), None, "node-1")
    second = dvv.update(
        dvv.new([Sibling(b"y" * 10, 1700000000001)], dvv.join(first)), first, "node-2"
    )
    assert len(dvv.encode(second)) == 43
    assert dvv.encode_context(dvv.join(second)) == b"AQIGbm9kZS0xAQZub2RlLTIB"


# ---- against an explicit causal-history model --------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_matches_explicit_history_model(data: st.DataObject) -> None:
    """DVVSet against the definition it compresses: each replica knows a set of dots and keeps
    the values of the dots that no known write superseded. A write supersedes exactly the dots
    of its context; sync keeps a value unless the other side knows its dot and dropped it."""
    clocks = [dvv.EMPTY] * 3
    known: list[set] = [set(), set(), set()]
    live: list[dict] = [{}, {}, {}]
    contexts: list[tuple[dvv.Context, set]] = [((), set())]
    for step in range(data.draw(st.integers(1, 30))):
        i = data.draw(st.integers(0, 2))
        if data.draw(st.booleans()):
            ctx, ctx_dots = data.draw(st.sampled_from(contexts))
            node = f"r{i}"
            counter = max([n for d, n in known[i] | ctx_dots if d == node], default=0) + 1
            clocks[i] = dvv.update(dvv.new([Sibling(b"%d" % step, step)], ctx), clocks[i], node)
            live[i] = {d: v for d, v in live[i].items() if d not in ctx_dots}
            live[i][(node, counter)] = b"%d" % step
            known[i] = known[i] | ctx_dots | {(node, counter)}
        else:
            j = data.draw(st.integers(0, 2))
            clocks[i] = dvv.sync(clocks[i], clocks[j])
            live[i] = {
                d: v
                for side, other in ((live[i], known[j]), (live[j], known[i]))
                for d, v in side.items()
                if d not in other or (d in live[i] and d in live[j])
            }
            known[i] = known[i] | known[j]
        dots = {(ident, k) for ident, n in dvv.join(clocks[i]) for k in range(1, n + 1)}
        assert dots == known[i]
        assert sorted(s.value for s in dvv.values(clocks[i])) == sorted(live[i].values())
        contexts.append((dvv.join(clocks[i]), dots))


# ---- the blind-write fast path ----------------------------------------------------------------


def _plain(clock: Clock) -> bool:
    return not clock.anonymous and all(s.value is not None for s in dvv.values(clock))


@settings(max_examples=150, deadline=None)
@given(replica_states(), st.sampled_from(["r0", "r1", "r2", "a", "zz"]))
def test_blind_update_raw_matches_the_general_path(states: list[Clock], node: str) -> None:
    value = Sibling(b"new", 10**12 + 7)
    for clock in [None, *states]:
        stored = None if clock is None else dvv.encode(clock)
        written = dvv.new([value], dvv.join(clock or dvv.EMPTY))
        general = dvv.encode(dvv.update(written, clock, node))
        fast = dvv.blind_update_raw(stored, value, node)
        if clock is None or _plain(clock):
            assert fast == general
        else:
            assert fast is None  # a tombstone or an undotted value: the general path decides


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["r0", "r1", "node1", "node10"]),
            st.binary(max_size=300),
            st.integers(min_value=0, max_value=2**64 - 1),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_blind_update_raw_chains_match_the_general_path(
    writes: list[tuple[str, bytes, int, bool]],
) -> None:
    """Blind writes in a row, each over the last one's bytes (the shapes a key written through
    one node holds, where the first-write and own-entry shortcuts apply), some of them over a
    delete: every result byte for byte what the general path stores."""
    stored: bytes | None = None
    for node, data, ts, delete in writes:
        clock = None if stored is None else dvv.decode(stored)
        value = Sibling(None if delete else data, ts)
        general = dvv.encode(
            dvv.update(dvv.new([value], dvv.join(clock or dvv.EMPTY)), clock, node)
        )
        fast = dvv.blind_update_raw(stored, value, node)
        if delete or (clock is not None and not _plain(clock)):
            assert fast is None
        else:
            assert fast == general
        stored = general


def test_blind_update_raw_own_entry_declines_other_shapes() -> None:
    """The own-entry shortcut reads only a clock of the writer's entry alone, its one value
    stamped by it; anything near that shape goes to the general reader or is refused."""
    value = Sibling(b"v", 5)
    own = dvv.blind_update_raw(None, Sibling(b"x" * 200, 2**40), "n1")
    assert own is not None
    assert dvv.blind_update_raw(own, value, "n1") == dvv.encode(
        dvv.update(dvv.new([value], dvv.join(dvv.decode(own))), dvv.decode(own), "n1")
    )
    counter_at = len(b"\xd1\x01\x02n1\x01\x00")
    for bad in (own[:-1], own + b"\x00", own[:counter_at] + b"\x00" + own[counter_at + 1 :]):
        assert dvv.blind_update_raw(bad, value, "n1") is None
    tomb = dvv.encode(dvv.update(dvv.new([Sibling(None, 3)], ()), None, "n1"))
    assert dvv.blind_update_raw(tomb, value, "n1") is None  # a tombstone: the general path


def test_blind_update_raw_declines_what_it_does_not_handle() -> None:
    value = Sibling(b"v", 5)
    assert dvv.blind_update_raw(None, Sibling(None, 5), "n1") is None  # a delete
    crowded = many([(f"id{k:02d}", 3, 1) for k in range(dvv.MAX_ENTRIES)])
    assert dvv.blind_update_raw(dvv.encode(crowded), value, "zz") is None  # prune decides
    good = dvv.encode(crowded)
    for bad in (good[:-1], good + b"\x00", b"\x00" + good[1:], b""):
        assert dvv.blind_update_raw(bad, value, "id00") is None


def test_digest_names_exact_bytes() -> None:
    a = dvv.encode(put("v", (), None, "a"))
    assert dvv.digest(a) == dvv.digest(bytes(a)) != dvv.digest(a + b"\x00")
    assert len(dvv.digest(None)) == 16 and dvv.digest(None) != dvv.digest(a)
