"""Redis' limits and the security history behind them, against a real Listener.

maxclients, the unauthenticated limits (CVE-2021-32675), the query buffer limit, bounded
output for a client that never reads (CVE-2025-21605), and stalled huge declarations.
"""

from __future__ import annotations

import contextlib
import socket

import psutil
import pytest

from tests.server.conftest import Client, Server, frame, wait_until

MiB = 1024 * 1024


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _slow_reader(server: Server) -> Client:
    """A client with a tiny receive buffer, so that the server's writes block early."""
    client = server.connect()
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return client


def test_maxclients_refuses_with_redis_text(make_server: object) -> None:
    server = make_server(maxclients=2)  # type: ignore[operator]
    first, second = server.connect(), server.connect()
    first.call(b"PING\r\n", b"+PONG\r\n")
    second.call(b"PING\r\n", b"+PONG\r\n")
    third = server.connect()
    assert third.read_to_eof() == b"-ERR max number of clients reached\r\n"
    first.close()
    wait_until(lambda: len(server.registry) == 1)
    server.connect().call(b"PING\r\n", b"+PONG\r\n")


@pytest.mark.parametrize(
    ("request_bytes", "error"),
    [
        (b"*11\r\n", b"unauthenticated multibulk length"),
        (b"*1\r\n$16385\r\n", b"unauthenticated bulk length"),
        (b"*1\r\n$536870913\r\n", b"invalid bulk length"),
    ],
)
def test_unauthenticated_limits(make_server: object, request_bytes: bytes, error: bytes) -> None:
    server = make_server(auth_required=True)  # type: ignore[operator]
    client = server.connect()
    client.send(request_bytes)
    assert client.read_to_eof() == b"-ERR Protocol error: " + error + b"\r\n"


def test_unauthenticated_limits_lift_after_auth_in_the_same_pipeline(make_server: object) -> None:
    server = make_server(auth_required=True)  # type: ignore[operator]
    client = server.connect()
    client.call(frame(b"ARGC", *[b"a"] * 9), b":9\r\n")
    client.send(frame(b"AUTH", b"secret") + frame(b"ARGC", *[b"a"] * 20))
    client.expect(b"+OK\r\n:20\r\n")
    client.call(frame(b"ECHO", b"x" * 20000), b"$20000\r\n" + b"x" * 20000 + b"\r\n")


def test_proto_max_bulk_len_setting(make_server: object) -> None:
    server = make_server(proto_max_bulk_len=MiB)  # type: ignore[operator]
    client = server.connect()
    client.call(frame(b"ECHO", b"x" * MiB)[:20], b"")  # header accepted, waits for the rest
    other = server.connect()
    other.send(b"*1\r\n$%d\r\n" % (MiB + 1))
    assert other.read_to_eof() == b"-ERR Protocol error: invalid bulk length\r\n"


def test_query_buffer_limit_closes_without_reply(make_server: object) -> None:
    server = make_server(client_query_buffer_limit=MiB)  # type: ignore[operator]
    client = server.connect()
    client.send(b"*1\r\n$2000000\r\n")
    with contextlib.suppress(OSError):  # the server may close while we still send
        for _ in range(20):
            client.send(b"x" * 65536)
    with contextlib.suppress(ConnectionResetError):  # unread input makes close a reset
        assert client.read_to_eof() == b""
    wait_until(lambda: len(server.registry) == 0)


def test_client_that_never_reads_has_bounded_output(server: Server) -> None:
    """CVE-2025-21605: 2000 pipelined 100 KB replies (200 MB) to a client that never reads."""
    hog = _slow_reader(server)
    hog_id = hog.client_id()
    before = _rss()
    hog.send(frame(b"BIG", b"100000") * 2000)
    conn = server.connection(hog_id)
    wait_until(lambda: conn.write_blocked)
    calls = len(server.app.calls)
    soft = server.listener.settings.output_soft_limit
    assert conn.output_pending <= soft + 100_000
    assert calls < 500  # stopped running (and reading) its commands, far from all 2000
    other = server.connect()
    other.call(b"PING\r\n", b"+PONG\r\n")  # everyone else is still served
    assert len(server.app.calls) == calls + 1
    assert _rss() - before < 64 * MiB
    hog.close()
    wait_until(lambda: len(server.registry) == 1)


def test_unauthenticated_client_that_never_reads_is_closed(make_server: object) -> None:
    """CVE-2025-21605 as Redis 7.4.3 fixed it: no reply backlog for a client before AUTH."""
    server = make_server(auth_required=True)  # type: ignore[operator]
    hog = _slow_reader(server)
    hog.client_id()
    hog.send(frame(b"BIG", b"1000") * 20000)  # 20 MB of replies, never read
    wait_until(lambda: len(server.registry) == 0)
    assert len(server.app.calls) < 20000  # closed once the kernel stopped taking replies


def test_authenticated_client_is_not_held_to_the_unauthenticated_limit(
    make_server: object,
) -> None:
    server = make_server(auth_required=True)  # type: ignore[operator]
    client = server.connect()
    client.call(frame(b"AUTH", b"secret"), b"+OK\r\n")
    conn = server.connection(client.client_id())
    client.send(frame(b"BIG", b"1000000") * 20)  # 20 MB, read only once the server waits
    wait_until(lambda: conn.write_blocked)
    reply = b"$1000000\r\n" + b"x" * 1_000_000 + b"\r\n"
    for _ in range(20):
        client.expect(reply)


def test_pushes_to_a_client_that_never_reads_close_it_at_the_hard_limit(
    make_server: object,
) -> None:
    server = make_server(output_hard_limit=MiB)  # type: ignore[operator]
    subscriber = _slow_reader(server)
    sub_id = subscriber.client_id()
    publisher = server.connect()
    message = b"m" * 65536
    delivered = 0
    for _ in range(200):  # 12.5 MB, far over the 1 MiB limit
        publisher.send(frame(b"PUBLISH", b"%d" % sub_id, message))
        reply = publisher.read(4)
        if reply == b":0\r\n":
            break
        delivered += 1
    assert reply == b":0\r\n"  # the subscriber is gone
    assert delivered < 100
    assert server.registry.get(sub_id) is None
    publisher.call(b"PING\r\n", b"+PONG\r\n")


def test_many_stalled_huge_declarations_stay_small(server: Server) -> None:
    """CVE-2021-32675: 50 clients declare 512 MB arguments (or 2^31 - 1 of them) and stall."""
    before = _rss()
    clients = []
    for i in range(50):
        client = server.connect()
        if i % 2:
            client.send(b"*2\r\n$3\r\nSET\r\n$536870912\r\n" + b"v" * 1000)
        else:
            client.send(b"*2147483647\r\n$3\r\nSET\r\n")
        clients.append(client)
    wait_until(lambda: len(server.registry) == 50)
    wait_until(
        lambda: all(c.reader.buffered > 0 for c in server.listener.connections),
    )
    other = server.connect()
    other.call(b"PING\r\n", b"+PONG\r\n")
    assert _rss() - before < 32 * MiB
    assert sum(c.reader.buffered for c in server.listener.connections) < 100_000


def _external_ip() -> str:
    """This host's address on a non-loopback interface (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
            ip = probe.getsockname()[0]
        except OSError:
            ip = "127.0.0.1"
    if ip.startswith("127."):
        pytest.skip("no non-loopback interface")
    return ip


# redis-server 7.0's bytes, read from a real server bound to 0.0.0.0 (1067 bytes)
DENIED_HEAD = b"-DENIED Redis is running in protected mode because protected mode is enabled"
DENIED_TAIL = b"to start accepting connections from the outside.\r\n"


def test_protected_mode_denies_outside_clients_without_password(make_server: object) -> None:
    ip = _external_ip()
    server = make_server(host="0.0.0.0")  # type: ignore[operator]
    outside = server.connect(ip)
    reply = outside.read_to_eof()
    assert reply.startswith(DENIED_HEAD) and reply.endswith(DENIED_TAIL)
    assert len(reply) == 1067
    server.connect("127.0.0.1").call(b"PING\r\n", b"+PONG\r\n")


@pytest.mark.parametrize("overrides", [{"auth_required": True}, {"protected_mode": False}])
def test_protected_mode_lets_outside_clients_in(make_server: object, overrides: dict) -> None:
    ip = _external_ip()
    server = make_server(host="0.0.0.0", **overrides)  # type: ignore[operator]
    server.connect(ip).call(b"PING\r\n", b"+PONG\r\n")


def test_idle_timeout_closes_idle_clients_only(make_server: object) -> None:
    server = make_server(idle_timeout=0.2)  # type: ignore[operator]
    idle, blocked = server.connect(), server.connect()
    idle.call(b"PING\r\n", b"+PONG\r\n")
    blocked.send(frame(b"WAIT", b"e"))
    server.app.entered_event(b"e").wait(5)
    assert idle.read_to_eof() == b""  # closed by the sweeper, without a reply
    assert not server.app.event(b"e").is_set()
    wait_until(lambda: len(server.registry) == 1)  # the blocked one is still there
    server.app.event(b"e").set()
    blocked.expect(b"+OK\r\n")


def test_idle_timeout_spares_exempt_sessions(make_server: object) -> None:
    server = make_server(idle_timeout=0.1)  # type: ignore[operator]
    server.listener.idle_exempt = lambda session: session.name == b"keep"
    kept, dropped = server.connect(), server.connect()
    server.registry.get(kept.client_id()).name = b"keep"
    dropped.call(b"PING\r\n", b"+PONG\r\n")
    assert dropped.read_to_eof() == b""
    kept.call(b"PING\r\n", b"+PONG\r\n")
