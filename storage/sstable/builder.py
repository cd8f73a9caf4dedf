"""TableBuilder: writes one SSTable append-only, data blocks first, metadata at finish().

Per-entry work is kept to list appends and a few comparisons (compaction calls add() once
per surviving record); encoding, compression and CRCs happen once per block.
Not thread-safe: one builder belongs to one flush or compaction.
"""

from __future__ import annotations

import contextlib
import os
from bisect import bisect_left
from itertools import accumulate, compress, repeat
from operator import add, and_, eq, le, lt, ne

from storage.errors import PersistenceError
from storage.options import Options
from storage.sstable.block import encode_block, encode_records, seal_block
from storage.sstable.bloom import build_blocked_filter, build_filter
from storage.sstable.format import (
    FORMAT_VERSION,
    HANDLE,
    KIND_DELETE,
    KIND_PUT,
    READABLE_VERSIONS,
    SEQ_LIMIT,
    TRAILER_SIZE,
    BlockHandle,
    Footer,
    TableProperties,
    encode_header,
    encode_properties,
)

#: translate table: tombstone kind bytes (0) -> 1, everything else -> 0 (see add_run).
_TOMBSTONE_FLAGS = bytes([1] + [0] * 255)
#: per-record bytes of the columnar arrays (tag u64 + two u32 ends), for block sizing.
_RECORD_ARRAY_BYTES = 16
#: per-index-record bytes besides the key: u64 tag, two u32 ends, 12-byte handle.
_INDEX_RECORD_BYTES = 28
_WRITE_BUFFER = 1 << 20


class TableBuilder:
    """Build an SSTable at `path` from records added in (key asc, seq desc) order."""

    def __init__(self, path: str, options: Options, format_version: int = FORMAT_VERSION) -> None:
        """`format_version` 1 (the classic bloom filter) is for tests of old files."""
        if format_version not in READABLE_VERSIONS:
            raise ValueError(f"cannot write SSTable format version {format_version}")
        self.path = path
        self._version = format_version
        self._block_size = options.block_size
        self._compress = options.compression == "lz4"
        self._bits_per_key = options.bloom_bits_per_key
        try:
            self._file = open(path, "wb", buffering=_WRITE_BUFFER)  # noqa: SIM115
            self._file.write(encode_header(format_version))
        except OSError as exc:
            raise PersistenceError(f"cannot create SSTable {path}: {exc}") from exc
        self._offset = len(encode_header())
        self._closed = False
        self._finished = False
        #: bytes the index block will take (keys + 16 array bytes + 12 handle bytes each).
        self._index_bytes = 0
        # Pending data block (columnar, see block.py).
        self._keys: list[bytes] = []
        self._tags: list[int] = []
        self._values: list[bytes] = []
        self._pending = 0
        # Index: one (last key, last seq, handle) per written block.
        self._index_keys: list[bytes] = []
        self._index_seqs: list[int] = []
        self._index_handles: list[bytes] = []
        self._distinct: list[bytes] = []
        # Ordering sentinel: any (key >= b"", seq < 2**64) sorts after it.
        self._last_key = b""
        self._last_seq = 1 << 64
        self._entries = 0
        self._tombstones = 0
        self._min_seq = SEQ_LIMIT
        self._max_seq = 0
        self._raw_key_bytes = 0
        self._raw_value_bytes = 0
        self._data_block_bytes = 0
        #: the last data block's key separator, tried first for the next (encode_block).
        self._separator = -1

    def add(self, key: bytes, seq: int, kind: int, value: bytes) -> None:
        """Append one record.

        REQUIRES: (key, seq) strictly after the previous record in (key asc, seq desc)
        order; 0 <= seq < 2**56; kind is KIND_PUT or KIND_DELETE (with value b"");
        key and value shorter than 4 GiB (block offsets are u32).
        Raises ValueError otherwise, before anything is written.
        """
        if self._closed:
            raise ValueError(f"builder for {self.path} is already finished or abandoned")
        last_key = self._last_key
        if key <= last_key and (key < last_key or seq >= self._last_seq):
            raise ValueError(
                f"records out of order: ({key!r}, seq {seq}) after ({last_key!r}, seq "
                f"{self._last_seq}); REQUIRES key ascending, then seq descending"
            )
        if not 0 <= seq < SEQ_LIMIT:
            raise ValueError(f"seq {seq} outside 0..2**56-1")
        if kind != KIND_PUT:
            if kind != KIND_DELETE:
                raise ValueError(f"unknown record kind {kind}")
            if value:
                raise ValueError("a tombstone's value must be b''")
            self._tombstones += 1
        # Validated: from here on the record is recorded.
        if key != last_key or not self._distinct:
            self._distinct.append(key)
        self._last_key = key
        self._last_seq = seq
        self._keys.append(key)
        self._tags.append(seq << 8 | kind)
        self._values.append(value)
        # Counts, byte totals and seq bounds are summed per block in C (see _flush_block).
        self._pending += len(key) + len(value) + _RECORD_ARRAY_BYTES
        if self._pending >= self._block_size:
            self._flush_block()

    def add_run(self, keys: list[bytes], tags: list[int], values: list[bytes]) -> None:
        """Append records given as parallel lists (tag = seq << 8 | kind): the same file as
        add() once per record, with the Python-level work done per block, not per record.

        The flush's bulk path: checks, sizes and block boundaries come from C-level map /
        accumulate / bisect over the lists (measured on a 63k-record memtable: 4.9 -> ~1 us
        per record, most of what is left being the bloom filter). REQUIRES and raises as add(),
        before anything of the run is recorded.
        """
        if self._closed:
            raise ValueError(f"builder for {self.path} is already finished or abandoned")
        n = len(keys)
        if len(tags) != n or len(values) != n:
            raise ValueError("add_run needs keys, tags and values of one length")
        if not n:
            return
        distinct, tombstones, low, high = self._check_run(keys, tags, values)
        self._tombstones += tombstones
        self._min_seq = min(self._min_seq, low >> 8)  # per run: _emit_block need not
        self._max_seq = max(self._max_seq, high >> 8)
        if keys[0] != self._last_key or not self._distinct:
            self._distinct.extend(distinct)
        else:
            self._distinct.extend(distinct[1:])
        self._last_key = keys[-1]
        self._last_seq = tags[-1] >> 8
        # The lengths are taken once: block sizing, the block's key/value end arrays and the
        # byte totals all derive from them (three passes of len() each before).
        key_lens = list(map(len, keys))
        value_lens = list(map(len, values))
        # cum[i]: block bytes of records 0..i-1, counted as add() counts them.
        cum = list(
            accumulate(
                map(add, map(add, key_lens, value_lens), repeat(_RECORD_ARRAY_BYTES)), initial=0
            )
        )
        block_size = self._block_size
        start = 0
        while start < n:
            # the first record at which the pending block reaches block_size ends it
            end = bisect_left(cum, cum[start] + block_size - self._pending, start + 1)
            if end > n:
                self._keys.extend(keys[start:])
                self._tags.extend(tags[start:])
                self._values.extend(values[start:])
                self._pending += cum[n] - cum[start]
                return
            if self._keys:
                self._keys.extend(keys[start:end])
                self._tags.extend(tags[start:end])
                self._values.extend(values[start:end])
                self._flush_block()
            else:
                self._emit_block(
                    keys[start:end],
                    tags[start:end],
                    values[start:end],
                    key_lens[start:end],
                    value_lens[start:end],
                )
            start = end

    def _check_run(
        self, keys: list[bytes], tags: list[int], values: list[bytes]
    ) -> tuple[list[bytes], int, int, int]:
        """add()'s checks over a whole run -> (its distinct keys, its tombstone count, its
        lowest and highest tag)."""
        first, last_key = keys[0], self._last_key
        first_seq = tags[0] >> 8
        if first <= last_key and (first < last_key or first_seq >= self._last_seq):
            raise ValueError(
                f"records out of order: ({first!r}, seq {first_seq}) after ({last_key!r}, seq "
                f"{self._last_seq}); REQUIRES key ascending, then seq descending"
            )
        nexts = keys[1:]
        distinct = keys
        if not all(map(lt, keys, nexts)):  # else the usual run: one version per key
            if not all(map(le, keys, nexts)):
                i = next(i for i, (a, b) in enumerate(zip(keys, nexts, strict=False)) if a > b)
                raise ValueError(f"records out of order: {nexts[i]!r} after {keys[i]!r}")
            for i in compress(range(len(nexts)), map(eq, keys, nexts)):
                if tags[i] >> 8 <= tags[i + 1] >> 8:
                    raise ValueError(
                        f"records out of order: ({keys[i]!r}, seq {tags[i + 1] >> 8}) after seq "
                        f"{tags[i] >> 8}; REQUIRES key ascending, then seq descending"
                    )
            distinct = [first, *compress(nexts, map(ne, keys, nexts))]
        low, high = min(tags), max(tags)
        if low < 0 or high >= SEQ_LIMIT << 8:
            raise ValueError("seq outside 0..2**56-1")
        kinds = bytes(map(and_, tags, repeat(0xFF)))
        if kinds.translate(None, bytes((KIND_DELETE, KIND_PUT))):
            raise ValueError(f"unknown record kind in {sorted(set(kinds))}")
        tombstones = kinds.count(KIND_DELETE)
        if tombstones and any(map(len, compress(values, kinds.translate(_TOMBSTONE_FLAGS)))):
            raise ValueError("a tombstone's value must be b''")
        return distinct, tombstones, low, high

    def estimated_size(self) -> int:
        """Bytes written so far plus the pending block (uncompressed) and index/filter."""
        bloom = len(self._distinct) * self._bits_per_key // 8
        return self._offset + self._pending + self._index_bytes + bloom

    def finish(self) -> TableProperties:
        """Write the last block, filter, properties, index and footer; fsync; close.

        The caller makes the file's directory entry durable (fsync of the directory) when
        it records the table in the manifest.
        """
        self._check_open()
        try:
            self._flush_block()
            build = build_blocked_filter if self._version >= 2 else build_filter
            filter_data = build(self._distinct, len(self._distinct), self._bits_per_key)
            filter_handle = self._write_block(filter_data, compress=False)
            index_payload = encode_records(self._index_seqs, self._index_keys, self._index_handles)
            props = self._properties(filter_handle, len(index_payload))
            props_handle = self._write_block(encode_properties(props), compress=False)
            index_handle = self._write_block(index_payload, compress=False)
            footer = Footer(filter_handle, props_handle, index_handle, version=self._version)
            self._write(footer.encode())
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            self._close_quietly()
            raise PersistenceError(f"cannot write SSTable {self.path}: {exc}") from exc
        self._closed = self._finished = True
        return TableProperties(**{**props.__dict__, "file_size": self._offset})

    def abandon(self) -> None:
        """Close and delete the partial file (a failed or cancelled compaction).

        Does nothing after a successful finish(): the table is complete and belongs to the
        caller, so a stray abandon() in a cleanup path cannot lose it.
        """
        if self._finished:
            return
        self._close_quietly()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # -- internals ---------------------------------------------------------------------

    def _properties(self, filter_handle: BlockHandle, index_bytes: int) -> TableProperties:
        first = bool(self._entries)
        return TableProperties(
            entries=self._entries,
            tombstones=self._tombstones,
            min_key=self._distinct[0] if first else b"",
            max_key=self._last_key,
            min_seq=self._min_seq if first else 0,
            max_seq=self._max_seq,
            raw_key_bytes=self._raw_key_bytes,
            raw_value_bytes=self._raw_value_bytes,
            data_block_bytes=self._data_block_bytes,
            data_blocks=len(self._index_keys),
            index_block_bytes=index_bytes + TRAILER_SIZE,
            filter_block_bytes=filter_handle.size + TRAILER_SIZE,
            bloom_bits_per_key=self._bits_per_key,
            distinct_keys=len(self._distinct),
            compression=b"lz4" if self._compress else b"none",
        )

    def _flush_block(self) -> None:
        if not self._keys:
            return
        self._emit_block(self._keys, self._tags, self._values)
        self._keys = []
        self._tags = []
        self._values = []
        self._pending = 0

    def _emit_block(
        self,
        keys: list[bytes],
        tags: list[int],
        values: list[bytes],
        key_lens: list[int] | None = None,
        value_lens: list[int] | None = None,
    ) -> None:
        """Write one data block of these records and index it. add_run passes the records'
        lengths and has accounted for their seqs; add()'s pending block passes neither."""
        if key_lens is None:
            key_ends = list(accumulate(map(len, keys)))
            value_ends = list(accumulate(map(len, values)))
            self._min_seq = min(self._min_seq, min(tags) >> 8)
            self._max_seq = max(self._max_seq, max(tags) >> 8)
        else:
            key_ends = list(accumulate(key_lens))
            value_ends = list(accumulate(value_lens))
        self._entries += len(keys)
        self._raw_key_bytes += key_ends[-1]
        self._raw_value_bytes += value_ends[-1]
        payload, self._separator = encode_block(
            tags, keys, values, key_ends, value_ends, self._separator
        )
        handle = self._write_block(payload, self._compress)
        self._data_block_bytes += handle.size + TRAILER_SIZE
        self._index_keys.append(keys[-1])
        self._index_bytes += len(keys[-1]) + _INDEX_RECORD_BYTES
        self._index_seqs.append(tags[-1] >> 8)
        self._index_handles.append(HANDLE.pack(handle.offset, handle.size))

    def _write_block(self, payload: bytes, compress: bool) -> BlockHandle:
        sealed = seal_block(payload, compress)
        handle = BlockHandle(self._offset, len(sealed) - TRAILER_SIZE)
        self._write(sealed)
        return handle

    def _write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise PersistenceError(f"cannot write SSTable {self.path}: {exc}") from exc
        self._offset += len(data)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"builder for {self.path} is already finished or abandoned")

    def _close_quietly(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._file.close()
