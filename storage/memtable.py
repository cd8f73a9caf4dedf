"""In-memory table of recent writes: a dict for point lookups, key order built lazily.

Why not a sorted structure per insert: measured here a SortedDict insert costs ~7 us and a
SortedList.add of a random key ~5 us, a dict store ~0.5 us; the sorted insert would be most of
a put. So a put stores into the dict and, only for a key the table has never seen, appends it
to `_new` (unsorted). Order is needed only by scans and by the flush: `_sorted` is a plain
sorted list that is REPLACED, never mutated, when pending new keys are merged in (Timsort
merges the two runs in O(n + k log k)). A scan captures the current `_sorted` list plus a
sorted copy of the few pending keys and iterates them without further locking; when many keys
are pending it merges them first, so a scan costs O(n) at most once per n/8 new keys.

Snapshots (how versions are kept): every entry is a tuple `(seq, kind, value, older)`, where
`older` is the previous version of the key or None. A write keeps the previous version in that
chain only if some live snapshot may still need it, i.e. `previous.seq <= snapshot_max` (the
newest live snapshot's sequence; -1 when there is none). With no snapshots an overwrite replaces
the entry, so memory does not grow with overwrites. A reader at sequence S walks the chain to the
first version with seq <= S. The engine publishes a batch's sequence numbers only after the whole
batch is applied, so a snapshot never sees half a batch.

Concurrency: one writer at a time (the engine's write leader, under the engine's mutex). Point
reads are lock-free (a dict lookup is atomic under the GIL; entries are immutable tuples).
`_lock` guards `_new` and the replacement of `_sorted`: the writer takes it only to append a new
key, a scan once when it starts. A frozen (immutable) memtable is never modified again.
"""

from __future__ import annotations

import heapq
import threading
from bisect import bisect_left
from collections.abc import Iterator
from operator import itemgetter

from storage.batch import KIND_DELETE

Entry = tuple[int, int, bytes, "Entry | None"]  # (seq, kind, value, older)

#: a scan sorts up to this many pending new keys itself; more are merged into `_sorted` first.
_MERGE_AT = 256
#: per-entry bookkeeping charged against Options.memtable_bytes besides key and value.
ENTRY_OVERHEAD = 16


class MemTable:
    def __init__(self, log_number: int) -> None:
        #: the WAL that holds exactly this memtable's writes.
        self.log_number = log_number
        self._data: dict[bytes, Entry] = {}
        self._sorted: list[bytes] = []
        self._new: list[bytes] = []
        self._lock = threading.Lock()
        #: approximate key+value bytes held (the flush trigger).
        self.bytes = 0
        self.entries = 0
        self.max_seq = 0
        #: some key holds more than one version (kept for a snapshot): a flush must filter.
        self.chained = False

    def __len__(self) -> int:
        return len(self._data)

    def apply(self, seq: int, ops: list[tuple[int, bytes, bytes]], snapshot_max: int) -> int:
        """Insert ops with sequence numbers seq, seq+1, ...; returns the next free sequence.

        REQUIRES: a single caller at a time (the write leader); `snapshot_max` is the newest live
        snapshot's sequence or -1.
        """
        data = self._data
        new_keys = []
        added = 0
        for kind, key, value in ops:
            old = data.get(key)
            if old is None:
                new_keys.append(key)
                data[key] = (seq, kind, value, None)
            elif old[0] <= snapshot_max:
                data[key] = (seq, kind, value, old)
                self.chained = True
            else:
                data[key] = (seq, kind, value, old[3])
            added += len(key) + len(value) + ENTRY_OVERHEAD
            seq += 1
        if new_keys:
            with self._lock:
                self._new.extend(new_keys)
        self.bytes += added
        self.entries += len(ops)
        self.max_seq = seq - 1
        return seq

    def put_one(self, seq: int, kind: int, key: bytes, value: bytes, snapshot_max: int) -> None:
        """`apply` for a single op, without building a list (the put hot path)."""
        data = self._data
        old = data.get(key)
        if old is None:
            data[key] = (seq, kind, value, None)
            with self._lock:
                self._new.append(key)
        elif old[0] <= snapshot_max:
            data[key] = (seq, kind, value, old)
            self.chained = True
        else:
            data[key] = (seq, kind, value, old[3])
        self.bytes += len(key) + len(value) + ENTRY_OVERHEAD
        self.entries += 1
        self.max_seq = seq

    def get(self, key: bytes, snapshot_seq: int | None = None) -> Entry | None:
        """Newest version of key with seq <= snapshot_seq (any seq if None); tombstones included."""
        e = self._data.get(key)
        if snapshot_seq is not None:
            while e is not None and e[0] > snapshot_seq:
                e = e[3]
        return e

    def iter_visible(
        self, start: bytes | None, end: bytes | None, snapshot_seq: int
    ) -> Iterator[tuple[bytes, int, int, bytes]]:
        """(key, seq, kind, value) of the newest version <= snapshot_seq per key, in key order,
        tombstones included (they must hide older tables). Safe while writes continue."""
        data = self._data
        for key in self._key_cursor(start, end):
            e = data[key]
            while e is not None and e[0] > snapshot_seq:
                e = e[3]
            if e is not None:
                yield key, e[0], e[1], e[2]

    def iter_all(self) -> Iterator[tuple[bytes, int, int, bytes]]:
        """Every kept version, key asc then seq desc (the flush order).

        REQUIRES: the memtable is frozen (no concurrent apply)."""
        data = self._data
        for key in self.sorted_keys():
            e = data[key]
            while e is not None:
                yield key, e[0], e[1], e[2]
                e = e[3]

    def columns(self) -> tuple[list[bytes], list[int], list[bytes]]:
        """(keys, tags, values) of a memtable with one version per key, in key order, for
        TableBuilder.add_run (tag = seq << 8 | kind).

        REQUIRES: frozen and not `chained` (with snapshot versions use iter_all)."""
        keys = self.sorted_keys()
        entries = list(map(self._data.__getitem__, keys))
        tags = [e[0] << 8 | e[1] for e in entries]
        return keys, tags, list(map(itemgetter(2), entries))

    def sorted_keys(self) -> list[bytes]:
        """All keys in order (merges pending new keys; the returned list is never mutated)."""
        with self._lock:
            return self._merge_locked()

    def _merge_locked(self) -> list[bytes]:
        if self._new:
            self._new.sort()
            merged = self._sorted + self._new
            merged.sort()  # two sorted runs: Timsort merges them in linear time
            self._sorted = merged
            self._new = []
        return self._sorted

    def _key_cursor(self, start: bytes | None, end: bytes | None) -> Iterator[bytes]:
        with self._lock:
            if len(self._new) > _MERGE_AT:
                self._merge_locked()
            base = self._sorted
            pending = sorted(self._new)
        if pending:
            lo = 0 if start is None else bisect_left(pending, start)
            hi = len(pending) if end is None else bisect_left(pending, end)
            pending = pending[lo:hi]
        i = 0 if start is None else bisect_left(base, start)
        stop = len(base) if end is None else bisect_left(base, end)
        # Index from i rather than islice(base, i, stop), which steps over the first i keys
        # one by one: O(position) per scan, most of a short scan's cost in a full memtable.
        # `base` is never mutated (replaced on merge), so the indexes stay valid.
        keys = map(base.__getitem__, range(i, stop))
        if not pending:
            yield from keys
            return
        yield from heapq.merge(keys, pending)


def is_tombstone(entry: Entry | None) -> bool:
    return entry is not None and entry[1] == KIND_DELETE
