"""redis-py, unchanged, against a real respdyn process: blocking pops woken by another client,
pub/sub in RESP2 and RESP3 (messages arrive while the subscriber is idle), transactions with
WATCH retried by redis-py's `transaction` helper under contention."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

WAIT = 10.0


@pytest.fixture
def r(node):
    client = redis.Redis(host=node.host, port=node.port, socket_timeout=WAIT)
    client.flushall()
    yield client
    client.close()


def client_of(node, **kw) -> redis.Redis:
    return redis.Redis(host=node.host, port=node.port, socket_timeout=WAIT, **kw)


def wait_for_blocked(r: redis.Redis, command: str) -> None:
    """Until some client's last command is `command` (it is blocked in it); bounded."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if any(c.get("cmd") == command for c in r.client_list()):
            return
        time.sleep(0.01)
    raise TimeoutError(f"no client blocked in {command}")


def in_thread(fn, *args) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    thread.start()
    return thread, out


def test_blpop_is_woken_by_a_push_from_another_client(node, r):
    waiter = client_of(node)
    thread, out = in_thread(waiter.blpop, ["jobs:high", "jobs:low"], 0)
    wait_for_blocked(r, "blpop")
    started = time.monotonic()
    assert r.rpush("jobs:low", "job-1") == 1
    thread.join(WAIT)
    assert out == [(b"jobs:low", b"job-1")]
    assert time.monotonic() - started < 1.0
    assert r.llen("jobs:low") == 0
    waiter.close()


def test_blpop_timeout_and_blmove(node, r):
    assert r.blpop("empty", timeout=0.1) is None
    waiter = client_of(node)
    thread, out = in_thread(waiter.blmove, "src", "dst", 0, "RIGHT", "LEFT")
    wait_for_blocked(r, "blmove")
    r.rpush("src", "a", "b")
    thread.join(WAIT)
    assert out == [b"b"]
    assert r.lrange("dst", 0, -1) == [b"b"] and r.lrange("src", 0, -1) == [b"a"]
    waiter.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_messages_reach_an_idle_subscriber(node, r, protocol):
    sub_client = client_of(node, protocol=protocol)
    pubsub = sub_client.pubsub()
    pubsub.subscribe("orders")
    pubsub.psubscribe("audit.*")
    confirmations = [pubsub.get_message(timeout=WAIT) for _ in range(2)]
    assert [(m["type"], m["channel"], m["data"]) for m in confirmations] == [
        ("subscribe", b"orders", 1), ("psubscribe", b"audit.*", 2)]
    assert r.publish("orders", "o-1") == 1
    assert r.publish("audit.login", "alice") == 1
    got = []
    deadline = time.monotonic() + WAIT
    while len(got) < 2 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message is not None:
            got.append((message["type"], message["channel"], message["data"]))
    assert got == [("message", b"orders", b"o-1"), ("pmessage", b"audit.login", b"alice")]
    assert r.pubsub_numsub("orders") == [(b"orders", 1)]
    assert r.pubsub_numpat() == 1
    pubsub.close()
    sub_client.close()


def test_subscribed_resp2_connection_refuses_other_commands(node):
    with socket.create_connection((node.host, node.port), timeout=WAIT) as sock:
        sock.sendall(b"SUBSCRIBE c\r\nGET k\r\nPING\r\n")
        expected = (b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
                    b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                    b"QUIT / RESET are allowed in this context\r\n"
                    b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        data = b""
        while len(data) < len(expected):
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        assert data == expected


def test_pipeline_transaction_and_optimistic_locking(node, r):
    pipe = r.pipeline(transaction=True)
    pipe.set("a", 1).incr("a").rpush("l", "x").lrange("l", 0, -1)
    assert pipe.execute() == [True, 2, 1, [b"x"]]

    def add_one(pipe: redis.client.Pipeline) -> None:
        value = int(pipe.get("counter") or 0)
        pipe.multi()
        pipe.set("counter", value + 1)

    def worker() -> None:
        client = client_of(node)
        for _ in range(25):
            client.transaction(add_one, "counter")
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert r.get("counter") == b"100"  # WATCH made every lost race retry


def test_exec_fails_when_a_watched_key_changed(node, r):
    other = client_of(node)
    with r.pipeline() as pipe:
        pipe.watch("k")
        other.set("k", "changed")
        pipe.multi()
        pipe.set("k", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("k") == b"changed"
    other.close()


def test_a_client_that_hangs_up_while_blocked_takes_nothing(node, r):
    """The push wakes the dead client's BLPOP; it sees the hang-up and leaves the element."""
    with socket.create_connection((node.host, node.port), timeout=WAIT) as sock:
        sock.sendall(b"BLPOP gone 0\r\n")
        wait_for_blocked(r, "blpop")
    r.rpush("gone", "precious")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and r.llen("gone") == 1:
        time.sleep(0.05)
    assert r.lrange("gone", 0, -1) == [b"precious"]


def test_a_command_pipelined_behind_a_blocked_pop_is_not_a_hang_up(node, r):
    with socket.create_connection((node.host, node.port), timeout=WAIT) as sock:
        sock.sendall(b"BLPOP piped 0\r\nPING\r\n")
        wait_for_blocked(r, "blpop")
        r.rpush("piped", "v")
        expected = b"*2\r\n$5\r\npiped\r\n$1\r\nv\r\n+PONG\r\n"
        data = b""
        while len(data) < len(expected):
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        assert data == expected
