"""Per-client state, shared by the server (which owns the socket) and the commands (which read
and change the state), so that neither layer imports the other.

Concurrency: a `Session` is touched only by its own connection's greenlet, except `kill()`,
which another client's CLIENT KILL may call; `SessionRegistry` is touched by every connection
greenlet, all on one OS thread (gevent), so it needs no lock.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(eq=False)
class Session:
    """What Redis keeps per client (`client` struct): identity, protocol, database, auth."""

    id: int
    addr: str = ""  #: "ip:port" of the peer, as CLIENT LIST shows it
    laddr: str = ""  #: "ip:port" of the listening socket
    fd: int = -1
    name: bytes = b""
    lib_name: bytes = b""
    lib_ver: bytes = b""
    protocol: int = 2  #: 2 or 3; HELLO switches it, the encoder reads it for every reply
    db: int = 0
    authenticated: bool = True
    created: float = field(default_factory=time.monotonic)
    last_interaction: float = field(default_factory=time.monotonic)
    last_command: str = "NULL"
    close_after_reply: bool = False  #: QUIT and protocol errors: reply, then close
    closed: bool = False
    #: set by the server: closes the socket of this session from any greenlet (CLIENT KILL)
    on_kill: Callable[[], None] | None = None
    #: set by the server: sends an out-of-band reply value (pub/sub message) to this client
    on_push: Callable[[object], None] | None = None
    #: per-connection state that higher layers add (transactions, consistency, pub/sub)
    extra: dict = field(default_factory=dict)

    def kill(self) -> None:
        self.close_after_reply = True
        if self.on_kill is not None:
            self.on_kill()

    def touch(self, command: str) -> None:
        self.last_interaction = time.monotonic()
        self.last_command = command


class SessionRegistry:
    """The connected clients, for CLIENT LIST/KILL/ID, INFO clients and `maxclients`."""

    def __init__(self, maxclients: int = 10000) -> None:
        self.maxclients = maxclients
        self._ids = itertools.count(1)
        self._sessions: dict[int, Session] = {}

    def open(self, addr: str = "", laddr: str = "", fd: int = -1) -> Session:
        session = Session(id=next(self._ids), addr=addr, laddr=laddr, fd=fd)
        self._sessions[session.id] = session
        return session

    def close(self, session: Session) -> None:
        session.closed = True
        self._sessions.pop(session.id, None)

    def full(self) -> bool:
        return len(self._sessions) >= self.maxclients

    def get(self, client_id: int) -> Session | None:
        return self._sessions.get(client_id)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)
