"""BlockCache: a bounded LRU of decoded SSTable blocks, sized in bytes.

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


class BlockCache:
    """Thread-safe LRU keyed by (file_number, block_offset), evicting by total charge."""

    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"capacity_bytes must be >= 0, not {capacity_bytes}")
        self.capacity_bytes = capacity_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._used = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: Hashable) -> Any | None:
        """The cached value (now most recently used), or None.

        Without the lock: each OrderedDict operation is one C call, atomic under the GIL (the
        keys are tuples of ints), and a concurrent `put` may evict the entry between the two
        (move_to_end then raises KeyError; the value found is still good). The hit and miss
        counters may lose an increment under threads, like the tables' bloom counters."""
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        try:  # noqa: SIM105 (contextlib.suppress builds a context manager per hit)
            self._entries.move_to_end(key)
        except KeyError:
            pass
        self.hits += 1
        return found[0]

    def put(self, key: Hashable, value: Any, charge: int) -> None:
        """Insert or replace; evict least recently used entries until within capacity.

        A value larger than the whole capacity is not cached (it would evict everything).
        """
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= old[1]
            if charge > self.capacity_bytes:
                return
            self._entries[key] = (value, charge)
            self._used += charge
            while self._used > self.capacity_bytes:
                _, (_, evicted_charge) = self._entries.popitem(last=False)
                self._used -= evicted_charge
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
                self._used -= self._entries.pop(key)[1]
            return len(doomed)

    @property
    def used_bytes(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries
