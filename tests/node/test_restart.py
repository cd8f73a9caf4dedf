"""Data written before SHUTDOWN or SIGKILL (with --fsync always) is there after restart."""

from __future__ import annotations

import contextlib

import redis
from harness import RespdynProcess


def client(node: RespdynProcess) -> redis.Redis:
    return redis.Redis(host=node.host, port=node.port, socket_timeout=10)


def test_shutdown_command_then_restart(tmp_path):
    node = RespdynProcess(tmp_path / "data").start()
    try:
        c = client(node)
        c.mset({f"k{i}": f"v{i}" for i in range(2000)})
        c.set("ttl", "x", ex=1000)
        with contextlib.suppress(redis.ConnectionError):
            c.shutdown()  # the server closes the connection as it exits, as Redis does
        assert node.wait_exit() == 0
        node.start()
        c = client(node)
        assert c.get("k0") == b"v0"
        assert c.get("k1999") == b"v1999"
        assert c.dbsize() == 2001
        assert 0 < c.ttl("ttl") <= 1000
    finally:
        node.stop()


def test_sigkill_with_fsync_always_keeps_acknowledged_writes(tmp_path):
    node = RespdynProcess(tmp_path / "data", "--fsync", "always").start()
    try:
        c = client(node)
        acknowledged = {}
        for i in range(300):
            key = f"key:{i}"
            assert c.set(key, f"value:{i}")
            acknowledged[key] = f"value:{i}".encode()
        c.incrby("counter", 7)
        node.kill()
        node.start()
        c = client(node)
        assert c.mget(list(acknowledged)) == list(acknowledged.values())
        assert c.get("counter") == b"7"
    finally:
        node.stop()
