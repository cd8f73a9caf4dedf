"""Placement and reads across the ring with real node processes: any node serves any key,
each key lives on exactly N disks, and whole-keyspace commands cover every partition."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis


def test_write_on_one_node_read_on_every_other(cluster3):
    for writer in (1, 2, 3):
        cluster3.client(writer).set(f"from{writer}", f"value{writer}")
    for reader in (1, 2, 3):
        c = cluster3.client(reader)
        assert c.mget("from1", "from2", "from3") == [b"value1", b"value2", b"value3"]


def test_members_and_ring_are_the_same_on_every_node(cluster5):
    rings = [cluster5.client(k).execute_command("DYNAMO", "RING") for k in range(1, 6)]
    assert all(ring == rings[0] for ring in rings)
    assert len(rings[0]) == 64
    assert all(len(prefs) == 3 and len(set(prefs)) == 3 for _, _, _, prefs in rings[0])
    members = cluster5.client(1).execute_command("DYNAMO", "MEMBERS")
    assert [m[0] for m in members] == [f"node{k}".encode() for k in range(1, 6)]
    assert members[0][3] == b"self"
    # every node greets its seeds at start, so client addresses are known without traffic
    expected = [f"{n.host}:{n.port}".encode() for n in cluster5.nodes]
    deadline = time.monotonic() + 10
    while [m[1] for m in members] != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        members = cluster5.client(3).execute_command("DYNAMO", "MEMBERS")
    assert [m[1] for m in members] == expected


def test_each_key_is_on_exactly_n_disks(cluster5):
    keys = [f"placed:{i}" for i in range(60)]
    writer = cluster5.client(2)
    for key in keys:
        writer.set(key, key)
    clients = [cluster5.client(k) for k in range(1, 6)]
    for key in keys:
        holders = {f"node{k}".encode() for k, c in enumerate(clients, 1)
                   if c.execute_command("DYNAMO", "LOCAL", key) == 1}
        # W=2 acknowledged before the reply; the third replica finishes in the background
        if len(holders) < 3:
            holders = _settled(clients, key)
        assert holders == set(writer.execute_command("DYNAMO", "PREFLIST", key)), key


def _settled(clients, key):
    deadline = time.monotonic() + 5
    while True:
        holders = {f"node{k}".encode() for k, c in enumerate(clients, 1)
                   if c.execute_command("DYNAMO", "LOCAL", key) == 1}
        if len(holders) >= 3 or time.monotonic() > deadline:
            return holders
        time.sleep(0.02)


def test_keys_scan_dbsize_cover_the_whole_ring(cluster5):
    db = redis.Redis(host=cluster5.nodes[0].host, port=cluster5.nodes[0].port, db=5)
    db.mset({f"whole:{i}": i for i in range(300)})
    db.delete("whole:0", "whole:1")
    expected = {f"whole:{i}".encode() for i in range(2, 300)}
    for node in cluster5.nodes:
        other = redis.Redis(host=node.host, port=node.port, db=5, socket_timeout=10)
        assert other.dbsize() == 298
        assert set(other.keys("whole:*")) == expected
        assert set(other.scan_iter(count=37)) == expected
    db.flushdb()
    for node in cluster5.nodes:
        assert redis.Redis(host=node.host, port=node.port, db=5).dbsize() == 0


def test_read_modify_write_commands_go_through_the_coordinator(cluster3):
    c1, c2, c3 = (cluster3.client(k) for k in (1, 2, 3))
    assert c1.incr("counter") == 1
    assert c2.incr("counter") == 2
    assert c3.incrby("counter", 10) == 12
    c1.set("text", "ab")
    assert c2.append("text", "cd") == 4
    assert c3.get("text") == b"abcd"
    assert len(c3.execute_command("SIBLINGS", "text")[1]) == 1


def test_delete_writes_a_tombstone_seen_everywhere(cluster3):
    cluster3.client(1).set("doomed", "x")
    assert cluster3.client(2).delete("doomed") == 1
    for k in (1, 2, 3):
        c = cluster3.client(k)
        assert c.get("doomed") is None
        assert c.exists("doomed") == 0
    token, values = cluster3.client(3).execute_command("SIBLINGS", "doomed")
    assert values == [None]  # the tombstone carries the context like any write
    assert token


def test_expiry_is_replicated(cluster3):
    cluster3.client(1).set("short", "x", px=200)
    assert 0 < cluster3.client(2).pttl("short") <= 200
    time.sleep(0.25)
    assert cluster3.client(3).get("short") is None


def test_redis_cli_works_against_any_node(cluster3):
    for node in cluster3.nodes:
        port = str(node.port)
        out = subprocess.run(["redis-cli", "-p", port, "set", "cli", port],
                             capture_output=True, text=True, timeout=10)
        assert out.stdout.strip() == "OK"
    out = subprocess.run(["redis-cli", "-p", str(cluster3.nodes[0].port), "get", "cli"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == str(cluster3.nodes[-1].port)


def test_redis_py_pipeline(cluster3):
    pipe = cluster3.client(2).pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"p{i}", i)
    pipe.execute()
    got = cluster3.client(3).pipeline(transaction=False)
    for i in range(100):
        got.get(f"p{i}")
    assert got.execute() == [str(i).encode() for i in range(100)]


def test_info_cluster_section(cluster3):
    info = cluster3.client(1).info("cluster")
    assert info["cluster_enabled"] == 1
    assert info["cluster_members"] == 3
    assert (info["cluster_n"], info["cluster_r"], info["cluster_w"]) == (3, 2, 2)
    assert "cluster_reads_with_siblings" in info


def _levels(c: redis.Redis) -> dict:
    reply = c.execute_command("CONSISTENCY")  # a map (RESP3) or a flat array (RESP2)
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))


@pytest.mark.parametrize("level, shown", [("ONE", (1, 1)), ("ALL", (3, 3)), ("QUORUM", (2, 2))])
def test_consistency_levels(cluster3, level, shown):
    c = cluster3.client(1)
    assert _levels(c) == {b"n": 3, b"r": 2, b"w": 2}
    assert c.execute_command("CONSISTENCY", level) in (b"OK", "OK", True)
    assert _levels(c) == {b"n": 3, b"r": shown[0], b"w": shown[1]}
    c.set("lvl", level)
    assert c.get("lvl") == level.encode()
    c.execute_command("CONSISTENCY", "1", "3")
    assert _levels(c) == {b"n": 3, b"r": 1, b"w": 3}
    with pytest.raises(redis.ResponseError, match="between 1 and N"):
        c.execute_command("CONSISTENCY", "0", "4")
    c.execute_command("CONSISTENCY", "DEFAULT")
