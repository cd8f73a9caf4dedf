"""Gossip state (respdyn/cluster/gossip.py): the merge rules and the wire codec."""

from __future__ import annotations

import json

import pytest

from respdyn.cluster import gossip
from respdyn.cluster.gossip import LEFT, REMOVED, VALID, MemberState
from respdyn.cluster.ring import Ring


def member(node: str, gen: int = 1, ver: int = 1, status: str = VALID, **kw) -> MemberState:
    return MemberState(node, kw.pop("client", f"{node}:1"), kw.pop("cluster", f"{node}:2"),
                       status, gen, ver, **kw)


def test_the_greater_heartbeat_wins_and_is_reported_as_heard():
    mine = {"a": member("a", 5, 3), "b": member("b", 5, 9)}
    merged, advanced = gossip.merge_members(mine, [member("a", 5, 4), member("b", 5, 8)])
    assert merged["a"].version == 4 and merged["b"].version == 9
    assert advanced == ["a"]


def test_a_new_generation_beats_any_version_of_the_old():
    merged, _ = gossip.merge_members({"a": member("a", 5, 100)}, [member("a", 6, 1)])
    assert merged["a"].heartbeat == (6, 1)


def test_final_statuses_win_over_heartbeats():
    removed = member("a", 5, 1, REMOVED)
    merged, _ = gossip.merge_members({"a": removed}, [member("a", 9, 50)])
    assert merged["a"].status == REMOVED  # a stale or restarted copy cannot bring it back
    merged, _ = gossip.merge_members({"a": member("a", 9, 50)}, [member("a", 5, 1, LEFT)])
    assert merged["a"].status == LEFT


def test_our_cluster_address_for_a_member_is_kept():
    mine = {"a": member("a", 1, 1, cluster="proxy:9")}
    merged, _ = gossip.merge_members(mine, [member("a", 1, 2, cluster="real:2")])
    assert merged["a"].cluster_addr == "proxy:9"
    merged, _ = gossip.merge_members({}, [member("a", 1, 2, cluster="real:2")])
    assert merged["a"].cluster_addr == "real:2"  # no address of ours: take the reported one


def test_merge_is_order_independent():
    states = [member("a", 1, 3), member("a", 2, 1), member("a", 1, 9), member("a", 2, 2)]
    results = set()
    for order in (states, list(reversed(states)), states[1:] + states[:1]):
        table: dict[str, MemberState] = {}
        for state in order:
            table, _ = gossip.merge_members(table, [state])
        results.add(table["a"])
    assert len(results) == 1 and results.pop().heartbeat == (2, 2)


def test_state_roundtrip():
    ring = Ring.initial(["a", "b"], 16)
    table = {"a": member("a", 3, 4, ring_epoch=1, born=77), "b": member("b")}
    members, decoded_ring = gossip.decode_state(gossip.encode_state(table, ring))
    assert {m.node_id: m for m in members} == table
    assert decoded_ring == ring


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[]", b'{"members": [], "ring": "!!"}',
    json.dumps({"members": [["a", "", "", "king", 1, 1, 1]], "ring": ""}).encode(),
    json.dumps({"members": [["a", "", "", "valid", -1, 1, 1]], "ring": ""}).encode(),
    json.dumps({"members": [["a", "", "", "valid", True, 1, 1]], "ring": ""}).encode(),
    json.dumps({"members": [["a"]], "ring": ""}).encode(),
])
def test_malformed_states_are_refused(raw):
    with pytest.raises(gossip.StateError):
        gossip.decode_state(raw)
