"""Concurrent updates of Redis data types merge without losing updates, on a real 3-node
cluster: every node is cut off from the others (the test-only DYNAMO DEBUG PARTITION), node1 and
node2 each take an update of the same key with CONSISTENCY ONE (a read and a write of their own
replica), then the partition heals and a reader with CONSISTENCY ALL sees both versions as
siblings, merged by the type's CRDT (docs/datatypes.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

NODES = ("node1", "node2", "node3")


@pytest.fixture
def split(cluster3) -> Iterator:
    """split(setup, left, right) -> a reader of the healed cluster. `setup` runs with every
    replica acknowledging (ALL); `left` on node1 and `right` on node2, each alone."""
    def run(setup, left, right) -> redis.Redis:
        writer = cluster3.client(3)
        writer.execute_command("CONSISTENCY", "ALL")
        setup(writer)
        for k, me in enumerate(NODES, 1):
            others = [n for n in NODES if n != me]
            cluster3.client(k).execute_command("DYNAMO", "DEBUG", "PARTITION", *others)
        c1, c2 = cluster3.client(1), cluster3.client(2)
        for c in (c1, c2):
            c.execute_command("CONSISTENCY", "ONE")
        left(c1)
        right(c2)
        heal()
        reader = cluster3.client(3)
        reader.execute_command("CONSISTENCY", "ALL")
        return reader

    def heal() -> None:
        for k in range(1, len(NODES) + 1):
            cluster3.client(k).execute_command("DYNAMO", "DEBUG", "HEAL")

    try:
        yield run
    finally:
        heal()


def siblings(reader: redis.Redis, key: str) -> int:
    return len(reader.execute_command("SIBLINGS", key, "RAW")[1])


def test_concurrent_incrs_sum(split):
    reader = split(lambda c: c.set("cnt", 10),
                   lambda c: c.incr("cnt"),
                   lambda c: c.incrby("cnt", 5))
    assert siblings(reader, "cnt") == 2  # the two updates really were concurrent
    assert reader.get("cnt") == b"16"
    assert reader.incr("cnt") == 17  # one merged value is written back
    assert siblings(reader, "cnt") == 1


def test_concurrent_incrs_on_a_missing_key_sum(split):
    reader = split(lambda c: None, lambda c: c.incr("fresh"), lambda c: c.incr("fresh"))
    assert reader.get("fresh") == b"2"


def test_concurrent_sadd_and_srem_keep_the_member(split):
    reader = split(lambda c: c.sadd("s", "x", "y"),
                   lambda c: c.sadd("s", "x"),
                   lambda c: c.srem("s", "x"))
    assert siblings(reader, "s") == 2
    assert reader.smembers("s") == {b"x", b"y"}


def test_members_added_on_both_sides_are_all_kept(split):
    reader = split(lambda c: c.sadd("t", "common"),
                   lambda c: c.sadd("t", "left"),
                   lambda c: c.sadd("t", "right", "more"))
    assert reader.smembers("t") == {b"common", b"left", b"right", b"more"}


def test_concurrent_hset_of_different_fields_keeps_both(split):
    reader = split(lambda c: c.hset("h", "common", "1"),
                   lambda c: c.hset("h", "left", "L"),
                   lambda c: c.hset("h", "right", "R"))
    assert siblings(reader, "h") == 2
    assert reader.hgetall("h") == {b"common": b"1", b"left": b"L", b"right": b"R"}


def test_concurrent_hset_of_one_field_has_one_winner_everywhere(split, cluster3):
    split(lambda c: c.hset("g", "f", "old"),
          lambda c: c.hset("g", "f", "from-node1"),
          lambda c: c.hset("g", "f", "from-node2"))
    answers = set()
    for k in (1, 2, 3):
        c = cluster3.client(k)
        c.execute_command("CONSISTENCY", "ALL")
        answers.add(c.hget("g", "f"))
    assert len(answers) == 1 and answers <= {b"from-node1", b"from-node2"}


def test_concurrent_hincrby_sums(split):
    reader = split(lambda c: c.hset("hc", "n", "100"),
                   lambda c: c.hincrby("hc", "n", 1),
                   lambda c: c.hincrby("hc", "n", 2))
    assert reader.hget("hc", "n") == b"103"


def test_concurrent_zadd_keeps_both_members_and_a_seen_zrem_holds(split):
    reader = split(lambda c: c.zadd("z", {"common": 1, "keep": 0}),
                   lambda c: c.zadd("z", {"left": 2}),
                   lambda c: c.zrem("z", "common") and c.zadd("z", {"right": 3}))
    assert reader.zrange("z", 0, -1, withscores=True) == [
        (b"keep", 0.0), (b"left", 2.0), (b"right", 3.0)]


def test_concurrent_zadd_and_zrem_keep_the_member(split):
    reader = split(lambda c: c.zadd("zz", {"m": 1, "n": 2}),
                   lambda c: c.zadd("zz", {"m": 5}),
                   lambda c: c.zrem("zz", "m"))
    assert reader.zscore("zz", "m") == 5.0


# -- deletions are observed removes: emptying a value never undoes a concurrent add ----------


def test_srem_of_the_last_member_keeps_a_concurrent_sadd(split):
    reader = split(lambda c: c.sadd("last", "x"),
                   lambda c: c.srem("last", "x"),  # empties the set: the key is deleted
                   lambda c: c.sadd("last", "y"))
    assert reader.smembers("last") == {b"y"}  # y kept, x stays removed
    assert reader.type("last") == b"set"


def test_del_of_a_hash_keeps_a_field_written_concurrently(split):
    reader = split(lambda c: c.hset("h", mapping={"a": "1", "b": "2"}),
                   lambda c: c.delete("h"),
                   lambda c: c.hset("h", "c", "3"))
    assert reader.hgetall("h") == {b"c": b"3"}


def test_del_of_a_list_keeps_a_concurrent_push(split):
    reader = split(lambda c: c.rpush("q", "old1", "old2"),
                   lambda c: c.delete("q"),
                   lambda c: c.rpush("q", "new"))
    assert reader.lrange("q", 0, -1) == [b"new"]


def test_concurrent_deletions_leave_no_key(split):
    reader = split(lambda c: c.sadd("gone", "x"),
                   lambda c: c.srem("gone", "x"),
                   lambda c: c.delete("gone"))
    assert reader.exists("gone") == 0
    assert reader.smembers("gone") == set()
    assert b"gone" not in reader.keys("*")


def test_siblings_of_a_merged_type_show_the_merged_value(split):
    reader = split(lambda c: c.sadd("tags", "a"),
                   lambda c: c.sadd("tags", "left"),
                   lambda c: c.sadd("tags", "right"))
    context, versions, merged = reader.execute_command("SIBLINGS", "tags")
    assert merged == b"merged"
    assert len(versions) == 1 and set(versions[0]) == {b"a", b"left", b"right"}
    _, [[value, ts, node]], _ = reader.execute_command("SIBLINGS", "tags", "WITHMETA")
    assert set(value) == {b"a", b"left", b"right"} and ts > 0 and node
    assert reader.execute_command("SIBLINGS", "plain-missing") == [context[:0] + b"AQA", []]
