"""Raw RESP bytes against a real respdyn process: what telnet, redis-cli and pipelining clients
send, and the exact bytes that come back."""

from __future__ import annotations

import socket
import time

import pytest


@pytest.fixture
def conn(node):
    s = socket.create_connection((node.host, node.port), timeout=10)
    yield s
    s.close()


def read_exactly(s: socket.socket, expected: bytes, timeout: float = 10.0) -> bytes:
    """Read until `len(expected)` bytes arrived (or EOF / deadline) and return them."""
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < len(expected) and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def roundtrip(s: socket.socket, request: bytes, expected: bytes) -> None:
    s.sendall(request)
    assert read_exactly(s, expected) == expected


def test_inline_commands_like_telnet(conn):
    roundtrip(conn, b"PING\r\n", b"+PONG\r\n")
    roundtrip(conn, b'SET greeting "hello world"\r\n', b"+OK\r\n")
    roundtrip(conn, b"GET greeting\n", b"$11\r\nhello world\r\n")
    roundtrip(conn, b"\r\n", b"")  # an empty line is ignored
    roundtrip(conn, b"ECHO 'it''s'\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n")
    assert conn.recv(16) == b""  # closed after the protocol error


def test_pipelined_commands_answered_in_order(conn):
    n = 500
    request = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n" % (len(b"k%d" % i), i)
                       for i in range(n))
    request += b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n" * 3
    roundtrip(conn, request, b"+OK\r\n" * n + b":1\r\n:2\r\n:3\r\n")


def test_resp3_after_hello(conn):
    conn.sendall(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
    tail = b"$7\r\nmodules\r\n*0\r\n"
    reply = b""
    deadline = time.monotonic() + 10
    while not reply.endswith(tail) and time.monotonic() < deadline:
        reply += conn.recv(65536)
    assert reply.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")  # a RESP3 map
    assert b"$5\r\nproto\r\n:3\r\n" in reply
    roundtrip(conn, b"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n", b"_\r\n")
    roundtrip(conn, b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n", b"$2\r\nhi\r\n")


def test_errors_keep_the_connection(conn):
    roundtrip(conn, b"*1\r\n$3\r\nGET\r\n",
              b"-ERR wrong number of arguments for 'get' command\r\n")
    roundtrip(conn, b"*2\r\n$4\r\nNOPE\r\n$1\r\nx\r\n",
              b"-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n")
    roundtrip(conn, b"PING\r\n", b"+PONG\r\n")


def test_protocol_error_replies_then_closes(conn):
    roundtrip(conn, b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n")
    assert conn.recv(16) == b""


def test_http_probe_is_closed_without_reply(conn):
    conn.sendall(b"POST / HTTP/1.1\r\nHost: example\r\n\r\n")
    assert conn.recv(16) == b""


def test_quit_replies_ok_then_closes(conn):
    roundtrip(conn, b"QUIT\r\n", b"+OK\r\n")
    assert conn.recv(16) == b""
