"""What every command handler can reach besides its own session: the keyspace, the settings,
the other clients, the command registry and the counters. Built once per node by `node.py`.

Concurrency: one `Context` is shared by all connection greenlets on one OS thread; handlers
may block on gevent primitives (cluster I/O, blocking pops) but never on OS locks for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from respdyn.commands.notify import Notifier
from respdyn.keyspace.locks import KeyLocks
from respdyn.session import SessionRegistry

if TYPE_CHECKING:
    from respdyn.commands.registry import Registry
    from respdyn.config import ServerConfig
    from respdyn.keyspace.keyspace import Keyspace


@dataclass
class CommandStats:
    """INFO commandstats: per command (`get`, `client|list`) calls, time and failures."""

    calls: int = 0
    usec: int = 0
    rejected_calls: int = 0  #: refused before running (arity, auth)
    failed_calls: int = 0  #: ran and answered an error


@dataclass
class Stats:
    """INFO stats counters, with Redis' field names where Redis has them."""

    total_connections_received: int = 0
    total_commands_processed: int = 0
    rejected_connections: int = 0
    expired_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    total_error_replies: int = 0
    commands: dict[str, CommandStats] = field(default_factory=dict)

    def command(self, name: str) -> CommandStats:
        entry = self.commands.get(name)
        if entry is None:
            entry = self.commands[name] = CommandStats()
        return entry

    def reset(self) -> None:
        """CONFIG RESETSTAT."""
        fresh = Stats()
        for name in vars(fresh):
            setattr(self, name, getattr(fresh, name))


@dataclass
class Context:
    keyspace: Keyspace
    config: ServerConfig
    registry: Registry
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
    stats: Stats = field(default_factory=Stats)
    #: per-key locks held by write commands (read-modify-write atomicity on this node)
    keylocks: KeyLocks = field(default_factory=KeyLocks)
    #: node-local events: blocked pops, WATCH versions, pub/sub (cluster-aware in node.py)
    notifier: Notifier = field(default_factory=Notifier)
    started_at: float = field(default_factory=time.time)
    #: wall-clock seconds of the last successful SAVE/flush (LASTSAVE)
    last_save: int = field(default_factory=lambda: int(time.time()))
    #: stops the node (SHUTDOWN); set by node.py
    shutdown: Callable[[], None] = lambda: None
    #: extra INFO sections contributed by other layers (cluster, storage): name -> fields
    info_sections: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
