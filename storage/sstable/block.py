"""Record blocks (data and index): encode/decode, seal with type byte + CRC, open.

A block is columnar (see `records` in format.py): a count, then the u64 tags, key end
offsets and value end offsets as packed arrays, then all keys and all values back to back.
Why not LevelDB's prefix-compressed entries with restart points: in Python every varint
costs a bytecode loop, while this layout decodes with a few `struct.unpack_from` calls, and
LZ4 already removes the shared-prefix redundancy that prefix compression would. The keys are
joined by a byte value that occurs in none of them (almost always one exists: 35 random
16-byte keys leave ~28 of 256 values unused, ASCII keys leave 0x00), so scans split them with
one C `split`; a block whose keys use every byte value falls back to slicing by key_ends.
A point lookup splits nothing: it `find`s the key in the joined keys and confirms the record
index with two key ends (DecodedBlock.find). The block cache holds the DecodedBlock, i.e.
the payload and a few offsets.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

import lz4.block

from storage.coding import U32, U64, crc32
from storage.errors import ChecksumMismatchError, CorruptionError, LengthPastEndError
from storage.sstable.format import BLOCK_LZ4, BLOCK_RAW, TRAILER, TRAILER_SIZE

#: A compressed block is kept only when it saves at least 1/8 of the raw size (LevelDB's
#: rule): below that the decompression on every read costs more than the bytes saved.
_MIN_SAVING_SHIFT = 3
#: Approximate Python bytes a cached block holds besides its payload (the DecodedBlock, the
#: payload's bytes header, the cache's entry), so the block cache's byte budget tracks memory.
BLOCK_OVERHEAD = 250

#: count: u32, separator: u16 (see `records` in format.py).
_HEAD = struct.Struct("<IH")
#: "keys are concatenated, not separated": some block uses all 256 byte values in its keys.
NO_SEPARATOR = 0xFFFF
_SEPARATOR_BYTES = [bytes((value,)) for value in range(256)]
_U32_PAIR = struct.Struct("<II")

_ARRAY_STRUCTS: dict[tuple[str, int], struct.Struct] = {}
#: record counts vary per block (and index blocks have one record per data block).
_MAX_ARRAY_STRUCTS = 4096


def _array(code: str, count: int) -> struct.Struct:
    """A cached Struct for `count` little-endian items of `code` (struct's own cache is 100)."""
    key = (code, count)
    found = _ARRAY_STRUCTS.get(key)
    if found is None:
        if len(_ARRAY_STRUCTS) >= _MAX_ARRAY_STRUCTS:
            _ARRAY_STRUCTS.clear()  # bounded; racing threads at worst rebuild a Struct
        found = _ARRAY_STRUCTS[key] = struct.Struct(f"<{count}{code}")
    return found


class DecodedBlock:
    """A block's records, immutable by convention and shared by threads.

    Nothing per record is materialised: a point lookup finds its key in the joined keys
    with C-level `find`/`count` over the payload (separator + key + separator, then the
    separators before it give its index) and unpacks one tag and one value. Splitting the
    keys into a list on every cache miss cost ~2 us of the ~5 us a miss costs, and holding
    the list made a cached 4 KiB block ~6 KiB (fewer blocks in the same cache budget).
    Scans and merges split the keys once per visit (`keys`): ~0.02 us per record.
    """

    __slots__ = (
        "_count",
        "_gap",
        "_key_base",
        "_key_ends_at",
        "_payload",
        "_sep_byte",
        "_value_base",
        "_value_ends_at",
        "charge",
    )

    def __init__(
        self, payload: bytes, count: int, separator: int, key_base: int, value_base: int
    ) -> None:
        self._payload = payload
        self._count = count
        #: bytes between two keys (1, or 0 when concatenated: NO_SEPARATOR) and the separator.
        self._gap = 0 if separator == NO_SEPARATOR else 1
        self._sep_byte = b"" if separator == NO_SEPARATOR else _SEPARATOR_BYTES[separator]
        self._key_ends_at = _HEAD.size + 8 * count
        self._value_ends_at = _HEAD.size + 12 * count
        self._key_base = key_base
        self._value_base = value_base
        #: approximate bytes of memory held, for the block cache.
        self.charge = len(payload) + BLOCK_OVERHEAD

    def get(self, key: bytes, snapshot_seq: int) -> tuple[int, int, bytes] | None:
        """Newest (seq, kind, value) of `key` with seq <= snapshot_seq in this block.

        One call per point lookup (Table.get's hot path), so find()'s fast path and the tag
        and value reads are inlined.
        """
        payload, kb, vb = self._payload, self._key_base, self._value_base
        pos = payload.find(key, kb, vb)
        if pos < 0:
            return None
        n, gap = len(key), self._gap
        j = (pos - kb) // (n + gap) if n + gap else -1
        if 0 < j < self._count:  # record j must span exactly [pos, pos + n): _key_span
            prev, end = _U32_PAIR.unpack_from(payload, self._key_ends_at + 4 * j - 4)
            found = kb + prev + j * gap == pos and end - prev == n
        else:
            found = j == 0 and pos == kb and U32.unpack_from(payload, self._key_ends_at)[0] == n
        if not found:
            j = self.find(key)
            if j < 0:
                return None
        limit = (snapshot_seq + 1) << 8
        while True:
            tag = U64.unpack_from(payload, _HEAD.size + 8 * j)[0]
            if tag < limit:
                break
            j += 1  # an older version of the key, if record j+1 holds the key too
            if j == self._count or not self._key_is(j, key):
                return None
        if j:
            start, end = _U32_PAIR.unpack_from(payload, self._value_ends_at + 4 * j - 4)
        else:
            start, end = 0, U32.unpack_from(payload, self._value_ends_at)[0]
        return tag >> 8, tag & 0xFF, payload[vb + start : vb + end]

    def find(self, key: bytes) -> int:
        """Index of the first (newest) record of `key`, or -1.

        Fast path: the first occurrence of `key` in the joined keys, whose record index is
        guessed as if every key before it had `key`'s length (exact for fixed-size keys)
        or else from the separators before it, and confirmed if that record spans exactly
        that occurrence (then no earlier record can be `key`: it would occur earlier). Any
        other case (a substring of a longer key, keys of mixed lengths) bisects the keys.
        """
        payload, kb = self._payload, self._key_base
        pos = payload.find(key, kb, self._value_base)
        if pos < 0:
            return -1
        n = len(key)
        if n + self._gap:
            j = (pos - kb) // (n + self._gap)
            if 0 <= j < self._count and self._spans(j, pos, n):
                return j
            if self._gap:
                j = payload.count(self._sep_byte, kb, pos)
                if j < self._count and self._spans(j, pos, n):
                    return j
        keys = self.keys
        j = bisect_left(keys, key)
        return j if j < len(keys) and keys[j] == key else -1

    def _key_span(self, j: int) -> tuple[int, int]:
        """(payload offset, length) of record j's key."""
        if j:
            prev, end = _U32_PAIR.unpack_from(self._payload, self._key_ends_at + 4 * j - 4)
        else:
            prev, end = 0, U32.unpack_from(self._payload, self._key_ends_at)[0]
        return self._key_base + prev + j * self._gap, end - prev  # j separators before key j

    def _spans(self, j: int, pos: int, length: int) -> bool:
        """Whether record j's key is the `length` bytes at payload offset `pos`."""
        return self._key_span(j) == (pos, length)

    def _key_is(self, j: int, key: bytes) -> bool:
        """Whether record j's key is `key`."""
        start, length = self._key_span(j)
        return length == len(key) and self._payload.startswith(key, start)

    def __contains__(self, key: bytes) -> bool:
        return self.find(key) >= 0

    @property
    def keys(self) -> list[bytes]:
        """The keys in order, split now (not kept: see the class docstring)."""
        blob = self._payload[self._key_base : self._value_base]
        if self._sep_byte:
            return blob.split(self._sep_byte) if self._count else []
        key_ends = _array("I", self._count).unpack_from(self._payload, self._key_ends_at)
        return [blob[a:b] for a, b in zip((0, *key_ends), key_ends, strict=False)]

    def tag(self, i: int) -> int:
        """seq << 8 | kind of record i."""
        return U64.unpack_from(self._payload, _HEAD.size + 8 * i)[0]

    def value(self, i: int) -> bytes:
        base = self._value_base
        if i:
            start, end = _U32_PAIR.unpack_from(self._payload, self._value_ends_at + 4 * i - 4)
            return self._payload[base + start : base + end]
        return self._payload[base : base + U32.unpack_from(self._payload, self._value_ends_at)[0]]

    @property
    def tags(self) -> tuple[int, ...]:
        return _array("Q", self._count).unpack_from(self._payload, _HEAD.size)

    @property
    def values(self) -> list[bytes]:
        return self.columns()[2]

    def records(self, start: int = 0) -> Iterator[tuple[bytes, int, int, bytes]]:
        """(key, seq, kind, value) of records start.. in order; arrays unpacked once."""
        keys, payload, base = self.keys, self._payload, self._value_base
        tags = self.tags
        bounds = (0, *_array("I", len(keys)).unpack_from(payload, self._value_ends_at))
        for i in range(start, len(keys)):
            tag = tags[i]
            yield keys[i], tag >> 8, tag & 0xFF, payload[base + bounds[i] : base + bounds[i + 1]]

    def columns(self, start: int = 0) -> tuple[list[bytes], list[int], list[bytes]]:
        """(keys, tags, values) of records start.. as lists, sliced in C (the batched scans
        and merges of iterators.py)."""
        keys, payload, base = self.keys, self._payload, self._value_base
        n = len(keys)
        ends = _array("I", n).unpack_from(payload, self._value_ends_at)
        blob = payload[base:]
        starts = (0, *ends[:-1]) if n else ()
        if start:
            keys, starts, ends = keys[start:], starts[start:], ends[start:]
        tags = _array("Q", n).unpack_from(payload, _HEAD.size)[start:]
        return keys, list(tags), list(map(blob.__getitem__, map(slice, starts, ends)))

    def __len__(self) -> int:
        return self._count


def _separator(keys_blob: bytes) -> int:
    """A byte value absent from every key of the block, or NO_SEPARATOR."""
    for value in range(256):
        if _SEPARATOR_BYTES[value] not in keys_blob:
            return value
    return NO_SEPARATOR


def encode_records(tags: list[int], keys: list[bytes], values: list[bytes]) -> bytes:
    """Serialise parallel lists into a `records` payload (REQUIRES: equal lengths)."""
    key_ends = list(accumulate(map(len, keys)))
    value_ends = list(accumulate(map(len, values)))
    return encode_block(tags, keys, values, key_ends, value_ends)[0]


def encode_block(
    tags: list[int],
    keys: list[bytes],
    values: list[bytes],
    key_ends: list[int],
    value_ends: list[int],
    separator_hint: int = -1,
) -> tuple[bytes, int]:
    """encode_records with the running key/value length totals given (the builder has the
    lengths already) -> (payload, separator). `separator_hint`, the separator of the previous
    block, is tried first: one join and one count instead of a search over byte values and
    a second join (keys of one table tend to leave the same byte unused). Without a hint the
    separator is the lowest byte value no key holds."""
    count = len(keys)
    hint = _SEPARATOR_BYTES[separator_hint] if 0 <= separator_hint <= 255 else b""
    blob = hint.join(keys) if hint and count else b""
    if blob and blob.count(hint) == count - 1:
        separator = separator_hint
    else:
        joined = b"".join(keys)
        separator = _separator(joined) if count else NO_SEPARATOR
        blob = joined if separator == NO_SEPARATOR else _SEPARATOR_BYTES[separator].join(keys)
    array = _array("I", count)
    payload = b"".join(
        (
            _HEAD.pack(count, separator),
            _array("Q", count).pack(*tags),
            array.pack(*key_ends),
            array.pack(*value_ends),
            blob,
            *values,
        )
    )
    return payload, separator


def decode_records(payload: bytes, path: str = "<block>", offset: int = 0) -> DecodedBlock:
    """Parse a `records` payload; raises CorruptionError if its arrays do not fit."""
    try:
        count, separator = _HEAD.unpack_from(payload, 0)
        key_ends_at = _HEAD.size + 8 * count
        key_base = key_ends_at + 8 * count
        if count:
            key_bytes = U32.unpack_from(payload, key_ends_at + 4 * count - 4)[0]
            value_bytes = U32.unpack_from(payload, key_base - 4)[0]
        else:
            key_bytes = value_bytes = 0
    except struct.error as exc:
        raise CorruptionError(path, offset, f"bad block layout ({exc})") from exc
    split = count and separator != NO_SEPARATOR
    value_base = key_base + key_bytes + (count - 1 if split else 0)
    end = value_base + value_bytes
    if end != len(payload) or (separator > 255 and separator != NO_SEPARATOR):
        raise CorruptionError(
            path, offset, f"block arrays describe {end} bytes but the block has {len(payload)}"
        )
    if split and payload.count(_SEPARATOR_BYTES[separator], key_base, value_base) != count - 1:
        # a separator inside a key would shift every key after it: refuse the block
        keys = payload[key_base:value_base].split(_SEPARATOR_BYTES[separator])
        raise CorruptionError(path, offset, f"{len(keys)} keys in a block of {count}")
    return DecodedBlock(payload, count, separator, key_base, value_base)


def seal_block(payload: bytes, compress: bool) -> bytes:
    """payload (maybe LZ4-compressed) + type byte + CRC-32, ready to append to the file."""
    block_type = BLOCK_RAW
    if compress and payload:
        packed = lz4.block.compress(payload, store_size=True)
        if len(packed) <= len(payload) - (len(payload) >> _MIN_SAVING_SHIFT):
            payload, block_type = packed, BLOCK_LZ4
    type_byte = bytes((block_type,))
    return payload + TRAILER.pack(block_type, crc32(type_byte, crc32(payload)))


def unseal_block(path: str, offset: int, stored: bytes, size: int) -> bytes:
    """Check a block's length, CRC and type and return its uncompressed payload.

    `stored` is what pread returned for `size + TRAILER_SIZE` bytes at `offset`.
    """
    if len(stored) != size + TRAILER_SIZE:
        raise LengthPastEndError(
            path, offset, f"block of {size}+{TRAILER_SIZE} bytes runs past the end of the file"
        )
    block_type, expected = TRAILER.unpack_from(stored, size)
    view = memoryview(stored)  # checksum and decompress without copying the block
    if crc32(view[: size + 1]) != expected:
        raise ChecksumMismatchError(path, offset, "block checksum mismatch")
    if block_type == BLOCK_RAW:
        return stored[:size]
    if block_type == BLOCK_LZ4:
        try:
            return lz4.block.decompress(view[:size])
        except lz4.block.LZ4BlockError as exc:
            raise CorruptionError(path, offset, f"LZ4 block does not decompress ({exc})") from exc
    raise CorruptionError(path, offset, f"unknown block type {block_type}")
