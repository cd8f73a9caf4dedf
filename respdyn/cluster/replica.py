"""This node's replica: the versions of the keys it holds, as DVVSet clocks in the local engine.

The pure steps (`coordinate_step`, `merge_step`) say what a replica stores; `Replica` runs them
against the storage engine. Sources: Riak KV's vnode put path (the "coordinating vnode" issues the
dot, then the other replicas merge the result) over dotted version vector sets (`dvv`).

Who issues dots. A node's counter for a key must never repeat, so the dot of a write is issued
by a replica that reads its stored clock and stores the result before anyone else sees it
(`Replica.coordinate`): a blind write (context None) takes the context of everything this
replica holds, so it supersedes exactly that; a RESOLVE or read-modify-write passes the context
its client read, so versions written since survive as siblings. The other replicas `merge` the
new clock with theirs (`dvv.sync`: commutative, idempotent, so order and retries do not matter).

Storage: the encoded clock (`dvv.encode`, magic 0xD1) under the keyspace's own raw key, so the
layout (db, slot, key) and its ranges hold for replicated data too. A clock holding a live value
is never deleted (a forgotten clock would restart this node's counter at 1 and lose writes);
only a tombstone past its grace period goes, by the rule below, which every replica applies.

Tombstones. A deletion is a clock whose values are all tombstones; it must outlive every
replica's copy of the deleted value, or that copy would come back. After `grace_ms` (config
`--tombstone-grace-ms`, default 10 days as Cassandra's gc_grace_seconds) a tombstone-only clock
is treated as *no version* everywhere: reads skip it, a merge ignores it (incoming) or starts
from nothing (stored), and the compaction filter (`replicated.keep_live_clocks`) drops it from
the bottom level. Every node decides from the tombstone's own timestamp, so they agree whatever
their compaction timing, and a key written again after the grace starts a fresh history (its
coordinator's counter restarts at 1, which replicas still holding the old tombstone accept,
since they ignore it too). The rule this needs (as Cassandra's): a replica that was down for
longer than the grace period must be repaired or wiped before it serves, since its old values
have no tombstone left to lose against. Hints (3 h) and anti-entropy (every few seconds per
partition pair) bring deletions to live replicas well within it.

Concurrency: every step is read, compute, write. With the engine called directly nothing
yields between the read and the write (one OS thread, gevent), so steps on one key cannot
interleave; when engine calls are offloaded to threads (fsync=always) a per-key gevent lock
serializes them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from gevent.lock import Semaphore

from respdyn.clock import now_ms
from respdyn.cluster import dvv
from storage import WriteBatch

SIBLINGS, LWW = "siblings", "lww"
POLICIES = (SIBLINGS, LWW)


# ---- pure steps -------------------------------------------------------------------------------


def coordinate_step(
    local: dvv.Clock | None,
    value: dvv.Sibling,
    context: dvv.Context | None,
    node_id: str,
    policy: str = SIBLINGS,
    members: Collection[str] = (),
) -> dvv.Clock:
    """The clock the coordinating replica stores for a new write of `value`.

    `context` None (a blind write) means "everything I hold": the write supersedes every version
    this replica knows. A client's context supersedes only what it covers; a stale context is
    fine (it covers less, so more survives).
    """
    if context is None:
        context = dvv.join(local) if local is not None else ()
    clock = dvv.update(dvv.new([value], context), local, node_id)
    if members:
        clock = dvv.prune(clock, members)
    return dvv.lww(clock) if policy == LWW else clock


def merge_step(
    local: dvv.Clock | None, incoming: dvv.Clock, policy: str = SIBLINGS
) -> dvv.Clock:
    """What a replica stores on receiving `incoming` (a write's result or a read repair)."""
    merged = incoming if local is None else dvv.sync(local, incoming)
    return dvv.lww(merged) if policy == LWW and dvv.size(merged) > 1 else merged


# ---- the service ------------------------------------------------------------------------------


class Written:
    """What `Replica.coordinate` stored: the encoded clock, the `dvv.digest` of the version it
    replaced (None: replicas must merge it the general way, see `Replica.merge`), and the
    clock itself, decoded only if asked for (the fast path never builds it)."""

    __slots__ = ("_clock", "base", "encoded")

    def __init__(self, encoded: bytes, base: bytes | None, clock: dvv.Clock | None = None) -> None:
        self.encoded = encoded
        self.base = base
        self._clock = clock

    @property
    def clock(self) -> dvv.Clock:
        if self._clock is None:
            self._clock = dvv.decode(self.encoded)
        return self._clock


def _direct(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class Replica:
    """This node's copy of the keys it replicates, over the storage engine."""

    def __init__(
        self,
        engine: Any,
        node_id: str,
        policy: str = SIBLINGS,
        members: Callable[[], Collection[str]] = tuple,
        offload: Callable[..., Any] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"conflict policy must be one of {POLICIES}")
        self.engine = engine
        self.node_id = node_id
        self.policy = policy
        self.members = members
        self.offload = offload or _direct
        self.offloaded = offload is not None  #: engine calls may yield: lock per key
        self._locks: dict[bytes, list[Any]] = {}  # key -> [semaphore, users]
        self.stored_with_siblings = 0  #: writes/merges that left more than one value
        #: this node's data may be missing dots it issued before (a wiped data directory):
        #: the coordinator then reads the other replicas' clocks of a key it does not hold
        #: before issuing a dot for it (see `Coordinator._catch_up`)
        self.recovering = False
        #: ms after which a tombstone-only clock counts as no version (None: never)
        self.grace_ms: int | None = None
        #: called as (raw_key, old encoded clock or None, new encoded clock) after every store:
        #: the Merkle trees of anti-entropy follow the data this way, without rescanning it
        self.observers: list[Callable[[bytes, bytes | None, bytes], None]] = []
        #: called with (start, end) after a range was deleted (FLUSHDB, a partition handed off)
        self.range_observers: list[Callable[[bytes, bytes], None]] = []

    # -- reads ---------------------------------------------------------------------------------

    def read_raw(self, raw_key: bytes) -> bytes | None:
        """The encoded clock as stored (a remote GET sends it on without decoding)."""
        return self.engine.get(raw_key)

    def read(self, raw_key: bytes) -> dvv.Clock | None:
        data = self.engine.get(raw_key)
        return None if data is None else self.live(dvv.decode(data))

    def live(self, clock: dvv.Clock | None) -> dvv.Clock | None:
        """`clock`, or None if it is a tombstone past its grace period."""
        if clock is None or self.grace_ms is None:
            return clock
        if dvv.expired_tombstone(clock, now_ms() - self.grace_ms):
            return None
        return clock

    def scan(self, start: bytes, end: bytes, limit: int) -> tuple[bytes | None, list[tuple]]:
        """Up to `limit` (raw key, encoded clock) in [start, end) and where to continue."""
        items: list[tuple[bytes, bytes]] = []
        for key, value in self.engine.scan(start=start, end=end):
            if len(items) >= limit:
                return key, items
            items.append((key, value))
        return None, items

    # -- writes --------------------------------------------------------------------------------

    def coordinate(
        self, raw_key: bytes, value: dvv.Sibling, context: dvv.Context | None
    ) -> Written:
        """Issue this node's dot for a new write, store it; what was written (`Written`)."""
        if self.offloaded:
            with self._key_lock(raw_key):
                return self._coordinate(raw_key, value, context)
        return self._coordinate(raw_key, value, context)  # nothing yields: no lock to take

    def _coordinate(
        self, raw_key: bytes, value: dvv.Sibling, context: dvv.Context | None
    ) -> Written:
        stored = self.engine.get(raw_key, fill_cache=False)  # about to be overwritten
        if context is None:
            encoded = dvv.blind_update_raw(stored, value, self.node_id)
            if encoded is not None:  # a plain value over a plain clock: no decoding
                self._put(raw_key, encoded)
                for observer in self.observers:
                    observer(raw_key, stored, encoded)
                return Written(encoded, dvv.digest(stored))
        local = None if stored is None else self.live(dvv.decode(stored))
        clock = coordinate_step(local, value, context, self.node_id, self.policy, self.members())
        encoded = self._store(raw_key, clock, stored)
        # The new dot must survive a process crash before any peer or client learns of it: a
        # restarted node that forgot it would issue it again for another value, and the peers
        # would keep the old one under it (found by the fault harness, kill-restart). Peers and
        # clients learn of it only through the transport's and the listener's writers, which
        # write the WAL out before each batch they send (Transport.before_send, before_reply).
        # A base is named only for a value written over a version this node still counts
        # (not over a purged tombstone, which a replica with another clock might not purge).
        plain = value.value is not None and (stored is None or local is not None)
        return Written(encoded, dvv.digest(stored) if plain else None, clock)

    def merge(
        self, raw_key: bytes, incoming: bytes | dvv.Clock, base: bytes | None = None
    ) -> bool:
        """Merge a clock another replica sent (encoded or not); False if nothing changed.

        `base`: the `dvv.digest` of the version the coordinator wrote `incoming` over. When we
        hold exactly that version, `incoming` descends it and is what merging would produce,
        so it is stored as sent (the common case of every replicated write: no decoding)."""
        if self.offloaded:
            with self._key_lock(raw_key):
                return self._merge(raw_key, incoming, base)
        return self._merge(raw_key, incoming, base)  # nothing yields: no lock to take

    def _merge(self, raw_key: bytes, incoming: bytes | dvv.Clock, base: bytes | None) -> bool:
        stored = self.engine.get(raw_key, fill_cache=False)  # about to be overwritten
        encoded = self._merged(stored, incoming, base)
        if encoded is None:
            return False
        self._put(raw_key, encoded)
        for observer in self.observers:
            observer(raw_key, stored, encoded)
        return True

    def merge_many(self, items: Iterable[tuple[bytes, bytes, bytes | None]]) -> None:
        """`merge` each (raw_key, encoded clock, base) of a multi-key STORE, written to the
        engine as ONE batch (one WAL record and one pass under the engine's lock: ~1.6 us a
        key instead of ~4 for a put each). All or nothing: a clock that does not decode raises
        before anything is written. A key met twice merges into what the first one made."""
        if self.offloaded:  # engine calls yield: each key under its lock, one at a time
            for raw_key, incoming, base in items:
                self.merge(raw_key, incoming, base)
            return
        get = self.engine.get
        made: dict[bytes, bytes] = {}
        changes: list[tuple[bytes, bytes | None, bytes]] = []
        for raw_key, incoming, base in items:
            stored = made[raw_key] if raw_key in made else get(raw_key, fill_cache=False)
            encoded = self._merged(stored, incoming, base)
            if encoded is not None:
                made[raw_key] = encoded
                changes.append((raw_key, stored, encoded))
        if not changes:
            return
        if len(changes) == 1:
            self.engine.put(changes[0][0], changes[0][2])
        else:
            batch = WriteBatch()
            for raw_key, _, encoded in changes:
                batch.put(raw_key, encoded)
            self.engine.write(batch)
        for raw_key, stored, encoded in changes:
            for observer in self.observers:
                observer(raw_key, stored, encoded)

    def _merged(
        self, stored: bytes | None, incoming: bytes | dvv.Clock, base: bytes | None
    ) -> bytes | None:
        """What to store over `stored` on receiving `incoming`: the encoded clock, or None
        when nothing changes. See `merge` for `base`."""
        if isinstance(incoming, bytes):
            if stored == incoming:
                return None  # we already hold exactly this (a retry, a repair)
            if (stored is None and self.policy == SIBLINGS) or (
                base is not None and base == dvv.digest(stored)
            ):
                return incoming  # as is
            incoming = dvv.decode(incoming)
        local = None if stored is None else self.live(dvv.decode(stored))
        if local is not None and self.live(incoming) is None:
            return None  # a purged deletion must not hide what was written since
        merged = merge_step(local, incoming, self.policy)
        if merged == local:
            return None
        if dvv.size(merged) > 1:
            self.stored_with_siblings += 1
        return dvv.encode(merged)

    def delete_range(self, start: bytes, end: bytes) -> None:
        self.offload(self.engine.delete_range, start, end)
        for observer in self.range_observers:
            observer(start, end)

    def _store(self, raw_key: bytes, clock: dvv.Clock, old: bytes | None) -> bytes:
        if dvv.size(clock) > 1:
            self.stored_with_siblings += 1
        encoded = dvv.encode(clock)
        self._put(raw_key, encoded)
        self._observe(raw_key, old, encoded)
        return encoded

    def _put(self, raw_key: bytes, encoded: bytes) -> None:
        if self.offloaded:
            self.offload(self.engine.put, raw_key, encoded)
        else:
            self.engine.put(raw_key, encoded)

    def _observe(self, raw_key: bytes, old: bytes | None, new: bytes) -> None:
        for observer in self.observers:
            observer(raw_key, old, new)

    @contextmanager
    def _key_lock(self, raw_key: bytes) -> Iterator[None]:
        """The key's lock, taken only when engine calls may yield (offloaded to threads):
        otherwise nothing runs between a step's read and its write (a generator-based
        context manager per write cost ~1 us, every replicated write would pay it)."""
        entry = self._locks.get(raw_key)
        if entry is None:
            entry = self._locks[raw_key] = [Semaphore(), 0]
        entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[raw_key]
