"""DYNAMO CLOCK: each replica's own stored clock, exactly (the fault harness compares these bytes
to decide that replicas agree)."""

from __future__ import annotations

import time

import pytest
import redis
from harness import respdyn

from respdyn.cluster import dvv


def _clocks(cluster, key: str) -> list[bytes | None]:
    return [cluster.client(k).execute_command("DYNAMO", "CLOCK", key) for k in (1, 2, 3)]


def _wait_equal(cluster, key: str, limit: float = 15.0) -> list[bytes | None]:
    deadline = time.monotonic() + limit
    while len(set(clocks := _clocks(cluster, key))) > 1:
        assert time.monotonic() < deadline, f"replicas still differ: {clocks}"
        time.sleep(0.1)
    return clocks


def test_every_replica_answers_its_own_clock(cluster3):
    c1 = cluster3.client(1)
    assert _clocks(cluster3, "never") == [None, None, None]
    c1.execute_command("CONSISTENCY", "ALL")
    c1.set("k", "v1")
    clocks = _clocks(cluster3, "k")
    assert len(set(clocks)) == 1
    (only,) = dvv.values(dvv.decode(clocks[0]))
    assert only.value is not None and only.value.endswith(b"v1")  # the record's payload


def test_a_replica_that_missed_a_write_shows_an_older_clock_until_repaired(cluster3):
    c1 = cluster3.client(1)
    c1.execute_command("CONSISTENCY", "ALL")
    c1.set("missed", "old")
    c1.execute_command("CONSISTENCY", "DEFAULT")
    for a, b in ((1, 3), (3, 1)):
        cluster3.client(a).execute_command("DYNAMO", "DEBUG", "PARTITION", f"node{b}")
    try:
        c1.set("missed", "new")  # node1 + node2 (W = 2); node3 is cut off from node1
        one, two, three = _clocks(cluster3, "missed")
        assert one == two != three
        assert dvv.less(dvv.decode(three), dvv.decode(one))
    finally:
        for k in (1, 2, 3):
            cluster3.client(k).execute_command("DYNAMO", "DEBUG", "HEAL")
    cluster3.client(1).execute_command("DYNAMO", "REPAIR")  # or the hint node1 kept
    (only,) = dvv.values(dvv.decode(_wait_equal(cluster3, "missed")[0]))
    assert only.value is not None and only.value.endswith(b"new")


def test_a_deletion_is_a_clock_not_nil(cluster3):
    """SIBLINGS shows a tombstone as nil; the raw clock still carries its dot."""
    c1 = cluster3.client(1)
    c1.execute_command("CONSISTENCY", "ALL")
    c1.set("gone", "v")
    c1.delete("gone")
    clocks = _clocks(cluster3, "gone")
    assert len(set(clocks)) == 1 and clocks[0] is not None
    assert [s.value for s in dvv.values(dvv.decode(clocks[0]))] == [None]


def test_a_single_node_has_no_clocks(tmp_path):
    with respdyn(tmp_path / "data") as node:
        c = redis.Redis(host=node.host, port=node.port, socket_timeout=10)
        c.set("k", "v")
        with pytest.raises(redis.ResponseError, match="needs a cluster node"):
            c.execute_command("DYNAMO", "CLOCK", "k")
