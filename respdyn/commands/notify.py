"""Node-local events between clients: "this key changed" (wakes blocked pops, dirties WATCH)
and "this message was published" (pub/sub), plus the subscription tables.

One `Notifier` per node, reached with `of(ctx)`. It is touched by every connection greenlet,
all on one OS thread (gevent), so it needs no lock. In a cluster, pushes and publishes made
here go out through `on_key_changed` / `on_publish`, and those made through other nodes arrive
through `remote_key_changed` / `deliver` (respdyn/cluster/broadcast.py, wired by node.py); a
blocked pop also re-checks every `poll_interval` seconds, for an event lost with a link.

Why the notifier holds WATCH versions: WATCH needs "was this key written since"; the keyspace's
writes are observed (`watch_writes`) so every write bumps a counter here, only for keys someone
watches: an unwatched write costs one dict-emptiness check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary, WeakSet

from gevent.event import Event

from respdyn.commands import glob
from respdyn.protocol.reply import Push

if TYPE_CHECKING:
    from respdyn.commands.context import Context
    from respdyn.keyspace.keyspace import Keyspace
    from respdyn.session import Session

KeyName = tuple[int, bytes]  #: (db, key)

#: session.extra key of a client's subscriptions (`Subscriptions`)
SUBSCRIPTIONS = "pubsub"


class Subscriptions:
    """One client's channels and patterns, in subscription order (Redis answers UNSUBSCRIBE
    without arguments in that order)."""

    __slots__ = ("channels", "patterns")

    def __init__(self) -> None:
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}

    def count(self) -> int:
        return len(self.channels) + len(self.patterns)

    def __len__(self) -> int:
        """Truthy while subscribed to anything (the listener exempts subscribers from the idle
        timeout)."""
        return self.count()


def subscriptions(session: Session) -> Subscriptions | None:
    return session.extra.get(SUBSCRIPTIONS)


class Notifier:
    def __init__(self, poll_interval: float | None = None) -> None:
        #: seconds between re-checks of a blocked pop (None: only local pushes wake it)
        self.poll_interval = poll_interval
        self._waiters: dict[KeyName, list[Event]] = {}
        #: write counters of watched keys: key -> (watching sessions, [version])
        self.watched: dict[KeyName, tuple[WeakSet[Session], list[int]]] = {}
        #: channel / pattern -> subscribed sessions, held weakly (a client that disconnects
        #: without unsubscribing disappears with its session)
        self.channels: dict[bytes, WeakKeyDictionary[Session, None]] = {}
        self.patterns: dict[bytes, WeakKeyDictionary[Session, None]] = {}
        self._matchers: dict[bytes, Callable[[bytes], bool]] = {}
        #: the cluster fan-out: called after a local push / publish (None on a single node)
        self.on_key_changed: Callable[[int, bytes], None] | None = None
        self.on_publish: Callable[[bytes, bytes], None] | None = None

    # --- keys: blocking pops --------------------------------------------------------------

    @contextmanager
    def waiting(self, db: int, keys: list[bytes]) -> Iterator[Event]:
        """An event set whenever one of `keys` changes, registered for the block's duration.
        Register BEFORE checking the keys, so a push between the check and the wait is seen."""
        event = Event()
        names = [(db, k) for k in dict.fromkeys(keys)]
        for name in names:
            self._waiters.setdefault(name, []).append(event)
        try:
            yield event
        finally:
            for name in names:
                events = self._waiters.get(name)
                if events is not None:
                    events.remove(event)
                    if not events:
                        del self._waiters[name]

    def key_changed(self, db: int, key: bytes) -> None:
        """A push landed on `key` through this node: wake local waiters and tell the cluster."""
        self.remote_key_changed(db, key)
        if self.on_key_changed is not None:
            self.on_key_changed(db, key)

    def remote_key_changed(self, db: int, key: bytes) -> None:
        """Wake the waiters of `key` in the order they blocked (Redis serves the longest
        waiting client first; each re-checks under the key's lock)."""
        for event in self._waiters.get((db, key), ()):
            event.set()

    def blocked(self) -> int:
        """How many clients wait in a blocking command (INFO's `blocked_clients`)."""
        return len({id(e) for events in self._waiters.values() for e in events})

    # --- keys: WATCH ----------------------------------------------------------------------

    def watch(self, session: Session, db: int, key: bytes) -> int:
        """Start counting writes to `key` for `session`; returns the current count. Watchers
        are held weakly: a client that disconnects without UNWATCH leaves nothing behind
        after the key's next write."""
        entry = self.watched.get((db, key))
        if entry is None:
            entry = self.watched[(db, key)] = (WeakSet(), [0])
        entry[0].add(session)
        return entry[1][0]

    def unwatch(self, session: Session, db: int, key: bytes) -> None:
        entry = self.watched.get((db, key))
        if entry is not None:
            entry[0].discard(session)
            if not entry[0]:
                del self.watched[(db, key)]

    def version(self, db: int, key: bytes) -> int:
        entry = self.watched.get((db, key))
        return -1 if entry is None else entry[1][0]

    def written(self, db: int, keys: list[bytes]) -> None:
        """`keys` were written (the keyspace's store calls this while any key is watched)."""
        for key in keys:
            entry = self.watched.get((db, key))
            if entry is not None:
                if entry[0]:
                    entry[1][0] += 1
                else:
                    del self.watched[(db, key)]

    # --- pub/sub ----------------------------------------------------------------------------

    def subscribe(self, session: Session, channel: bytes, pattern: bool) -> None:
        table = self.patterns if pattern else self.channels
        sessions = table.get(channel)
        if sessions is None:
            sessions = table[channel] = WeakKeyDictionary()
        sessions[session] = None
        if pattern and channel not in self._matchers:
            self._matchers[channel] = glob.matcher(channel)

    def unsubscribe(self, session: Session, channel: bytes, pattern: bool) -> None:
        table = self.patterns if pattern else self.channels
        sessions = table.get(channel)
        if sessions is not None:
            sessions.pop(session, None)
            if not sessions:
                del table[channel]
                if pattern:
                    self._matchers.pop(channel, None)

    def subscribers(self, channel: bytes, pattern: bool = False) -> list[Session]:
        """The live subscribers; sessions that closed or RESET are dropped here (lazily: the
        session layer does not call back on close)."""
        table = self.patterns if pattern else self.channels
        sessions = table.get(channel)
        if sessions is None:
            return []
        live = []
        for session in list(sessions):
            subs = subscriptions(session)
            mine = None if subs is None else (subs.patterns if pattern else subs.channels)
            if session.closed or mine is None or channel not in mine:
                sessions.pop(session, None)
            else:
                live.append(session)
        if not live:  # every subscriber left (or was collected)
            del table[channel]
            if pattern:
                self._matchers.pop(channel, None)
        return live

    def publish(self, channel: bytes, message: bytes) -> int:
        """PUBLISH on this node: deliver here, then hand it to the cluster fan-out."""
        receivers = self.deliver(channel, message)
        if self.on_publish is not None:
            self.on_publish(channel, message)
        return receivers

    def deliver(self, channel: bytes, message: bytes) -> int:
        """Push `message` to this node's subscribers of `channel` and of matching patterns;
        returns how many received it (PUBLISH's reply counts this node only, as in Redis
        Cluster)."""
        receivers = 0
        for session in self.subscribers(channel):
            receivers += _push(session, Push([b"message", channel, message]))
        for pattern in list(self.patterns):
            if self._matchers[pattern](channel):
                for session in self.subscribers(pattern, pattern=True):
                    receivers += _push(session, Push([b"pmessage", pattern, channel, message]))
        return receivers

    def active_channels(self) -> list[bytes]:
        return [c for c in list(self.channels) if self.subscribers(c)]

    def pattern_count(self) -> int:
        return sum(1 for p in list(self.patterns) if self.subscribers(p, pattern=True))


def _push(session: Session, value: Any) -> int:
    if session.on_push is None:
        return 0
    session.on_push(value)
    return 1


def watch_writes(keyspace: Keyspace, notifier: Notifier) -> None:
    """Let WATCH see every write that reaches the keyspace (its on_write/on_flush hooks): a
    watched key's counter moves on a real write (a SET of the same value too, a DEL of a
    missing key not: Redis' rule) and on a flush of its database if it exists (Redis 7.0)."""

    def written(db: int, key: bytes) -> None:
        if notifier.watched:
            notifier.written(db, [key])

    def flushing(dbs: list[int]) -> None:
        for db, key in [(db, key) for db, key in notifier.watched
                        if db in dbs and keyspace.exists(db, key)]:
            notifier.written(db, [key])

    keyspace.on_write = written
    keyspace.on_flush = flushing


def install(ctx: Context, notifier: Notifier) -> Notifier:
    """Give the node its notifier (node.build_context, before any dispatcher is built), and let
    it see the keyspace's writes for WATCH."""
    ctx.notifier = notifier
    watch_writes(ctx.keyspace, notifier)
    return notifier


def of(ctx: Context) -> Notifier:
    """The node's notifier (node.build_context installs it, cluster-aware)."""
    return ctx.notifier
