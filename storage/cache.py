"""BlockCache: a bounded LRU of decoded SSTable blocks, sized in bytes; RowCache (at the end):
a bounded LRU of key -> newest value for point reads.

Keys are (file_number, block_offset): tables are immutable and file numbers are never
reused, so an entry can never go stale; the engine drops a deleted table's blocks with
`evict_files` so they do not take the room of live ones. Values are whatever the table
stores (DecodedBlock) with a byte `charge`.

Concurrency: every method may be called from any thread (request handlers and the
engine's flush/compaction threads); one lock guards the map and the byte count (`get`, the
hot path, needs no lock: see there). Two threads
missing the same block may both read it and both `put`; the second put replaces the first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class _Lru:
    """What both caches share: an OrderedDict in least-recently-used order, a byte budget, the
    counters, and the lock-free `get`."""

    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"capacity_bytes must be >= 0, not {capacity_bytes}")
        self.capacity_bytes = capacity_bytes
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._used = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: Hashable) -> Any | None:
        """The cached value (now most recently used), or None.

        Without the lock: each OrderedDict operation is one C call, atomic under the GIL (the
        keys are bytes or tuples of ints), and a concurrent `put` may evict the entry between
        the two (move_to_end then raises KeyError; the value found is still good). The hit and
        miss counters may lose an increment under threads, like the tables' bloom counters."""
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        try:  # noqa: SIM105 (contextlib.suppress builds a context manager per hit)
            self._entries.move_to_end(key)
        except KeyError:
            pass
        self.hits += 1
        return found

    @property
    def used_bytes(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._entries)


class BlockCache(_Lru):
    """Thread-safe LRU keyed by (file_number, block_offset), evicting by total charge."""

    def __init__(self, capacity_bytes: int) -> None:
        super().__init__(capacity_bytes)
        self._charges: dict[Hashable, int] = {}  #: key -> charge (no tuple per entry)
        self._lock = threading.Lock()

    def put(self, key: Hashable, value: Any, charge: int) -> None:
        """Insert or replace; evict least recently used entries until within capacity.

        A value larger than the whole capacity is not cached (it would evict everything).
        """
        with self._lock:
            entries, charges = self._entries, self._charges
            if entries.pop(key, None) is not None:
                self._used -= charges.pop(key)
            if charge > self.capacity_bytes:
                return
            entries[key] = value
            charges[key] = charge
            self._used += charge
            while self._used > self.capacity_bytes:
                evicted, _ = entries.popitem(last=False)
                self._used -= charges.pop(evicted)
                self.evictions += 1

    def evict_file(self, file_number: int) -> int:
        """Drop every block of one table (after the engine deletes it); returns how many."""
        return self.evict_files({file_number})

    def evict_files(self, file_numbers: set[int]) -> int:
        """Drop every block of these tables in ONE pass over the cache (a compaction retires
        several tables at once; the pass holds the lock for ~50 ns per cached block)."""
        if not file_numbers:
            return 0
        with self._lock:
            doomed = [k for k in self._entries if isinstance(k, tuple) and k[0] in file_numbers]
            for key in doomed:
                del self._entries[key]
                self._used -= self._charges.pop(key)
            return len(doomed)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries


#: bytes charged per cached row besides its key and value: measured on CPython 3.11, an
#: OrderedDict entry costs ~105 bytes and the key and value bytes objects 33 bytes of header each.
ROW_OVERHEAD = 171


class RowCache(_Lru):
    """Bounded LRU of key -> the key's newest live value, for `Engine.get` (RocksDB's
    `row_cache`): a repeated point read of a key that lives in the SSTables costs two dict
    operations instead of a bloom hash, a block-cache lookup and a search in the block.

    Only present values are cached: an absent key is already cheap (the bloom filters say no),
    and caching absences would let random misses push the useful rows out.

    Staleness is the owner's problem, and `epoch` is its tool: every write must `discard` its
    key, and a change that may alter many keys' visible values must `clear` (or `new_epoch`,
    which only refuses in-flight inserts). A reader reads `epoch` BEFORE it reads the data it
    will cache and passes it to `put`, which refuses the insert if the epoch moved meanwhile.

    Concurrency: `get` takes no lock (each OrderedDict operation is one C call, atomic under
    the GIL; an eviction between its two calls makes move_to_end raise KeyError, and the value
    found is still the key's newest). `put`, `discard`, `clear` and `new_epoch` must be
    serialised by the caller: the engine calls them under its writer mutex, which is what
    makes "check that nothing changed, then insert" atomic with respect to the writers.
    """

    def __init__(self, capacity_bytes: int) -> None:
        super().__init__(capacity_bytes)  # key -> value; a row's charge comes from the lengths
        #: bumped by `clear` and `new_epoch`: a `put` read under an older epoch is refused.
        self.epoch = 0

    def put(self, key: bytes, value: bytes, epoch: int) -> bool:
        """Cache `value` as `key`'s newest value, read under `epoch`; evict least recently used
        rows until within capacity. -> whether it was cached (not if the epoch moved, or the
        row alone is larger than the whole capacity). REQUIRES: the owner's lock."""
        if epoch != self.epoch:
            return False
        charge = len(key) + len(value) + ROW_OVERHEAD
        if charge > self.capacity_bytes:
            return False
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self._used -= len(key) + len(old) + ROW_OVERHEAD
        entries[key] = value
        self._used += charge
        while self._used > self.capacity_bytes:
            k, v = entries.popitem(last=False)
            self._used -= len(k) + len(v) + ROW_OVERHEAD
            self.evictions += 1
        return True

    def discard(self, key: bytes) -> None:
        """Forget `key` (it was just written). REQUIRES: the owner's lock."""
        value = self._entries.pop(key, None)
        if value is not None:
            self._used -= len(key) + len(value) + ROW_OVERHEAD

    def clear(self) -> None:
        """Forget every row, and refuse the inserts of reads already under way."""
        self.epoch += 1
        self._entries = OrderedDict()
        self._used = 0

    def new_epoch(self) -> None:
        """Refuse the inserts of reads already under way (their data may predate a change
        that a read starting now sees), keeping the rows: they are still current."""
        self.epoch += 1

    def __contains__(self, key: bytes) -> bool:
        return key in self._entries
