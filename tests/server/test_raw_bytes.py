"""Raw RESP bytes against a real Listener: pipelining, protocol switch, errors, kill, push."""

from __future__ import annotations

from typing import Any

import gevent
import gevent.socket
import pytest

from respdyn.server.connection import Connection
from tests.server.conftest import Server, frame, wait_until


def test_inline_and_multibulk_ping(server: Server) -> None:
    client = server.connect()
    client.call(b"PING\r\n", b"+PONG\r\n")
    client.call(frame(b"PING"), b"+PONG\r\n")
    client.call(frame(b"ECHO", b"a\r\nb"), b"$4\r\na\r\nb\r\n")


def test_pipelined_commands_are_answered_with_one_write(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[int] = []  # the replies go out through the batcher, or a flush of our own
    originals = {name: getattr(Connection, name) for name in ("_flush", "_send_deferred")}

    def spy(name: str) -> Any:
        def send(self: Connection) -> None:
            if self.out:
                flushes.append(len(self.out))
            originals[name](self)

        return send

    for name in originals:
        monkeypatch.setattr(Connection, name, spy(name))
    client = server.connect()
    request = b"".join(frame(b"ECHO", b"%d" % i) for i in range(100)) + b"PING\r\n"
    expected = b"".join(b"$%d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(100)) + b"+PONG\r\n"
    client.send(request)
    assert client.recv(1 << 20) == expected  # every reply in the first read
    assert flushes == [len(expected)]


def test_split_request_is_reassembled(server: Server) -> None:
    client = server.connect()
    data = frame(b"ECHO", b"hello") + frame(b"ECHO", b"x" * 100_000)
    for i in range(0, len(data), 7001):
        client.send(data[i : i + 7001])
    client.expect(b"$5\r\nhello\r\n$100000\r\n" + b"x" * 100_000 + b"\r\n")


def test_empty_requests_are_ignored_and_the_connection_stays(server: Server) -> None:
    client = server.connect()
    client.call(b"*0\r\n*-1\r\n\r\n   \r\nPING\r\n", b"+PONG\r\n")


def test_hello_switches_protocol_for_its_own_reply_and_the_next(server: Server) -> None:
    client = server.connect()
    client.send(frame(b"NULL") + frame(b"HELLO", b"3") + frame(b"NULL") + frame(b"HELLO", b"2"))
    client.expect(b"$-1\r\n")
    client.expect(b"%2\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n")
    client.expect(b"_\r\n")
    client.expect(b"*4\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:1\r\n")


def test_protocol_error_replies_then_closes(server: Server) -> None:
    client = server.connect()
    client.send(frame(b"PING") + b"*1\r\n+PING\r\n" + frame(b"ECHO", b"never"))
    assert client.read_to_eof() == b"+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n"
    wait_until(lambda: len(server.registry) == 0)


@pytest.mark.parametrize(
    ("request_bytes", "error"),
    [
        (b"*1\r\n$-1\r\n", b"invalid bulk length"),
        (b"*+1\r\n", b"invalid multibulk length"),
        (b"*2147483648\r\n", b"invalid multibulk length"),
        (b'ECHO "x\r\n', b"unbalanced quotes in request"),
        (b"*1\r\n$536870913\r\n", b"invalid bulk length"),
    ],
)
def test_protocol_error_texts(server: Server, request_bytes: bytes, error: bytes) -> None:
    client = server.connect()
    client.send(request_bytes)
    assert client.read_to_eof() == b"-ERR Protocol error: " + error + b"\r\n"


@pytest.mark.parametrize("probe", [b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", b"Host: redis\r\n"])
def test_http_probe_closes_without_reply(server: Server, probe: bytes) -> None:
    client = server.connect()
    client.send(probe)
    assert client.read_to_eof() == b""


def test_quit_replies_then_closes_and_skips_the_rest(server: Server) -> None:
    client = server.connect()
    client.send(frame(b"QUIT") + frame(b"ECHO", b"not run"))
    assert client.read_to_eof() == b"+OK\r\n"
    assert [b"ECHO", b"not run"] not in server.app.calls


def test_handler_exception_is_an_internal_error_and_the_connection_stays(server: Server) -> None:
    client = server.connect()
    client.send(frame(b"FAIL") + frame(b"BADREPLY") + frame(b"RAISE") + frame(b"PING"))
    client.expect(b"-ERR internal error\r\n" * 2 + b"-ERR raised, not returned\r\n+PONG\r\n")


def test_client_eof_mid_request_closes_the_session(server: Server) -> None:
    client = server.connect()
    client.call(b"PING\r\n", b"+PONG\r\n")
    client.send(b"*2\r\n$4\r\nECHO\r\n$100\r\nabc")
    client.close()
    wait_until(lambda: len(server.registry) == 0)


def test_sessions_are_registered_with_their_addresses(server: Server) -> None:
    client = server.connect()
    client.call(frame(b"ID"), b":1\r\n")
    (session,) = list(server.registry)
    local = client.sock.getsockname()
    assert session.addr == f"{local[0]}:{local[1]}"
    assert session.laddr == f"127.0.0.1:{server.port}"
    assert session.authenticated


def test_kill_from_another_client_drops_an_idle_client(server: Server) -> None:
    victim, killer = server.connect(), server.connect()
    victim_id = victim.client_id()
    killer.call(frame(b"KILL", b"%d" % victim_id), b"+OK\r\n")
    assert victim.read_to_eof() == b""
    killer.call(b"PING\r\n", b"+PONG\r\n")
    wait_until(lambda: len(server.registry) == 1)


def test_kill_of_a_client_blocked_in_a_command_sends_it_nothing(server: Server) -> None:
    victim, killer = server.connect(), server.connect()
    victim_id = victim.client_id()
    victim.send(frame(b"WAIT", b"e"))
    server.app.entered_event(b"e").wait(5)
    killer.call(frame(b"KILL", b"%d" % victim_id), b"+OK\r\n")
    server.app.event(b"e").set()  # the command returns after the kill: its reply is dropped
    assert victim.read_to_eof() == b""


def test_self_kill_replies_then_closes(server: Server) -> None:
    client = server.connect()
    client_id = client.client_id()
    client.send(frame(b"KILL", b"%d" % client_id) + frame(b"PING"))
    assert client.read_to_eof() == b"+OK\r\n"


def test_blocked_client_does_not_block_others(server: Server) -> None:
    blocked, other = server.connect(), server.connect()
    blocked.send(frame(b"WAIT", b"e"))
    server.app.entered_event(b"e").wait(5)
    other.call(b"PING\r\n", b"+PONG\r\n")
    server.app.event(b"e").set()
    blocked.expect(b"+OK\r\n")


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        (b"2", b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
        (b"3", b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
    ],
)
def test_push_reaches_an_idle_client(server: Server, protocol: bytes, expected: bytes) -> None:
    subscriber, publisher = server.connect(), server.connect()
    sub_id = subscriber.client_id()
    subscriber.send(frame(b"HELLO", protocol))
    subscriber.read(len(b"*4\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:1\r\n"))
    publisher.call(frame(b"PUBLISH", b"%d" % sub_id, b"hi"), b":1\r\n")
    subscriber.expect(expected)
    subscriber.call(b"PING\r\n", b"+PONG\r\n")  # the stream stays in step


def test_push_to_self_comes_before_the_reply(server: Server) -> None:
    client = server.connect()
    client_id = client.client_id()
    client.send(frame(b"PUBLISH", b"%d" % client_id, b"me"))
    client.expect(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nme\r\n:1\r\n")


def test_shutdown_closes_clients_and_the_listener(server: Server) -> None:
    idle = server.connect()
    idle.call(b"PING\r\n", b"+PONG\r\n")
    server.shutdown.trigger()
    assert idle.read_to_eof() == b""
    wait_until(lambda: len(server.registry) == 0 and len(server.listener.pool) == 0)
    with pytest.raises(OSError):
        server.connect()


def test_many_clients_interleaved(server: Server) -> None:
    clients = [server.connect() for _ in range(20)]

    def talk(i: int, client: Any) -> None:
        for j in range(50):
            value = b"%d-%d" % (i, j)
            client.call(frame(b"ECHO", value), b"$%d\r\n%b\r\n" % (len(value), value))

    jobs = [gevent.spawn(talk, i, c) for i, c in enumerate(clients)]
    gevent.joinall(jobs, timeout=10, raise_error=True)
    assert all(job.successful() for job in jobs)


SAME_AS_REDIS = [
    b"*1\r\n+PING\r\n",
    b"*1\r\n:1\r\n",
    b"*1\r\n*1\r\n$1\r\na\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$04\r\nPING\r\n",
    b"*1\r\n$536870913\r\n",
    b"*+1\r\n",
    b"*01\r\n",
    b"*-0\r\n",
    b"*2147483648\r\n",
    b"*9223372036854775808\r\n",
    b'ECHO "a\r\n',
    b'ECHO "a"b\r\n',
    b"POST / HTTP/1.1\r\n",
    b"*1\r\n$4\r\npost\r\n",
    b"PING\r\nPOST / HTTP/1.1\r\n",  # earlier replies are dropped too
    frame(b"PING") + frame(b"host:", b"x"),
    b"x" * 70000,
    b"*1\r\n" + b"1" * 70000,
    b"*" + b"1" * 70000,
    b"*0\r\n*-5\r\nPING\r\n\r\nQUIT\r\n",
    b"*1\rx$4\r\nPING\r\nQUIT\r\n",
    b"*1\r\n$4\r\nPINGxxQUIT\r\n",
    b'ECHO "\\x41\\n\\q"\r\nQUIT\r\n',
    b"ECHO \x0ba\x0bb\r\nQUIT\r\n",
    frame(b"PING") * 3 + b"*1\r\n+X\r\n",
]


def _exchange(port: int, data: bytes) -> bytes:
    with gevent.socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        out = bytearray()
        try:
            while chunk := sock.recv(1 << 16):
                out += chunk
        except ConnectionResetError:
            out += b"<reset>"
        return bytes(out)


@pytest.mark.parametrize("data", SAME_AS_REDIS, ids=lambda d: repr(d[:24]))
def test_same_bytes_as_redis_server(server: Server, redis_port: int, data: bytes) -> None:
    """Differential: the real redis-server and respdyn answer (and close) identically."""
    assert _exchange(server.port, data) == _exchange(redis_port, data)


def test_replies_are_sent_before_closing_on_the_clients_eof(make_server: Any) -> None:
    """A client that sends a long pipeline and half-closes gets every reply: the replies of
    the last reads wait for the batcher when the EOF is read in the same loop iteration."""
    import socket

    server = make_server(recv_size=1024)
    client = server.connect()
    request = b"".join(frame(b"ECHO", b"%011d" % i) for i in range(256))
    assert len(request) == 8 * 1024  # the last read fills the buffer: EOF is read at once
    client.send(request)
    client.sock.shutdown(socket.SHUT_WR)
    expected = b"".join(b"$11\r\n%011d\r\n" % i for i in range(256))
    assert client.read_to_eof() == expected


# --- requests run in the event loop's callback (connection.py, "Running commands in the loop") -


def test_inline_requests_run_in_the_loop_and_the_rest_in_the_greenlet(make_server: Any) -> None:
    server = make_server(inline_commands=True)
    client = server.connect()
    client.call(frame(b"PING"), b"+PONG\r\n")
    hub = gevent.get_hub()
    assert server.app.inline_calls == [(b"PING", hub)]  # no greenlet switch for it
    # a request the dispatcher refuses inline (WAIT blocks) goes to the greenlet, and so does
    # the rest of that read; the order of the replies is kept
    server.app.event(b"e").set()
    client.send(frame(b"ECHO", b"1") + frame(b"WAIT", b"e") + frame(b"ECHO", b"2"))
    client.expect(b"$1\r\n1\r\n+OK\r\n$1\r\n2\r\n")
    assert [name for name, _ in server.app.inline_calls] == [b"PING", b"ECHO"]
    client.call(frame(b"ECHO", b"3"), b"$1\r\n3\r\n")  # parked again: back in the loop
    assert server.app.inline_calls[-1] == (b"ECHO", hub)


def test_inline_requests_are_off_unless_the_node_allows_them(make_server: Any) -> None:
    server = make_server(inline_commands=False)
    client = server.connect()
    client.call(frame(b"PING"), b"+PONG\r\n")
    assert server.app.calls == [[b"PING"]]
    assert getattr(server.app, "inline_calls", []) == []


def test_inline_output_over_the_soft_limit_is_flushed_by_the_greenlet(make_server: Any) -> None:
    """The loop never waits for a slow reader: past the soft limit it hands the connection
    back, and the greenlet's flush waits for the socket while the others are served."""
    server = make_server(inline_commands=True, output_soft_limit=64 * 1024)
    slow, other = server.connect(), server.connect()
    count = 40
    slow.send(b"".join(frame(b"BIG", b"100000") for _ in range(count)))
    other.call(frame(b"PING"), b"+PONG\r\n")  # served while `slow` reads nothing
    reply = b"$100000\r\n" + b"x" * 100_000 + b"\r\n"
    slow.expect(reply * count)
    slow.call(frame(b"PING"), b"+PONG\r\n")


def test_inline_auth_change_applies_to_the_next_request(make_server: Any) -> None:
    server = make_server(inline_commands=True, auth_required=True)
    client = server.connect()
    client.send(frame(b"AUTH", b"secret") + frame(b"ECHO", b"x" * 30_000))
    # unauthenticated clients may not hold 17 KB of replies: the ECHO after AUTH may
    client.expect(b"+OK\r\n$30000\r\n" + b"x" * 30_000 + b"\r\n")
