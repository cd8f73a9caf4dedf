"""Redis' keyspace semantics (databases, types, expiry, SCAN cursors) over a `VersionedStore`.

Commands call this layer and never see storage keys, records or siblings (except the
SIBLINGS/RESOLVE commands, which ask for them explicitly). Expired values are invisible here
(the lazy check); the active expiry cycle and the compaction filter reclaim their space.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from respdyn import errors
from respdyn.clock import now_ms  # skewable by tests (--debug-clock-skew-file)
from respdyn.keyspace import layout
from respdyn.keyspace.record import Kind, Record, Sibling
from respdyn.keyspace.store import VersionedStore

SLOTS = 16384


@dataclass(slots=True)
class Entry:
    """A live value as a command sees it, with the context to write it back."""

    kind: int
    payload: bytes
    expire_at: int  #: unix ms, 0 = persistent
    context: bytes | None

    def ttl_ms(self, now: int) -> int:
        return -1 if self.expire_at == 0 else max(0, self.expire_at - now)


#: merge(payloads of concurrent siblings of one kind) -> one payload; see `Keyspace.mergers`
Merge = Callable[[list[bytes]], bytes]


@dataclass(frozen=True, slots=True)
class Removal:
    """How a mergeable kind is deleted as an observed remove."""

    clear: Callable[[bytes], bytes]  #: the state with every observed element removed
    is_empty: Callable[[bytes], bool]  #: no element left


_UNMERGED = object()  # resolve by the winner rule instead


def merge_expiry(siblings: list[Sibling]) -> int:
    """Concurrent TTLs: PERSIST (0) wins, else the longest (docs/datatypes.md)."""
    return 0 if any(s.expire_at == 0 for s in siblings) else max(s.expire_at for s in siblings)


class Keyspace:
    def __init__(
        self,
        store: VersionedStore,
        node_id: bytes = b"local",
        clock: Callable[[], int] = now_ms,
        mergers: dict[int, Merge] | None = None,
        removals: dict[int, Removal] | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.clock = clock
        #: kinds whose concurrent siblings merge (CRDTs: counters, sets, hashes, ...) instead
        #: of resolving to one winner; wired by node.py from the type modules
        self.mergers: dict[int, Merge] = mergers or {}
        #: kinds whose deletion is an observed remove (a replicated store is given them): a
        #: DEL, or a command that empties the value, leaves a tombstone carrying the cleared
        #: state, so a concurrent add on another replica survives the merge (add-wins)
        self.removals: dict[int, Removal] = removals or {}
        #: called with (db, key) after every put/delete (WATCH's "was it written since")
        self.on_write: Callable[[int, bytes], None] | None = None
        #: called with the databases about to be flushed, before the flush (WATCH)
        self.on_flush: Callable[[list[int]], None] | None = None
        self.hits = 0
        self.misses = 0

    def resolve(self, record: Record | None, now: int) -> Sibling | None:
        """The live value of a record: the deterministic winner, or, when the winner's kind
        merges, the merge of every live sibling of that kind. None: deleted or expired."""
        if record is None:
            return None
        winner = record.winner()
        if len(record.siblings) > 1 and winner.kind in self.mergers:
            merged = self._merge(record.siblings, winner, now)
            if merged is not _UNMERGED:
                return merged
        if winner.tombstone or winner.expired(now):
            return None
        return winner

    def _merge(self, siblings: list[Sibling], winner: Sibling, now: int) -> Sibling | None:
        """Merge the winner's kind: live values and the cleared states deletions left. A merge
        that involved a deletion and leaves nothing is a missing key (observed remove)."""
        same = [s for s in siblings if s.kind == winner.kind and not s.expired(now)
                and (not s.tombstone or s.payload)]
        if len(same) < 2:
            return _UNMERGED
        payload = self.mergers[winner.kind]([s.payload for s in same])
        live = [s for s in same if not s.tombstone]
        removal = self.removals.get(winner.kind)
        if not live or (len(live) < len(same) and removal and removal.is_empty(payload)):
            return None
        return Sibling(winner.kind, payload, merge_expiry(live), winner.timestamp, winner.node)

    def merges(self, kind: int) -> bool:
        return kind in self.mergers

    # --- single keys ----------------------------------------------------------------------

    def lookup(self, db: int, key: bytes) -> Entry | None:
        """The live value of `key`, or None (missing, deleted or expired)."""
        record = self.store.read(layout.data_key(db, key))
        if record is not None and len(record.siblings) == 1:  # `resolve` of one version, inlined
            sibling = record.siblings[0]
            expire_at = sibling.expire_at
            if sibling.tombstone or (expire_at and expire_at <= self.clock()):
                self.misses += 1
                return None
            self.hits += 1
            return Entry(sibling.kind, sibling.payload, expire_at, record.context)
        sibling = self.resolve(record, self.clock())
        if sibling is None:
            self.misses += 1
            return None
        self.hits += 1
        return Entry(sibling.kind, sibling.payload, sibling.expire_at, record.context)

    def lookup_typed(self, db: int, key: bytes, kind: Kind) -> Entry | None:
        entry = self.lookup(db, key)
        if entry is not None and entry.kind != kind:
            raise errors.WrongType()
        return entry

    def get_string(self, db: int, key: bytes) -> bytes | None:
        entry = self.lookup_typed(db, key, Kind.STRING)
        return None if entry is None else entry.payload

    def put(
        self,
        db: int,
        key: bytes,
        kind: int,
        payload: bytes,
        expire_at: int = 0,
        context: bytes | None = None,
    ) -> None:
        """Write a value; `context` None is a blind write superseding every known version."""
        sibling = Sibling(kind, payload, expire_at, self.clock(), self.node_id)
        self.store.write(layout.data_key(db, key), sibling, context)
        if self.on_write is not None:
            self.on_write(db, key)

    def put_many(self, db: int, kind: int, items: list[tuple[bytes, bytes]]) -> None:
        """Blind writes of several keys (MSET): one store write where the store has
        `write_many` (the local engine: one atomic batch, one WAL record)."""
        timestamp, node = self.clock(), self.node_id
        writes = [(layout.data_key(db, key), Sibling(kind, payload, 0, timestamp, node), None)
                  for key, payload in items]
        store = self.store
        write_many = getattr(store, "write_many", None)
        if write_many is not None:
            write_many(writes)
        else:
            for raw_key, sibling, context in writes:
                store.write(raw_key, sibling, context)
        if self.on_write is not None:
            for key, _ in items:
                self.on_write(db, key)

    def delete(
        self, db: int, key: bytes, context: bytes | None = None, observed: Entry | None = None
    ) -> None:
        """Delete `key`; `observed` (the value read) makes it an observed remove where the
        kind has one (see `removals`), so concurrent adds elsewhere survive."""
        removal = self.removals.get(observed.kind) if observed is not None else None
        if removal is not None:
            sibling = Sibling(observed.kind, removal.clear(observed.payload), 0, self.clock(),
                              self.node_id, tombstone=True)
        else:
            sibling = Sibling(Kind.STRING, b"", 0, self.clock(), self.node_id, tombstone=True)
        self.store.write(layout.data_key(db, key), sibling, context)
        if self.on_write is not None:
            self.on_write(db, key)

    def remove(self, db: int, key: bytes) -> bool:
        """Delete if live; True if something was deleted (DEL, UNLINK, GETDEL)."""
        entry = self.lookup(db, key)
        if entry is None:
            return False
        self.delete(db, key, entry.context, entry)
        return True

    def exists(self, db: int, key: bytes) -> bool:
        return self.lookup(db, key) is not None

    # --- whole databases ------------------------------------------------------------------

    def iter_entries(self, db: int, first_slot: int = 0) -> Iterator[tuple[int, bytes, Sibling]]:
        """(slot, key, live sibling) of every live key of `db` from `first_slot`, slot order."""
        start, end = layout.slot_range(db, first_slot, SLOTS)
        now = self.clock()
        for raw, record in self.store.scan(start, end):
            sibling = self.resolve(record, now)
            if sibling is not None:
                yield int.from_bytes(raw[2:4], "big"), raw[4:], sibling

    def iter_keys(self, db: int) -> Iterator[bytes]:
        for _, key, _ in self.iter_entries(db):
            yield key

    def scan(self, db: int, cursor: int, count: int) -> tuple[int, list[tuple[bytes, Sibling]]]:
        """One SCAN step. The cursor is the next hash slot to visit and a step always ends on
        a slot boundary, so every key present for the whole scan is returned at least once
        (Redis' guarantee) whatever is written meanwhile. A step returns at least `count`
        keys unless the database ends first."""
        found: list[tuple[bytes, Sibling]] = []
        for slot, key, sibling in self.iter_entries(db, cursor):
            if len(found) >= count and slot != cursor:
                return slot, found
            cursor = slot
            found.append((key, sibling))
        return 0, found

    def dbsize(self, db: int) -> int:
        return sum(1 for _ in self.iter_entries(db))

    def random_key(self, db: int) -> bytes | None:
        """A key from a random slot onward (wrapping): uniform over slots, not keys."""
        start = random.randrange(SLOTS)
        for _, key, _ in self.iter_entries(db, start):
            return key
        for _, key, _ in self.iter_entries(db, 0):
            return key
        return None

    def flushdb(self, db: int) -> None:
        if self.on_flush is not None:
            self.on_flush([db])
        self.store.delete_range(*layout.db_range(db))

    def flushall(self) -> None:
        if self.on_flush is not None:
            self.on_flush(list(range(layout.DATABASES)))
        self.store.delete_range(*layout.all_data_range())

    def nonempty_dbs(self) -> dict[int, tuple[int, int]]:
        """INFO keyspace: db -> (keys, keys with an expiry)."""
        out = {}
        for db in range(layout.DATABASES):
            keys = expires = 0
            for _, _, sibling in self.iter_entries(db):
                keys += 1
                expires += 1 if sibling.expire_at else 0
            if keys:
                out[db] = (keys, expires)
        return out

    # --- background -----------------------------------------------------------------------

    def expire_cycle(self, limit: int = 200) -> int:
        """One active-expiry step (Redis' activeExpireCycle, by index instead of sampling)."""
        return self.store.expire_due(self.clock(), limit)
