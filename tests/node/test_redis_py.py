"""redis-py, unchanged, against a real respdyn process: sync, asyncio, pipelines, RESP3."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio


@pytest.fixture
def r(node):
    client = redis.Redis(host=node.host, port=node.port, socket_timeout=10)
    client.flushall()
    yield client
    client.close()


def test_strings_round_trip(r):
    assert r.set("greeting", "hello") is True
    assert r.get("greeting") == b"hello"
    assert r.incr("counter") == 1
    assert r.incrby("counter", 41) == 42
    assert r.mget("greeting", "missing", "counter") == [b"hello", None, b"42"]
    assert r.append("greeting", " world") == 11
    assert r.getrange("greeting", 0, 4) == b"hello"


def test_expiry_and_keys(r):
    r.set("a", "1", ex=100)
    assert 0 < r.ttl("a") <= 100
    assert r.persist("a") is True
    assert r.ttl("a") == -1
    assert r.exists("a", "b") == 1
    assert sorted(r.keys("*")) == [b"a"]
    assert r.type("a") == b"string"
    assert r.delete("a") == 1
    assert r.get("a") is None


def test_errors_are_redis_errors(r):
    r.set("s", "x")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("s")
    with pytest.raises(redis.ResponseError, match="unknown command"):
        r.execute_command("NOSUCHCOMMAND", "x")


def test_pipeline_with_and_without_transaction_flag(r):
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"k{i}", i)
    for i in range(200):
        pipe.get(f"k{i}")
    replies = pipe.execute()
    assert replies[:200] == [True] * 200
    assert replies[200:] == [str(i).encode() for i in range(200)]


def test_scan_iter_covers_every_key(r):
    keys = {f"user:{i}".encode() for i in range(500)}
    r.mset({k: b"v" for k in keys})
    assert set(r.scan_iter(match="user:*", count=50)) == keys


def test_resp3_protocol(node):
    client = redis.Redis(host=node.host, port=node.port, protocol=3, socket_timeout=10)
    try:
        assert client.ping() is True
        client.set("r3", "v")
        assert client.get("r3") == b"v"
        info = client.execute_command("HELLO", "3")
        assert info[b"proto"] == 3
        assert info[b"server"] == b"redis"
    finally:
        client.close()


def test_asyncio_client(node):
    async def scenario() -> list:
        client = redis.asyncio.Redis(host=node.host, port=node.port, socket_timeout=10)
        try:
            await client.set("async", "yes")
            async with client.pipeline(transaction=False) as pipe:
                pipe.get("async").incr("async-counter").incr("async-counter")
                return await pipe.execute()
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == [b"yes", 1, 2]


def test_many_concurrent_clients(node):
    clients = [redis.Redis(host=node.host, port=node.port, socket_timeout=10) for _ in range(20)]
    try:
        for i, c in enumerate(clients):
            c.set(f"client:{i}", i)
        assert [int(c.get(f"client:{i}")) for i, c in enumerate(clients)] == list(range(20))
        assert clients[0].dbsize() >= 20
    finally:
        for c in clients:
            c.close()
