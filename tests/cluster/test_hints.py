"""The hint store and its delivery loop (respdyn/cluster/hints.py) on a real storage engine;
the peer is a function answering like a replica would (it merges what it is sent)."""

from __future__ import annotations

import pytest

import storage
from respdyn.cluster import dvv, hints
from respdyn.cluster import messages as m


def clock(value: bytes, node: str = "n1", base: dvv.Clock | None = None) -> bytes:
    context = dvv.join(base) if base is not None else ()
    return dvv.encode(dvv.update(dvv.new([dvv.Sibling(value, 1)], context), base, node))


@pytest.fixture
def engine(tmp_path):
    db = storage.open(str(tmp_path))
    yield db
    db.close()


def test_hints_merge_per_key_and_survive_a_reopen(tmp_path):
    db = storage.open(str(tmp_path))
    store = hints.HintStore(db)
    first = dvv.decode(clock(b"a"))
    assert store.add("n3", b"k1", dvv.encode(first))
    assert store.add("n3", b"k1", clock(b"b", base=first))  # the same key again: one hint
    assert store.add("n3", b"k2", clock(b"c"))
    assert store.add("n4", b"k1", clock(b"d"))
    assert store.backlogs["n3"].keys == 2 and store.backlogs["n4"].keys == 1
    db.close()
    db = storage.open(str(tmp_path))
    try:
        again = hints.HintStore(db)
        assert again.backlogs["n3"].keys == 2
        assert again.backlogs["n3"].bytes == store.backlogs["n3"].bytes
        [(_, _, value)] = [h for h in again.pending("n3", 10) if h[1] == b"k1"]
        assert [v.value for v in dvv.values(dvv.decode(hints.clock_of(value)))] == [b"b"]
        assert list(db.scan(start=b"k", end=b"l")) == []  # never in the data range
    finally:
        db.close()


def test_the_budget_refuses_growth(engine):
    store = hints.HintStore(engine, budget_bytes=200)
    accepted = sum(store.add("n3", b"key%d" % i, clock(b"x" * 40)) for i in range(10))
    assert 0 < accepted < 10
    assert store.backlogs["n3"].refused == 10 - accepted
    assert store.backlogs["n3"].bytes <= 200


def test_expired_hints_are_dropped_not_delivered(engine):
    now = [1_000_000]
    store = hints.HintStore(engine, max_age_ms=1000, now_ms=lambda: now[0])
    store.add("n3", b"old", clock(b"x"))
    now[0] += 5000
    store.add("n3", b"new", clock(b"y"))
    assert [raw for _, raw, _ in store.pending("n3", 10)] == [b"new"]
    assert store.backlogs["n3"].expired == 1 and store.backlogs["n3"].keys == 1


def test_delivery_sends_everything_then_deletes_it(engine):
    store = hints.HintStore(engine)
    for i in range(250):
        store.add("n3", b"k%03d" % i, clock(b"v%d" % i))
    received: dict[bytes, bytes] = {}
    up = {"n3": False}

    def call(node: str, op: bytes, args: list[bytes]) -> m.Reply | None:
        assert node == "n3" and op == hints.MSTORE
        if not up[node]:
            return None
        received.update(hints.parse_mstore(args))
        return m.Reply(1, True, [])

    handoff = hints.Handoff(store, call, lambda node: True, rate=10**6)
    assert handoff.deliver_all() == 0  # down: nothing delivered, nothing lost
    assert store.backlogs["n3"].keys == 250
    up["n3"] = True
    assert handoff.deliver_all() == 250
    assert len(received) == 250 and store.backlogs["n3"].keys == 0
    assert store.pending("n3", 10) == []


def test_a_hint_changed_during_delivery_is_kept(engine):
    store = hints.HintStore(engine)
    store.add("n3", b"k", clock(b"first"))
    [(key, _, value)] = store.pending("n3", 10)
    store.add("n3", b"k", clock(b"second", node="n2"))  # a newer write meanwhile
    store.delivered("n3", key, value)
    assert store.backlogs["n3"].keys == 1  # the newer hint still waits
