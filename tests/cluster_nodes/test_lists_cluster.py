"""Lists, blocking pops, transactions and pub/sub across real cluster processes: a client
blocked on one node is woken by a push through another; pushes on both sides of a partition
are all kept, in one order everywhere; pops through both sides of a cut; MULTI/EXEC runs on
its coordinator and WATCH sees a write made through another node; PUBLISH reaches every
node's subscribers."""

from __future__ import annotations

import threading
import time

import redis

WAIT = 10.0


def _partition(cluster, a: int, b: int) -> None:
    cluster.client(a).execute_command("DYNAMO", "DEBUG", "PARTITION", f"node{b}")
    cluster.client(b).execute_command("DYNAMO", "DEBUG", "PARTITION", f"node{a}")


def _heal(cluster) -> None:
    for k in range(1, len(cluster) + 1):
        cluster.client(k).execute_command("DYNAMO", "DEBUG", "HEAL")


def _wait_blocked(client: redis.Redis, command: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if any(c.get("cmd") == command for c in client.client_list()):
            return
        time.sleep(0.01)
    raise TimeoutError(f"nobody blocked in {command}")


def test_a_pop_blocked_on_one_node_is_woken_by_a_push_through_another(cluster3):
    waiter, observer, pusher = cluster3.client(1), cluster3.client(1), cluster3.client(2)
    waiter.delete("jobs")
    out: list = []
    thread = threading.Thread(target=lambda: out.append(waiter.blpop("jobs", 0)), daemon=True)
    thread.start()
    _wait_blocked(observer, "blpop")
    started = time.monotonic()
    pusher.rpush("jobs", "j1")
    thread.join(WAIT)
    assert out == [(b"jobs", b"j1")]
    # the push's broadcast wakes it, well before the 1 s safety re-check would
    assert time.monotonic() - started < 0.6
    assert cluster3.client(3).llen("jobs") == 0


def test_pushes_on_both_sides_of_a_partition_are_all_kept_in_one_order(make_cluster):
    cluster = make_cluster(3)
    cluster.client(1).rpush("q", "shared")
    _partition(cluster, 1, 2)
    cluster.client(1).rpush("q", "a1", "a2")
    cluster.client(2).rpush("q", "b1")
    cluster.client(2).lpush("q", "b0")
    _heal(cluster)
    views = [cluster.client(k).lrange("q", 0, -1) for k in (1, 2, 3)]
    assert views[0] == views[1] == views[2]
    assert sorted(views[0]) == [b"a1", b"a2", b"b0", b"b1", b"shared"]
    assert views[0].index(b"a1") < views[0].index(b"a2")
    assert views[0][0] == b"b0"


def test_pops_through_both_sides_of_a_cut_sharing_a_replica_take_different_elements(make_cluster):
    """node1 and node2 cannot talk, but node3 stores both sides' writes (W=2), so node2's pop
    reads node1's and takes the next element. (Duplicates need a split where no replica sees
    both sides: the merge rules for that case are tested in tests/keyspace/test_crdt_lists.py.)"""
    cluster = make_cluster(3)
    cluster.client(1).rpush("q", "job1", "job2", "job3")
    _partition(cluster, 1, 2)
    first = cluster.client(1).lpop("q")
    second = cluster.client(2).lpop("q")
    _heal(cluster)
    assert (first, second) == (b"job1", b"job2")
    assert [cluster.client(k).lrange("q", 0, -1) for k in (1, 2, 3)] == [[b"job3"]] * 3


def test_transactions_run_on_their_coordinator(cluster3):
    c1, c2 = cluster3.client(1), cluster3.client(2)
    c1.delete("tx:a", "tx:b")
    pipe = c1.pipeline(transaction=True)
    pipe.set("tx:a", 1).incr("tx:a").rpush("tx:b", "x").lrange("tx:b", 0, -1)
    assert pipe.execute() == [True, 2, 1, [b"x"]]
    assert c2.get("tx:a") == b"2" and c2.lrange("tx:b", 0, -1) == [b"x"]
    with c1.pipeline() as watched:
        watched.watch("tx:a")
        c2.set("tx:a", "changed elsewhere")  # a write through another node
        watched.multi()
        watched.set("tx:a", "mine")
        try:
            watched.execute()
            aborted = False
        except redis.WatchError:
            aborted = True
    assert aborted  # the value read at EXEC differs from the one seen at WATCH
    assert c1.get("tx:a") == b"changed elsewhere"


def test_a_message_published_on_any_node_reaches_subscribers_on_every_node(cluster3):
    subscribers = []
    for k in (1, 2, 3):
        pubsub = cluster3.client(k, protocol=3 if k == 3 else 2).pubsub()
        pubsub.subscribe("cluster-news")
        pubsub.psubscribe("cluster-*")
        assert [pubsub.get_message(timeout=WAIT)["type"] for _ in range(2)] == [
            "subscribe", "psubscribe"]
        subscribers.append(pubsub)
    publisher = cluster3.client(2)
    assert publisher.publish("cluster-news", "m1") == 2  # this node's receivers, as Redis Cluster
    publisher.publish("cluster-news", "m2")
    cluster3.client(1).publish("cluster-other", "m3")
    for pubsub in subscribers:
        got = []
        deadline = time.monotonic() + WAIT
        while len(got) < 5 and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message is not None:
                got.append((message["type"], message["channel"], message["data"]))
        assert got == [
            ("message", b"cluster-news", b"m1"), ("pmessage", b"cluster-news", b"m1"),
            ("message", b"cluster-news", b"m2"), ("pmessage", b"cluster-news", b"m2"),
            ("pmessage", b"cluster-other", b"m3"),
        ]
        pubsub.close()
