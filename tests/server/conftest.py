"""A real Listener on 127.0.0.1:0 inside the test process, driven by a tiny test dispatcher.

The command layer is someone else's; these tests only need a handful of commands to exercise
the wire: PING/ECHO, a HELLO-like protocol switch, QUIT, AUTH, a big reply, a command that
blocks on a gevent Event, CLIENT-KILL-like and PUBLISH-like commands, and two handler bugs.
Clients are gevent sockets (the server runs in this process's hub) with a timeout on each.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
import pytest
from gevent.event import Event

from respdyn.errors import ReplyError
from respdyn.protocol.reply import OK, PONG, Map, Push
from respdyn.server import Listener, ServerSettings, Shutdown
from respdyn.session import Session, SessionRegistry

TIMEOUT = 5.0


@dataclass
class App:
    """The test dispatcher: `dispatch(session, args)` as the listener calls it."""

    registry: SessionRegistry
    events: dict[bytes, Event] = field(default_factory=dict)
    entered: dict[bytes, Event] = field(default_factory=dict)
    calls: list[list[bytes]] = field(default_factory=list)

    def event(self, name: bytes) -> Event:
        return self.events.setdefault(name, Event())

    def entered_event(self, name: bytes) -> Event:
        return self.entered.setdefault(name, Event())

    def __call__(self, session: Session, args: list[bytes]) -> Any:
        self.calls.append(args)
        name = args[0].upper()
        handler = getattr(self, "cmd_" + name.decode("ascii", "replace").lower(), None)
        if handler is None:
            return ReplyError(f"unknown command '{args[0].decode('latin-1')}'")
        return handler(session, *args[1:])

    def cmd_ping(self, session: Session) -> Any:
        return PONG

    def cmd_echo(self, session: Session, value: bytes) -> Any:
        return value

    def cmd_hello(self, session: Session, proto: bytes = b"2") -> Any:
        session.protocol = int(proto)
        return Map({b"proto": session.protocol, b"id": session.id})

    def cmd_argc(self, session: Session, *args: bytes) -> Any:
        return len(args)

    def cmd_null(self, session: Session) -> Any:
        return None

    def cmd_quit(self, session: Session) -> Any:
        session.close_after_reply = True
        return OK

    def cmd_auth(self, session: Session, password: bytes) -> Any:
        session.authenticated = password == b"secret"
        return OK if session.authenticated else ReplyError("bad password")

    def cmd_big(self, session: Session, size: bytes) -> Any:
        return b"x" * int(size)

    def cmd_wait(self, session: Session, name: bytes) -> Any:
        """Blocks this client's greenlet until the test sets the event (like BLPOP)."""
        self.entered_event(name).set()
        self.event(name).wait(TIMEOUT)
        return OK

    def cmd_id(self, session: Session) -> Any:
        return session.id

    def cmd_kill(self, session: Session, client_id: bytes) -> Any:
        target = self.registry.get(int(client_id))
        if target is None:
            return ReplyError("No such client")
        target.kill()
        return OK

    def cmd_publish(self, session: Session, client_id: bytes, message: bytes) -> Any:
        target = self.registry.get(int(client_id))
        if target is None or target.on_push is None:
            return 0
        target.on_push(Push([b"message", b"ch", message]))
        return 1

    def cmd_fail(self, session: Session) -> Any:
        raise RuntimeError("handler bug")

    def cmd_raise(self, session: Session) -> Any:
        raise ReplyError("raised, not returned")

    def cmd_badreply(self, session: Session) -> Any:
        return "a str is not a reply"


class InlineApp(App):
    """The test dispatcher with `inline`, as the real one has on a single node: the listener
    then runs requests in the event loop's callback (see respdyn/server/connection.py).
    WAIT blocks and KILL may kill its own client, so they run in the client's greenlet."""

    GREENLET_ONLY = frozenset({b"WAIT", b"KILL"})

    def __init__(self, registry: SessionRegistry) -> None:
        super().__init__(registry)
        self.inline_calls: list[tuple[bytes, Any]] = []  #: (name, greenlet it ran in)

    def inline(self, session: Session, args: list[bytes]) -> Any:
        if args[0].upper() in self.GREENLET_ONLY:
            return NotImplemented
        self.inline_calls.append((args[0].upper(), gevent.getcurrent()))
        return self(session, args)


class Client:
    """A raw-bytes client: gevent socket, timeout on every operation."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = gevent.socket.create_connection((host, port), timeout=TIMEOUT)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, size: int = 1 << 20) -> bytes:
        return self.sock.recv(size)

    def read(self, n: int) -> bytes:
        """Exactly n bytes (fails on EOF or timeout)."""
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, f"EOF after {bytes(buf)!r}"
            buf += chunk
        return bytes(buf)

    def expect(self, data: bytes) -> None:
        assert self.read(len(data)) == data

    def call(self, request: bytes, reply: bytes) -> None:
        self.send(request)
        self.expect(reply)

    def client_id(self) -> int:
        """The server-side session id (a round trip: the session is registered by then)."""
        self.send(b"ID\r\n")
        line = self.sock.recv(64)
        assert line.startswith(b":") and line.endswith(b"\r\n"), line
        return int(line[1:-2])

    def read_to_eof(self) -> bytes:
        """Everything until the server closes (fails on timeout: it must close)."""
        buf = bytearray()
        while chunk := self.sock.recv(1 << 16):
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        self.sock.close()


@dataclass
class Server:
    listener: Listener
    registry: SessionRegistry
    shutdown: Shutdown
    app: App
    clients: list[Client] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.listener.server_port

    def connect(self, host: str = "127.0.0.1") -> Client:
        client = Client(self.port, host)
        self.clients.append(client)
        return client

    def connection(self, session_id: int) -> Any:
        """The server-side Connection of a session id."""
        for conn in self.listener.connections:
            if conn.session.id == session_id:
                return conn
        raise LookupError(session_id)


def wait_until(predicate: Any, timeout: float = TIMEOUT) -> None:
    """Poll a server-side condition that has no event of its own (yields to the hub)."""
    with gevent.Timeout(timeout, AssertionError("condition not reached")):
        while not predicate():
            gevent.sleep(0.005)


def frame(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


@pytest.fixture(params=[False, True], ids=["greenlet", "inline"])
def inline_mode(request: pytest.FixtureRequest) -> bool:
    """Every server test runs both ways: requests run in the client's greenlet, and (as on a
    single node) in the event loop's callback wherever the dispatcher allows."""
    return bool(request.param)


@pytest.fixture
def make_server(inline_mode: bool) -> Iterator[Any]:
    """`make_server(**settings)` starts a listener; every one is stopped and checked after."""
    servers: list[Server] = []

    def start(**overrides: Any) -> Server:
        settings = ServerSettings(
            **{"host": "127.0.0.1", "port": 0, "stop_timeout": 2.0,
               "inline_commands": inline_mode, **overrides}
        )
        registry = SessionRegistry(maxclients=settings.maxclients)
        app = InlineApp(registry) if settings.inline_commands else App(registry)
        shutdown = Shutdown()
        listener = Listener(app, registry, settings, shutdown)
        listener.start()
        server = Server(listener, registry, shutdown, app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        for client in server.clients:
            client.close()
        for event in server.app.events.values():
            event.set()
        server.listener.stop(timeout=2.0)
        assert len(server.listener.pool) == 0, "connection greenlets left behind"
        assert len(server.registry) == 0, "sessions left registered"
        assert not server.listener.connections


@pytest.fixture
def server(make_server: Any) -> Server:
    return make_server()


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real redis-server (Debian's 7.0) for differential tests; killed at module end."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir: Path = tmp_path_factory.mktemp("redis")
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    cmd += ["no", "--daemonize", "no", "--dir", str(workdir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:  # no readiness event to wait on: poll the port, bounded
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield port
    finally:
        proc.kill()
        proc.wait(10)
