"""Record blocks (data and index): encode/decode, seal with type byte + CRC, open.

A block is columnar (see `records` in format.py): a count, then the u64 tags, key end
offsets and value end offsets as packed arrays, then all keys and all values back to back.
Why not LevelDB's prefix-compressed entries with restart points: in Python every varint
costs a bytecode loop, while this layout decodes with three `struct.unpack_from` calls and
two list comprehensions of slices (~5 µs for a 4 KiB block), and LZ4 already removes the
shared-prefix redundancy that prefix compression would. The decoded block (keys list for
`bisect`, tags tuple, values list) is what the block cache holds.
"""

from __future__ import annotations

import struct
from itertools import accumulate

import lz4.block

from storage.coding import U32, crc32
from storage.errors import ChecksumMismatchError, CorruptionError, LengthPastEndError
from storage.sstable.format import BLOCK_LZ4, BLOCK_RAW, TRAILER, TRAILER_SIZE

#: A compressed block is kept only when it saves at least 1/8 of the raw size (LevelDB's
#: rule): below that the decompression on every read costs more than the bytes saved.
_MIN_SAVING_SHIFT = 3
#: Approximate Python bytes per decoded record (two bytes objects and three list/tuple
#: slots) on top of the payload, so the block cache's byte budget tracks real memory.
RECORD_OVERHEAD = 90

_ARRAY_STRUCTS: dict[tuple[str, int], struct.Struct] = {}


def _array(code: str, count: int) -> struct.Struct:
    """A cached Struct for `count` little-endian items of `code` (struct's own cache is 100)."""
    key = (code, count)
    found = _ARRAY_STRUCTS.get(key)
    if found is None:
        found = _ARRAY_STRUCTS[key] = struct.Struct(f"<{count}{code}")
    return found


class DecodedBlock:
    """A block's records as parallel sequences; immutable by convention, shared by threads."""

    __slots__ = ("charge", "keys", "tags", "values")

    def __init__(self, keys: list[bytes], tags: tuple[int, ...], values: list[bytes], charge: int):
        self.keys = keys
        self.tags = tags
        self.values = values
        #: approximate bytes of memory held, for the block cache.
        self.charge = charge

    def __len__(self) -> int:
        return len(self.keys)


def encode_records(tags: list[int], keys: list[bytes], values: list[bytes]) -> bytes:
    """Serialise parallel lists into a `records` payload (REQUIRES: equal lengths)."""
    count = len(keys)
    return b"".join(
        (
            U32.pack(count),
            _array("Q", count).pack(*tags),
            _array("I", count).pack(*accumulate(map(len, keys))),
            _array("I", count).pack(*accumulate(map(len, values))),
            *keys,
            *values,
        )
    )


def decode_records(payload: bytes, path: str = "<block>", offset: int = 0) -> DecodedBlock:
    """Parse a `records` payload; raises CorruptionError if its arrays do not fit."""
    try:
        count = U32.unpack_from(payload, 0)[0]
        pos = 4 + 8 * count
        tags = _array("Q", count).unpack_from(payload, 4)
        key_ends = _array("I", count).unpack_from(payload, pos)
        value_ends = _array("I", count).unpack_from(payload, pos + 4 * count)
    except struct.error as exc:
        raise CorruptionError(path, offset, f"bad block layout ({exc})") from exc
    key_base = pos + 8 * count
    value_base = key_base + (key_ends[-1] if count else 0)
    end = value_base + (value_ends[-1] if count else 0)
    if end != len(payload):
        raise CorruptionError(
            path, offset, f"block arrays describe {end} bytes but the block has {len(payload)}"
        )
    keys_blob = payload[key_base:value_base]
    values_blob = payload[value_base:]
    keys = [keys_blob[a:b] for a, b in zip((0, *key_ends), key_ends, strict=False)]
    values = [values_blob[a:b] for a, b in zip((0, *value_ends), value_ends, strict=False)]
    return DecodedBlock(keys, tags, values, len(payload) + count * RECORD_OVERHEAD)


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
    if crc32(stored[: size + 1]) != expected:
        raise ChecksumMismatchError(path, offset, "block checksum mismatch")
    if block_type == BLOCK_RAW:
        return stored[:size]
    if block_type == BLOCK_LZ4:
        try:
            return lz4.block.decompress(stored[:size])
        except lz4.block.LZ4BlockError as exc:
            raise CorruptionError(path, offset, f"LZ4 block does not decompress ({exc})") from exc
    raise CorruptionError(path, offset, f"unknown block type {block_type}")
