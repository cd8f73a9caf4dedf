"""Byte-level helpers shared by every on-disk format in storage/ (SSTable, WAL, manifest).

Integers are little-endian. Fixed-width ints use precompiled `struct.Struct`s (C speed);
varints are LEB128 (7 bits per byte, high bit = "more"), as in LevelDB and protobuf.
Checksums are zlib's CRC-32 (IEEE 802.3 polynomial): it is implemented in C, so it costs
~1 GB/s in Python where a pure-Python CRC-32C would cost ~10 MB/s.
"""

from __future__ import annotations

import struct
import zlib

U8 = struct.Struct("<B")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")

#: largest value a u32 / u64 field can hold.
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1


def crc32(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """CRC-32 of `data`, continuing from `start` (the CRC of the bytes before it)."""
    return zlib.crc32(data, start) & 0xFFFFFFFF


def encode_fixed32(value: int) -> bytes:
    return U32.pack(value)


def decode_fixed32(data: bytes | memoryview, offset: int = 0) -> int:
    return U32.unpack_from(data, offset)[0]


def encode_fixed64(value: int) -> bytes:
    return U64.pack(value)


def decode_fixed64(data: bytes | memoryview, offset: int = 0) -> int:
    return U64.unpack_from(data, offset)[0]


def encode_varint(value: int) -> bytes:
    """LEB128 bytes of a non-negative int (any size; u64 needs at most 10 bytes)."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, not {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode the varint at `offset`; return (value, offset just past it).

    Raises ValueError when the bytes end inside the varint or it runs past 10 bytes, so a
    caller can turn that into a CorruptionError naming its file.
    """
    result = 0
    shift = 0
    end = len(data)
    while True:
        if offset >= end:
            raise ValueError("varint runs past the end of its buffer")
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, offset
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def encode_length_prefixed(data: bytes) -> bytes:
    """varint(len(data)) followed by data."""
    return encode_varint(len(data)) + data


def decode_length_prefixed(data: bytes | memoryview, offset: int = 0) -> tuple[bytes, int]:
    """Inverse of encode_length_prefixed; returns (bytes, offset just past them)."""
    length, offset = decode_varint(data, offset)
    end = offset + length
    if end > len(data):
        raise ValueError("length-prefixed bytes run past the end of their buffer")
    return bytes(data[offset:end]), end
