"""Denial-of-service cases from Redis' CVE history, against a real respdyn process (the whole
stack: listener, dispatcher, keyspace, storage). tests/server/test_limits.py checks the same
limits on an in-process listener with a test dispatcher; here the node's RSS (psutil, with its
worker processes) is what must stay bounded, and the node must keep answering PING.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
import redis
from harness import RespdynProcess, ping

from tests.hostile.conftest import rss

pytestmark = pytest.mark.xdist_group("hostile")

MiB = 1024 * 1024


def _client(node: RespdynProcess) -> redis.Redis:
    return redis.Redis(host=node.host, port=node.port, socket_timeout=10)


def test_many_stalled_huge_declarations_keep_the_node_small(node: RespdynProcess) -> None:
    """CVE-2021-32675: 300 connections each declaring a huge array or bulk, then stalling."""
    before = rss(node)
    socks = []
    try:
        for i in range(300):
            s = socket.create_connection((node.host, node.port), timeout=5)
            s.sendall(b"*2147483647\r\n" if i % 2 else b"*1\r\n$536870912\r\nabc")
            socks.append(s)
        time.sleep(0.5)
        assert ping(node.host, node.port)
        assert rss(node) - before < 64 * MiB
    finally:
        for s in socks:
            s.close()


def test_pipelined_big_gets_without_reading_keep_the_node_small(node: RespdynProcess) -> None:
    """CVE-2025-21605: 1 MiB value, 2000 GETs pipelined (2 GiB of replies), never read."""
    _client(node).set("dos:big", b"x" * MiB)
    before = rss(node)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((node.host, node.port))
    request = b"*2\r\n$3\r\nGET\r\n$7\r\ndos:big\r\n" * 2000
    with contextlib.suppress(OSError):  # the node stopped reading, or closed: either is fine
        s.sendall(request)
    try:
        time.sleep(1.0)
        assert ping(node.host, node.port)
        assert rss(node) - before < 128 * MiB
    finally:
        s.close()


def _keys_time(c: redis.Redis, pattern: str) -> float:
    started = time.perf_counter()
    c.keys(pattern)
    for _ in c.scan_iter(match=pattern, count=1000):
        pass
    return time.perf_counter() - started


def test_backtracking_globs_stay_fast(node: RespdynProcess) -> None:
    """CVE-2022-36021: patterns that make a backtracking matcher exponential."""
    c = _client(node)
    c.mset({f"glob:{'a' * 60}{i}": 1 for i in range(50)})
    plain = _keys_time(c, "glob:*")
    for pattern in ("*a" * 30 + "b", "*" * 200 + "b", "glob:" + "*a*" * 25 + "[b]",
                    "?" * 40 + "*a" * 20 + "b"):
        assert _keys_time(c, pattern) < plain * 20 + 1.0, pattern


def _error(c: redis.Redis, *args: bytes | str) -> str:
    with pytest.raises(redis.ResponseError) as info:
        c.execute_command(*args)
    return str(info.value)


@pytest.mark.parametrize("offset", [b"536870912", b"2147483648", b"4294967296",
                                    b"9223372036854775807", b"-1"])
def test_huge_setrange_offset_is_refused_before_allocating(
    node: RespdynProcess, redis_ref: tuple[str, int], offset: bytes
) -> None:
    """CVE-2022-35977: SETRANGE offsets that would allocate huge strings are refused with
    Redis' text, before anything is allocated (respdyn has no SETBIT yet)."""
    c, ref = _client(node), redis.Redis(*redis_ref, socket_timeout=10)
    before = rss(node)
    assert _error(c, "SETRANGE", "dos:range", offset, "x") == _error(
        ref, "SETRANGE", "dos:range", offset, "x")
    assert c.getrange("dos:range", 0, int(offset)) == b""
    assert rss(node) - before < 32 * MiB
    assert ping(node.host, node.port)


@pytest.mark.parametrize("line", [
    b"*+1\r\n", b"* 1\r\n", b"*1_0\r\n", b"*01\r\n", b"*1 \r\n", b"*2147483648\r\n",
    b"*9223372036854775808\r\n", b"*1\r\n$+4\r\n", b"*1\r\n$ 4\r\n", b"*1\r\n$04\r\n",
    b"*1\r\n$4_\r\n", b"*1\r\n$-4\r\n", b"*1\r\n$4294967296\r\n",
])
def test_lengths_with_signs_spaces_underscores_zeros(node: RespdynProcess,
                                                     redis_ref: tuple[str, int],
                                                     line: bytes) -> None:
    """Strict length parsing (CVE-2021-41099 family): the same reply and close as Redis."""
    def exchange(addr: tuple[str, int]) -> bytes:
        with socket.create_connection(addr, timeout=5) as s:
            s.sendall(line)
            s.settimeout(2)
            buf = bytearray()
            while chunk := s.recv(4096):
                buf += chunk
            return bytes(buf)

    assert exchange((node.host, node.port)) == exchange(redis_ref)
