"""In-memory table of recent writes: a dict for point lookups plus a SortedList of keys for order.

Why two structures: a SortedDict insert costs ~7 µs here, a dict store ~0.5 µs. A put stores into
the dict; only a key the table has never seen is added to the SortedList (a bisect into a
~1000-key sublist, ~1.5 µs). Overwriting an existing key is a dict store only.

Snapshots (how versions are kept): every entry is a tuple `(seq, kind, value, older)`, where
`older` is the previous version of the key or None. A write keeps the previous version in that
chain only if some live snapshot may still need it, i.e. `previous.seq <= snapshot_max` (the
newest live snapshot's sequence; -1 when there is none). With no snapshots an overwrite replaces
the entry, so memory does not grow with overwrites. A reader at sequence S walks the chain to the
first version with seq <= S. Sequence numbers are published only after a batch is fully applied,
so a snapshot never sees half a batch.

Concurrency: one writer at a time (the engine's group-commit leader calls `apply`). Point reads
are lock-free (a dict lookup is atomic under the GIL and entries are immutable tuples). The
SortedList is not safe to read while it is being modified, so `apply` and the scan cursor share
`_lock`, taken once per batch by the writer and once per chunk of keys by a reader; a frozen
(immutable) memtable is never modified again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from sortedcontainers import SortedList

from storage.batch import KIND_DELETE

Entry = tuple[int, int, bytes, "Entry | None"]  # (seq, kind, value, older)

#: keys copied out of the SortedList per lock acquisition during a scan.
_SCAN_CHUNK = 256
#: per-entry bookkeeping charged against Options.memtable_bytes besides key and value.
ENTRY_OVERHEAD = 16


class MemTable:
    def __init__(self, log_number: int) -> None:
        #: the WAL that holds exactly this memtable's writes.
        self.log_number = log_number
        self._data: dict[bytes, Entry] = {}
        self._keys = SortedList()
        self._lock = threading.Lock()
        #: approximate key+value bytes held (the flush trigger).
        self.bytes = 0
        self.entries = 0
        self.max_seq = 0

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
            else:
                data[key] = (seq, kind, value, old if old[0] <= snapshot_max else old[3])
            added += len(key) + len(value) + ENTRY_OVERHEAD
            seq += 1
        if new_keys:
            with self._lock:
                if len(new_keys) == 1:
                    self._keys.add(new_keys[0])
                else:
                    self._keys.update(new_keys)
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
                self._keys.add(key)
        else:
            data[key] = (seq, kind, value, old if old[0] <= snapshot_max else old[3])
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
        for key in self._keys:
            e = data[key]
            while e is not None:
                yield key, e[0], e[1], e[2]
                e = e[3]

    def _key_cursor(self, start: bytes | None, end: bytes | None) -> Iterator[bytes]:
        keys = self._keys
        lock = self._lock
        with lock:
            i = 0 if start is None else keys.bisect_left(start)
            chunk = keys[i : i + _SCAN_CHUNK]
        while chunk:
            for key in chunk:
                if end is not None and key >= end:
                    return
                yield key
            last = chunk[-1]
            with lock:
                i = keys.bisect_right(last)
                chunk = keys[i : i + _SCAN_CHUNK]


def is_tombstone(entry: Entry | None) -> bool:
    return entry is not None and entry[1] == KIND_DELETE
