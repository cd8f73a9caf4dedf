"""Table: a read-only, thread-safe view of one SSTable file.

open() reads and checks the header, footer, index, filter and properties once and keeps
them in memory (they are small: ~1.3 bytes per key of bloom, one index record per block).
Data blocks are read on demand with os.pread — no shared file offset, so any number of
threads may call get/iter at once — checked, decompressed, decoded, and kept in the
optional BlockCache. The bloom counters are plain ints: approximate under threads.
close() must not race with readers; the engine closes a table only when unreferenced.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterator

from storage.cache import BlockCache
from storage.errors import ClosedError, CorruptionError, LengthPastEndError
from storage.options import Options
from storage.sstable.block import DecodedBlock, decode_records, unseal_block
from storage.sstable.bloom import BlockedBloomFilter, BloomFilter, key_hash
from storage.sstable.format import (
    FOOTER_SIZE,
    HANDLE,
    HEADER_SIZE,
    MIN_FILE_SIZE,
    TRAILER_SIZE,
    BlockHandle,
    TableProperties,
    check_header,
    decode_footer,
    decode_properties,
)


class Table:
    """One open SSTable. Build with Table.open(); see the module docstring for threading."""

    def __init__(
        self,
        path: str,
        file_number: int,
        fd: int,
        file_size: int,
        cache: BlockCache | None,
    ) -> None:
        self.path = path
        self.file_number = file_number
        self._fd = fd
        self._file_size = file_size
        self._cache = cache
        self._index_keys: list[bytes] = []
        self._index_seqs: tuple[int, ...] = ()
        self._offsets: list[int] = []
        self._sizes: list[int] = []
        self._bloom: BloomFilter | BlockedBloomFilter = BloomFilter(b"")
        self.format_version = 0
        self.properties = TableProperties()
        #: get() calls the bloom filter answered "absent" (no block read).
        self.bloom_negatives = 0
        #: get() calls the bloom filter answered "maybe".
        self.bloom_positives = 0
        #: positives where the key turned out to be absent from the table.
        self.bloom_false_positives = 0
        #: data blocks read from the file (cache misses or no cache).
        self.block_reads = 0

    @classmethod
    def open(
        cls, path: str, file_number: int, options: Options, cache: BlockCache | None = None
    ) -> Table:
        """Open and verify an SSTable's metadata.

        Raises BadMagicError, UnsupportedVersionError, ChecksumMismatchError,
        LengthPastEndError or CorruptionError naming the file and offset.
        `options` is accepted for symmetry with TableBuilder; everything the reader needs
        (bloom probes, compression per block) is recorded in the file itself.
        """
        del options
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            table = cls(path, file_number, fd, os.fstat(fd).st_size, cache)
            table._load_metadata()
        except BaseException:
            os.close(fd)
            raise
        return table

    # -- public reads --------------------------------------------------------------------

    def may_contain(self, key: bytes) -> bool:
        """Bloom filter check: False means `key` is certainly not in this table."""
        return self._bloom.may_contain(key)

    def get(
        self, key: bytes, snapshot_seq: int, hashed: tuple[int, int, int] | None = None
    ) -> tuple[int, int, bytes] | None:
        """Newest (seq, kind, value) of `key` with seq <= snapshot_seq, or None.

        The bloom filter is consulted first, so a miss usually reads no data block. `hashed`
        is the key's `bloom.key_hash`, computed once by a caller that probes several tables.
        """
        if not self._bloom.may_contain_hashed(key_hash(key) if hashed is None else hashed):
            self.bloom_negatives += 1
            return None
        self.bloom_positives += 1
        index_keys = self._index_keys
        count = len(index_keys)
        i = bisect_left(index_keys, key)
        present = i < count and index_keys[i] == key
        # Blocks that end with newer versions of `key` cannot hold the one we want.
        while present and i < count and index_keys[i] == key and self._index_seqs[i] > snapshot_seq:
            i += 1
        if i < count:
            # The block-cache lookup is inlined: this is the engine's hottest path.
            cache = self._cache
            block = None if cache is None else cache.get((self.file_number, self._offsets[i]))
            if block is None:
                block = self._load_block(i, True)
            found = block.get(key, snapshot_seq)
            if found is not None or present or key in block:
                return found
        if not present:
            self.bloom_false_positives += 1
        return None

    def iter(
        self, start: bytes | None = None, *, fill_cache: bool = True
    ) -> Iterator[tuple[bytes, int, int, bytes]]:
        """Every (key, seq, kind, value) from the first with key >= start, in order.

        Lazy: one data block is read at a time. Compaction passes fill_cache=False so a
        full scan does not evict the hot blocks point reads need (LevelDB's fill_cache).
        """
        self._check_open()
        first = 0 if start is None else bisect_left(self._index_keys, start)
        return self._iter_from(first, start, fill_cache)

    def iter_batches(
        self, start: bytes | None = None, *, fill_cache: bool = True, min_rows: int = 0
    ) -> Iterator[tuple[list[bytes], list[int], list[bytes]]]:
        """`iter` as (keys, tags, values) batches (tag = seq << 8 | kind): one data block at a
        time, or consecutive blocks joined up to at least `min_rows` records (compactions)."""
        self._check_open()
        first = 0 if start is None else bisect_left(self._index_keys, start)
        return self._batches_from(first, start, fill_cache, min_rows)

    def _batches_from(
        self, first: int, start: bytes | None, fill_cache: bool, min_rows: int
    ) -> Iterator[tuple[list[bytes], list[int], list[bytes]]]:
        keys: list[bytes] = []
        tags: list[int] = []
        values: list[bytes] = []
        for i in range(first, len(self._offsets)):
            block = self._block(i, fill_cache)
            j = bisect_left(block.keys, start) if i == first and start is not None else 0
            k, t, v = block.columns(j)
            if not min_rows:
                yield k, t, v
                continue
            keys += k
            tags += t
            values += v
            if len(keys) >= min_rows:
                yield keys, tags, values
                keys, tags, values = [], [], []
        if keys:
            yield keys, tags, values

    def data_block_handles(self) -> list[BlockHandle]:
        """Where each data block lives, in key order (for dump and verification tools)."""
        return [BlockHandle(o, s) for o, s in zip(self._offsets, self._sizes, strict=True)]

    def close(self) -> None:
        """Release the file descriptor. Cached blocks stay (they are still valid)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Table({self.path!r}, file_number={self.file_number})"

    # -- blocks ---------------------------------------------------------------------------

    def _iter_from(
        self, first: int, start: bytes | None, fill_cache: bool
    ) -> Iterator[tuple[bytes, int, int, bytes]]:
        for i in range(first, len(self._offsets)):
            block = self._block(i, fill_cache)
            j = bisect_left(block.keys, start) if i == first and start is not None else 0
            yield from block.records(j)

    def _block(self, i: int, fill_cache: bool) -> DecodedBlock:
        """Data block i, from the cache or the file."""
        cache = self._cache
        if cache is not None:
            block = cache.get((self.file_number, self._offsets[i]))
            if block is not None:
                return block
        return self._load_block(i, fill_cache)

    def _load_block(self, i: int, fill_cache: bool) -> DecodedBlock:
        """Read, check and decode data block i; insert it in the cache if asked."""
        fd, offset = self._fd, self._offsets[i]
        if fd < 0:
            raise ClosedError(f"SSTable {self.path} is closed")
        self.block_reads += 1
        size = self._sizes[i]
        payload = unseal_block(self.path, offset, os.pread(fd, size + TRAILER_SIZE, offset), size)
        block = decode_records(payload, self.path, offset)
        if self._cache is not None and fill_cache:
            self._cache.put((self.file_number, offset), block, block.charge)
        return block

    def _read_block(self, offset: int, size: int) -> bytes:
        """Checked, decompressed payload of the block at `offset`."""
        fd = self._fd
        if fd < 0:
            raise ClosedError(f"SSTable {self.path} is closed")
        self.block_reads += 1
        stored = os.pread(fd, size + TRAILER_SIZE, offset)
        return unseal_block(self.path, offset, stored, size)

    def _check_open(self) -> None:
        if self._fd < 0:
            raise ClosedError(f"SSTable {self.path} is closed")

    # -- metadata -------------------------------------------------------------------------

    def _load_metadata(self) -> None:
        size = self._file_size
        head = os.pread(self._fd, HEADER_SIZE, 0)
        if len(head) == HEADER_SIZE:
            check_header(self.path, head)
        if size < MIN_FILE_SIZE:
            raise LengthPastEndError(
                self.path,
                size,
                f"file is {size} bytes, shorter than the smallest SSTable ({MIN_FILE_SIZE})",
            )
        footer = decode_footer(self.path, os.pread(self._fd, FOOTER_SIZE, size - FOOTER_SIZE), size)
        filter_class = BloomFilter if footer.version == 1 else BlockedBloomFilter
        self._bloom = filter_class(self._read_meta(footer.filter))
        self.format_version = footer.version
        props_payload = self._read_meta(footer.properties)
        self.properties = decode_properties(
            self.path, footer.properties.offset, props_payload, size
        )
        self._load_index(footer.index)

    def _read_meta(self, handle: BlockHandle) -> bytes:
        return self._read_block(handle.offset, handle.size)

    def _load_index(self, handle: BlockHandle) -> None:
        index = decode_records(self._read_meta(handle), self.path, handle.offset)
        limit = self._file_size - FOOTER_SIZE
        offsets: list[int] = []
        sizes: list[int] = []
        for value in index.values:
            if len(value) != HANDLE.size:
                raise CorruptionError(self.path, handle.offset, "bad block handle in index")
            offset, block_size = HANDLE.unpack(value)
            if offset < HEADER_SIZE or offset + block_size + TRAILER_SIZE > limit:
                raise LengthPastEndError(
                    self.path,
                    offset,
                    f"index points at block {offset}+{block_size} past the data region",
                )
            offsets.append(offset)
            sizes.append(block_size)
        self._index_keys = index.keys
        self._index_seqs = index.tags
        self._offsets = offsets
        self._sizes = sizes
        self.block_reads = 0
