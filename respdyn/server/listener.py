"""The TCP listener: accepts clients into a capped greenlet pool, one `Connection` each.

Subclasses gevent's StreamServer for its pool-capped spawning and clean `stop(timeout)`. The
pool is a little larger than `maxclients` so that a client over the limit still gets Redis'
`-ERR max number of clients reached` instead of waiting in the accept backlog.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer

from respdyn.errors import Denied, max_clients_reached
from respdyn.protocol.encoder import encode
from respdyn.server.connection import BeforeReply, Connection, Dispatch, ReplyBatcher
from respdyn.server.shutdown import Shutdown
from respdyn.session import Session, SessionRegistry

log = logging.getLogger(__name__)

_REFUSAL_SLOTS = 64  # greenlets kept for refusing clients over maxclients
_MAXCLIENTS_REPLY = encode(max_clients_reached(), 2)
_DENIED_REPLY = encode(Denied(), 2)
KiB, MiB, GiB = 1024, 1024 * 1024, 1024 * 1024 * 1024


@dataclass
class ServerSettings:
    """The network tunables (Redis' names where Redis has the setting)."""

    host: str = "127.0.0.1"
    port: int = 6379  #: 0 = any free port (tests); the bound one is `Listener.server_port`
    maxclients: int = 10000  #: over it: `-ERR max number of clients reached`, then close
    auth_required: bool = False  #: requirepass set: new sessions start unauthenticated
    #: no password + a client from outside the loopback interface: `-DENIED ...`, then close
    protected_mode: bool = True
    proto_max_bulk_len: int = 512 * MiB  #: a larger `$N` is a protocol error
    client_query_buffer_limit: int = 1 * GiB  #: unparsed input over it: close, no reply
    #: pending reply bytes after which we flush before running more commands (bytes)
    output_soft_limit: int = 256 * KiB
    #: pending bytes (pushes to a client that does not read) after which it is closed
    output_hard_limit: int = 32 * MiB
    #: a client that has not authenticated is closed when its unsent replies pass this (bytes;
    #: Redis 7.4.3's fix for CVE-2025-21605: 1 KB past its 16 KB static reply buffer)
    unauth_output_limit: int = 17 * KiB
    recv_size: int = 64 * KiB  #: bytes read per recv; every complete command in it runs
    tcp_keepalive: int = 300  #: seconds; 0 = off (Redis' default is 300)
    #: close clients waiting this many seconds for a command (0 = never), Redis' `timeout`;
    #: clients inside a command (blocked) and those `idle_exempt` accepts are kept
    idle_timeout: float = 0
    stop_timeout: float = 5.0  #: seconds busy connections get to finish on shutdown
    backlog: int = 511  #: Redis' tcp-backlog
    #: run requests in the event loop's callback where the dispatcher allows (connection.py):
    #: only for a node whose commands never wait for I/O (one node, fsync not always)
    inline_commands: bool = False


class Listener(StreamServer):
    """Accepts clients, registers their sessions, runs their connections until shutdown."""

    def __init__(
        self,
        dispatch: Dispatch,
        sessions: SessionRegistry,
        settings: ServerSettings,
        shutdown: Shutdown,
        idle_exempt: Callable[[Session], bool] | None = None,
        before_reply: BeforeReply | None = None,
    ) -> None:
        self.dispatch = dispatch
        self.sessions = sessions
        self.settings = settings
        self.shutdown = shutdown
        #: sessions the idle timeout never closes (Redis exempts pub/sub subscribers)
        self.idle_exempt = idle_exempt
        #: run by every connection before it sends replies (see connection.py)
        self.before_reply = before_reply
        #: sends every connection's replies once per loop iteration, after one before_reply
        self.batcher = ReplyBatcher(before_reply)
        self.connections: set[Connection] = set()
        self._sweeper: gevent.Greenlet | None = None
        pool = Pool(settings.maxclients + _REFUSAL_SLOTS)
        super().__init__((settings.host, settings.port), spawn=pool, backlog=settings.backlog)
        self.stop_timeout = settings.stop_timeout
        shutdown.link(self._on_shutdown)

    def handle(self, sock: Any, address: Any) -> None:
        """One client, in its own greenlet from the pool."""
        if self.sessions.full():  # the registry is authoritative (CONFIG SET maxclients)
            self._refuse(sock, _MAXCLIENTS_REPLY)
            return
        if self._denied(address):
            self._refuse(sock, _DENIED_REPLY)
            return
        self._tune(sock)
        session = self.sessions.open(
            addr=_fmt(address), laddr=_fmt(sock.getsockname()), fd=sock.fileno()
        )
        session.authenticated = not self.settings.auth_required
        conn = Connection(
            sock, session, self.dispatch, self.settings, self.shutdown, self.before_reply,
            self.batcher,
        )
        self.connections.add(conn)
        try:
            conn.run()
        finally:
            self.connections.discard(conn)
            self.sessions.close(session)

    def start(self) -> None:
        """Bind and accept (gevent's start), plus the idle-client sweeper."""
        super().start()
        if self._sweeper is None:
            self._sweeper = gevent.spawn(self._sweep_idle)

    def _sweep_idle(self) -> None:
        """Redis' clientsCron timeout check: drop clients idle past `idle_timeout`."""
        while not self.shutdown.wait(_sweep_interval(self.settings.idle_timeout)):
            timeout = self.settings.idle_timeout  # re-read: CONFIG SET timeout
            if timeout <= 0:
                continue
            now = time.monotonic()
            for conn in list(self.connections):
                if self._expired(conn, now - timeout):
                    log.debug("closing idle client %s", conn.session.addr)
                    conn.kill()

    def _expired(self, conn: Connection, cutoff: float) -> bool:
        if not conn.waiting_for_input or conn.last_read >= cutoff:
            return False
        return self.idle_exempt is None or not self.idle_exempt(conn.session)

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, wake every connection so it ends, then wait/kill (gevent's stop)."""
        if self._sweeper is not None:
            self._sweeper.kill(block=False)
        self.close()
        for conn in list(self.connections):
            conn.kill()
        super().stop(timeout)

    def _on_shutdown(self) -> None:
        gevent.spawn(self.stop, self.settings.stop_timeout)

    def _denied(self, address: Any) -> bool:
        """Redis' protected mode: only loopback clients while no password is set."""
        settings = self.settings
        if not settings.protected_mode or settings.auth_required:
            return False
        return not _is_loopback(address)

    def _refuse(self, sock: Any, reply: bytes) -> None:
        sock.settimeout(1.0)
        try:
            sock.sendall(reply)
        except OSError:
            pass
        finally:
            sock.close()

    def _tune(self, sock: Any) -> None:
        """TCP_NODELAY and keepalive, as Redis sets them on every client socket."""
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.settings.tcp_keepalive > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if hasattr(socket, "TCP_KEEPIDLE"):
                    idle = self.settings.tcp_keepalive
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        except OSError:
            pass


def _fmt(address: Any) -> str:
    """'ip:port' as CLIENT LIST shows it."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


def _is_loopback(address: Any) -> bool:
    """127.0.0.0/8, ::1 and ::ffff:127.x peers, and unix sockets, are local."""
    if not isinstance(address, tuple):
        return True  # AF_UNIX
    try:
        ip = ipaddress.ip_address(address[0].split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _sweep_interval(timeout: float) -> float:
    """Once a second, as Redis' cron; more often for sub-second timeouts (tests)."""
    return 1.0 if timeout <= 0 else min(1.0, max(0.02, timeout / 4))
