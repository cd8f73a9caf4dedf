"""Engine tunables. Each field says its unit and why it has its default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

FSYNC_POLICIES = ("always", "everysec", "no")

#: compaction_filter(key, value) -> keep? Called for live values only (never tombstones).
CompactionFilter = Callable[[bytes, bytes], bool]


@dataclass
class Options:
    #: Redis' appendfsync names: "always" fsyncs before a write returns (group-committed),
    #: "everysec" fsyncs the WAL once a second in the background, "no" leaves it to the OS.
    fsync: str = "everysec"
    #: bytes of key+value a memtable holds before it is frozen and flushed (LevelDB: 4 MiB).
    memtable_bytes: int = 4 * 1024 * 1024
    #: frozen memtables that may wait for their flush before writers stall (RocksDB's
    #: max_write_buffer_number - 1): a burst of writes fills the next memtable while earlier
    #: ones are flushed one by one. Worst-case memtable memory: (1 + this) x memtable_bytes.
    max_frozen_memtables: int = 3
    #: uncompressed bytes per SSTable data block (LevelDB: 4 KiB; LZ4 ratio ~2.3 at this size).
    block_size: int = 4096
    #: bloom filter bits per key. 12 with the blocked filter of SSTable format 2 gives ~0.55%
    #: false positives (10 gave 1.2%, more block reads on absent keys; the classic filter of
    #: format 1 gave 0.8% at 10) for 1.5 bytes per key instead of 1.25.
    bloom_bits_per_key: int = 12
    #: bytes of decompressed blocks kept in the LRU block cache.
    block_cache_bytes: int = 32 * 1024 * 1024
    #: bytes of (key, newest value) rows kept for point reads (RocksDB's row_cache; 0 turns it
    #: off): a repeated get of a key in the SSTables is two dict operations instead of a table
    #: search. Charged len(key) + len(value) + 171 per row (cache.ROW_OVERHEAD): 16 MiB holds
    #: ~58k rows of a 16-byte key and a 100-byte value. Invalidation: docs/storage.md.
    row_cache_bytes: int = 16 * 1024 * 1024
    #: "lz4" or "none" (a block is stored raw when compressing does not shrink it).
    compression: str = "lz4"
    #: target bytes per SSTable written by compaction.
    target_file_bytes: int = 2 * 1024 * 1024
    #: number of level-0 files that triggers a level-0 compaction (LevelDB: 4).
    level0_compaction_trigger: int = 4
    #: level-0 files at which writes wait for compaction (LevelDB: 12): bounds read amplification.
    level0_stop_writes: int = 12
    #: total bytes of level 1; each deeper level is `level_multiplier` times larger (LevelDB).
    level1_bytes: int = 10 * 1024 * 1024
    level_multiplier: int = 10
    #: run flushes and compactions on a background thread (False: only on flush()/compact()).
    background_compaction: bool = True
    #: hook for the layer above: drop expired values during compaction (see CompactionFilter).
    compaction_filter: CompactionFilter | None = None
    create_if_missing: bool = True

    def __post_init__(self) -> None:
        if self.fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, not {self.fsync!r}")
        if self.max_frozen_memtables < 1:
            raise ValueError(f"max_frozen_memtables must be >= 1, not {self.max_frozen_memtables}")
        if self.row_cache_bytes < 0:
            raise ValueError(f"row_cache_bytes must be >= 0, not {self.row_cache_bytes}")
        if self.compression not in ("lz4", "none"):
            raise ValueError(f"compression must be 'lz4' or 'none', not {self.compression!r}")
