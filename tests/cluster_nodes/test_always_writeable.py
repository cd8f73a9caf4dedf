"""Always writeable: sloppy quorum with hinted handoff, failure detection, join, leave and
remove, on real node processes (tests/support/cluster_harness.py).

Every wait is a bounded poll of what the nodes report (DYNAMO HINTS, INFO cluster, DYNAMO
MEMBERS): the events happen in other processes, so there is nothing in this one to await.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable

import pytest
import redis
from cluster_harness import Cluster

FAST = ("--gossip-interval-ms", "200")  # failure detection and ring changes in ~1 s


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def info(client: redis.Redis) -> dict:
    return client.info("cluster")


def hint_backlog(cluster: Cluster, live: list[int], target: str) -> int:
    total = 0
    for k in live:
        for row in cluster.client(k).execute_command("DYNAMO", "HINTS"):
            if row[0].decode() == target:
                total += row[1]
    return total


def holders(cluster: Cluster, live: list[int], key: str) -> set[int]:
    return {k for k in live if cluster.client(k).execute_command("DYNAMO", "LOCAL", key) == 1}


def states(cluster: Cluster, k: int) -> dict[str, str]:
    rows = cluster.client(k).execute_command("DYNAMO", "MEMBERS")
    return {row[0].decode(): row[3].decode() for row in rows}


def settled(cluster: Cluster, live: list[int], members: int) -> bool:
    """Every live node on one ring of `members` nodes, with its transfers done."""
    epochs = set()
    for k in live:
        fields = info(cluster.client(k))
        if fields["cluster_transfers_busy"] or fields["cluster_ring_size"] != members:
            return False
        epochs.add(fields["cluster_ring_epoch"])
    return len(epochs) == 1


def test_one_of_three_down_writes_are_hinted_and_delivered_on_return(make_cluster):
    cluster = make_cluster(3, *FAST)
    c1 = cluster.client(1)
    cluster.kill(3)
    for i in range(200):
        c1.set(f"k{i}", i)  # W=2: node1 and node2
    # every key has node3 in its preference list (N=3 of 3 nodes); no node is left to stand
    # in, so each write's coordinator kept one hint for node3
    assert hint_backlog(cluster, [1, 2], "node3") == 200
    assert "cluster_hints_for_node3" in info(c1) or "cluster_hints_for_node3" in info(
        cluster.client(2))
    cluster.restart(3)
    wait_for(lambda: hint_backlog(cluster, [1, 2], "node3") == 0, 30, "the hints to drain")
    missing = [i for i in range(200) if not holders(cluster, [3], f"k{i}")]
    assert missing == []
    c3 = cluster.client(3)
    c3.execute_command("CONSISTENCY", "ONE")
    assert c3.mget([f"k{i}" for i in range(200)]) == [str(i).encode() for i in range(200)]


def test_hints_survive_the_holders_restart(make_cluster):
    cluster = make_cluster(3, *FAST)
    cluster.kill(3)
    cluster.client(1).set("durable", "hinted")
    before = hint_backlog(cluster, [1, 2], "node3")
    assert before == 1
    holder = 1 if hint_backlog(cluster, [1], "node3") else 2
    cluster.nodes[holder - 1].stop()
    cluster.restart(holder)
    assert hint_backlog(cluster, [holder], "node3") == 1  # read back from its disk
    cluster.restart(3)
    wait_for(lambda: hint_backlog(cluster, [1, 2], "node3") == 0, 30, "the hint to drain")
    assert holders(cluster, [3], "durable") == {3}


def test_two_of_five_down_writes_succeed_through_stand_ins(make_cluster):
    cluster = make_cluster(5, *FAST)
    cluster.kill(4)
    cluster.kill(5)
    c1 = cluster.client(1)
    for i in range(100):
        assert c1.set(f"s{i}", i)  # W=2: a live replica plus a hinted stand-in when needed
    fields = info(c1)
    stand_ins = sum(info(cluster.client(k))["cluster_hints_sent"] for k in (1, 2, 3))
    assert stand_ins > 0, fields
    cluster.restart(4)
    cluster.restart(5)
    wait_for(lambda: sum(hint_backlog(cluster, [1, 2, 3], t) for t in ("node4", "node5")) == 0,
             40, "the hints to drain")
    c4 = cluster.client(4)
    c4.execute_command("CONSISTENCY", "ALL")
    assert c4.mget([f"s{i}" for i in range(100)]) == [str(i).encode() for i in range(100)]


def test_a_killed_node_is_marked_down_and_up_again(make_cluster):
    cluster = make_cluster(3, *FAST)
    wait_for(lambda: states(cluster, 1) == {"node1": "self", "node2": "up", "node3": "up"},
             20, "every member up")
    cluster.kill(2)
    wait_for(lambda: states(cluster, 1)["node2"] == "down", 20, "node2 marked down")
    assert info(cluster.client(3))["cluster_members_down"] in (0, 1)  # its own view
    ring = cluster.client(1).execute_command("DYNAMO", "RING")
    assert any(b"node2" in prefs for *_, prefs in ring)  # down changes no ownership
    cluster.restart(2)
    wait_for(lambda: states(cluster, 1)["node2"] == "up", 20, "node2 up again")


def test_deletes_while_a_replica_is_down_stay_deleted(make_cluster):
    cluster = make_cluster(3, *FAST)
    c1 = cluster.client(1)
    c1.mset({f"d{i}": i for i in range(40)})
    cluster.kill(3)
    assert c1.delete(*[f"d{i}" for i in range(0, 40, 2)]) == 20
    cluster.restart(3)
    wait_for(lambda: hint_backlog(cluster, [1, 2], "node3") == 0, 30, "the hints to drain")
    for k in (1, 2, 3):
        c = cluster.client(k)
        c.execute_command("CONSISTENCY", "ALL")
        assert c.mget([f"d{i}" for i in range(40)]) == [
            None if i % 2 == 0 else str(i).encode() for i in range(40)]


class Writer(threading.Thread):
    """Writes fresh keys through the given nodes until stopped; records what was acked."""

    def __init__(self, cluster: Cluster, nodes: list[int]) -> None:
        super().__init__(daemon=True)
        self.clients = [cluster.client(k) for k in nodes]
        self.acked: dict[str, str] = {}
        self.failed = 0
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            key, value = f"load:{i}", f"v{i}"
            try:
                if self.clients[i % len(self.clients)].set(key, value):
                    self.acked[key] = value
            except redis.RedisError:
                self.failed += 1
            i += 1

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        assert not self.is_alive()


def _check_placement(cluster: Cluster, live: list[int], writer: Writer) -> None:
    reader = cluster.client(live[0])
    reader.execute_command("CONSISTENCY", "ALL")
    keys = sorted(writer.acked)
    values = reader.mget(keys)
    lost = [k for k, v in zip(keys, values, strict=True) if v != writer.acked[k].encode()]
    assert lost == [], f"{len(lost)} acknowledged writes missing"
    wrong = {k: h for k in keys if len(h := holders(cluster, live, k)) != 3}
    assert wrong == {}, f"{len(wrong)} of {len(keys)} keys not on exactly N=3 nodes"


def test_join_then_leave_under_a_write_load(make_cluster):
    cluster = make_cluster(3, *FAST)
    writer = Writer(cluster, [1, 2, 3])
    writer.start()
    try:
        wait_for(lambda: len(writer.acked) >= 300, 30, "a first load")
        k = cluster.add_node(1, *FAST)  # joins through node1's cluster port
        wait_for(lambda: settled(cluster, [1, 2, 3, 4], 4), 60, "the join to settle")
        wait_for(lambda: len(writer.acked) >= 600, 30, "writes after the join")
    finally:
        writer.stop()
    assert k == 4
    wait_for(lambda: settled(cluster, [1, 2, 3, 4], 4), 60, "transfers to finish")
    _check_placement(cluster, [1, 2, 3, 4], writer)
    moved = sum(row[4] for k in (1, 2, 3)
                for row in cluster.client(k).execute_command("DYNAMO", "TRANSFERS"))
    assert moved > 0  # node4's partitions were streamed to it

    writer = Writer(cluster, [2, 3, 4])
    writer.acked = {}
    writer.start()
    try:
        wait_for(lambda: len(writer.acked) >= 200, 30, "a load before the leave")
        assert cluster.client(1).execute_command("DYNAMO", "LEAVE") == b"OK"
        assert cluster.nodes[0].wait_exit(timeout=60) == 0  # handed off, then exited
        wait_for(lambda: settled(cluster, [2, 3, 4], 3), 60, "the leave to settle")
    finally:
        writer.stop()
    _check_placement(cluster, [2, 3, 4], writer)


def test_remove_a_dead_node_rebuilds_its_partitions(make_cluster):
    cluster = make_cluster(4, *FAST)
    c1 = cluster.client(1)
    c1.mset({f"r{i}": i for i in range(200)})
    cluster.kill(4)
    with pytest.raises(redis.ResponseError, match="no such member"):
        c1.execute_command("DYNAMO", "REMOVE", "node9")
    assert c1.execute_command("DYNAMO", "REMOVE", "node4") == b"OK"
    wait_for(lambda: settled(cluster, [1, 2, 3], 3), 60, "the removal to settle")
    assert states(cluster, 2)["node4"] == "removed"
    missing = [i for i in range(200) if holders(cluster, [1, 2, 3], f"r{i}") != {1, 2, 3}]
    assert missing == []


def test_a_wiped_node_does_not_reissue_its_old_dots(make_cluster):
    """A node whose data directory was wiped must not issue the version dots it issued
    before: replicas remembering them would drop its new writes as already seen (dvv.py).
    Gossip tells it the cluster knew an older data directory of it; until DYNAMO REPAIR it
    reads the other replicas' clocks of a key it lacks before writing it."""
    cluster = make_cluster(3, *FAST, "--aae-interval-ms", "0")
    c3 = cluster.client(3)
    wait_for(lambda: info(c3)["cluster_recovering"] == 0, 20, "a new cluster to be trusted")
    key = next(f"w{i}" for i in range(1000)
               if c3.execute_command("DYNAMO", "PREFLIST", f"w{i}")[0] == b"node3")
    for i in range(3):
        c3.set(key, f"before {i}")  # node3 coordinates: its dots 1..3
    for k in (1, 2):  # a heartbeat of node3 heard: they know its data directory's age
        wait_for(lambda k=k: states(cluster, k)["node3"] == "up", 20, "node3's heartbeat")
    cluster.kill(3)
    shutil.rmtree(cluster.nodes[2].data_dir)
    cluster.restart(3)
    c3 = cluster.client(3)
    assert info(c3)["cluster_recovering"] == 1
    c3.mset({key: "after the wipe"})  # a blind write, coordinated by node3 with an empty disk
    for k in (1, 2):
        wait_for(lambda k=k: states(cluster, k)["node3"] == "up", 20, "node3 seen back")
    for k in (1, 2, 3):
        c = cluster.client(k)
        c.execute_command("CONSISTENCY", "ALL")
        assert c.get(key) == b"after the wipe", k
    wait_for(lambda: states(cluster, 3)["node1"] == "up", 20, "gossip with node1")
    assert info(c3)["cluster_recovering"] == 1  # the cluster knew an older node3
    c3.execute_command("DYNAMO", "REPAIR")
    assert info(c3)["cluster_recovering"] == 0


def test_a_key_written_again_after_its_tombstone_was_purged(make_cluster):
    """Past the grace period a deletion is no version on every node; writing the key again
    starts a fresh history that every replica accepts, including one still holding the old
    tombstone on disk (replica.py, Tombstones)."""
    cluster = make_cluster(3, *FAST, "--tombstone-grace-ms", "1000")
    c1 = cluster.client(1)
    c1.set("gone", "first")
    c1.delete("gone")
    assert all(holders(cluster, [k], "gone") for k in (1, 2, 3))  # the tombstone, kept
    wait_for(lambda: not holders(cluster, [1, 2, 3], "gone"), 20, "the grace period to pass")
    c1.mset({"gone": "second"})  # blind, by the deletion's coordinator: its counter restarts
    wait_for(lambda: holders(cluster, [1, 2, 3], "gone") == {1, 2, 3}, 20,
             "every replica to take the new history")
    for k in (1, 2, 3):
        c = cluster.client(k)
        c.execute_command("CONSISTENCY", "ALL")
        assert c.get("gone") == b"second"


def test_flush_is_refused_while_a_member_is_down(make_cluster):
    """A member that missed a FLUSHALL would outvote later writes with its old clocks, so
    the flush waits for every member, and deletes nothing meanwhile."""
    cluster = make_cluster(3, *FAST)
    c1 = cluster.client(1)
    c1.set("kept", "yes")
    cluster.kill(3)
    wait_for(lambda: states(cluster, 1)["node3"] == "down", 20, "node3 marked down")
    with pytest.raises(redis.ResponseError, match=r"^NOQUORUM 2 of 3"):
        c1.flushall()
    assert c1.get("kept") == b"yes"
    cluster.restart(3)
    wait_for(lambda: states(cluster, 1)["node3"] == "up", 20, "node3 back")
    assert c1.flushall()
    assert c1.get("kept") is None


def test_info_shows_each_members_state_and_phi(make_cluster):
    cluster = make_cluster(3, *FAST)
    c1 = cluster.client(1)
    wait_for(lambda: info(c1).get("cluster_member_node2", {}).get("state") == "up", 20,
             "node2 up in INFO")
    fields = info(c1)
    assert fields["cluster_member_node3"]["phi"] < 8
    assert "cluster_member_node1" not in fields  # itself
    cluster.kill(2)
    wait_for(lambda: info(c1)["cluster_member_node2"]["state"] == "down", 20, "node2 down")
