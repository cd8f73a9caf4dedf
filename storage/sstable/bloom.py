"""Bloom filters over a table's user keys (Bloom 1970; double hashing per Kirsch &
Mitzenmacher 2006, "Less hashing, same performance", as LevelDB's filter does).

    bloom := bits: bytes[m/8], probes: u8          # m = 8 * len(bits); bit p = bits[p>>3] >> (p&7)

Probe i of a key sets bit (h + i*delta) mod m, where
    h     = zlib.crc32(key)                                 (u32)
    delta = rotl32(h * 0x9E3779B1 mod 2^32, 17) | 1         (Fibonacci-hash mix of h, odd)
Both hashes derive from one C-speed CRC call, so a query is one C call plus `probes`
integer steps. Measured on 100k keys at 10 bits/key, 7 probes: 0.76-0.82% false positives
(theory: 0.82%) for sequential and random keys; ~1.5M queries/s and ~1M keys/s to build
on an idle core.
(LevelDB's rotate-by-15 delta on a CRC gave 2.1%: CRC is linear, so it needs the mix.)
These hash rules are on disk (SSTable format version 1, still read; version 2 tables use the
blocked filter at the end of this module): changing them needs a new format version.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from itertools import repeat
from operator import and_, mod, mul, or_, rshift

_GOLDEN = 0x9E3779B1
_MASK32 = 0xFFFFFFFF
_MAX_PROBES = 30
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def probes_for(bits_per_key: int) -> int:
    """Optimal probe count k = bits_per_key * ln 2, clamped to 1..30."""
    return max(1, min(_MAX_PROBES, round(bits_per_key * math.log(2))))


def build_filter(keys: Iterable[bytes], count: int, bits_per_key: int) -> bytes:
    """Filter bytes (bits then the probe-count byte) for `count` distinct keys.

    Bits are first set in a one-byte-per-bit scratch array (a plain store is ~30% faster
    in CPython than `bits[p >> 3] |= mask`), then packed in C via int(..., 2); the scratch
    costs `count * bits_per_key` bytes while finish() runs.
    """
    probes = probes_for(bits_per_key)
    nbits = max(64, count * bits_per_key)
    nbits = (nbits + 7) & ~7
    flags = bytearray(nbits)
    crc = zlib.crc32
    for key in keys:
        h = crc(key)
        p = (h * _GOLDEN) & _MASK32
        delta = (((p >> 15) | (p << 17)) & _MASK32) | 1
        for _ in range(probes):
            flags[h % nbits] = 1
            h += delta
    # flags[i] is bit i; reversed as a base-2 string it is the little-endian integer.
    as_digits = flags.translate(_TO_DIGITS)[::-1]
    return int(as_digits, 2).to_bytes(nbits >> 3, "little") + bytes((probes,))


def key_hash(key: bytes) -> tuple[int, int, int]:
    """(h, p, bits) of `key`: the same for every filter, so a point read that probes several
    tables hashes the key once (`may_contain_hashed`) instead of once per table. h is the
    CRC, p its Fibonacci mix, bits the key's pattern in a version-2 filter's block (below)."""
    h = zlib.crc32(key)
    p = (h * _GOLDEN) & _MASK32
    return h, p, PATTERN_A[p >> 20] | PATTERN_B[(p >> 8) & _PATTERN_MASK]


class BloomFilter:
    """A read-only filter; `may_contain` is safe from any number of threads."""

    __slots__ = ("_bits", "_nbits", "_probes")

    def __init__(self, data: bytes) -> None:
        if len(data) < 2:
            # An empty or missing filter must never say "absent": treat it as match-all.
            self._bits = b""
            self._nbits = 0
            self._probes = 0
            return
        self._bits = data[:-1]
        self._nbits = 8 * (len(data) - 1)
        self._probes = data[-1]

    @property
    def probes(self) -> int:
        return self._probes

    @property
    def size_bits(self) -> int:
        return self._nbits

    def may_contain(self, key: bytes) -> bool:
        """False means the key is certainly absent; True means it may be present."""
        return self.may_contain_hashed(key_hash(key))

    def may_contain_hashed(self, hashed: tuple[int, int, int]) -> bool:
        """`may_contain` for a key whose `key_hash` is `hashed`."""
        nbits = self._nbits
        if not nbits:
            return True
        h, p, _ = hashed
        delta = (((p >> 15) | (p << 17)) & _MASK32) | 1
        bits = self._bits
        for _ in range(self._probes):
            pos = h % nbits
            if not bits[pos >> 3] & (1 << (pos & 7)):
                return False
            h += delta
        return True


# -- format version 2: a blocked bloom filter ------------------------------------------------
#
# Building the filter above costs a Python loop of `probes` (7) stores per key: ~0.9-1.6 us
# per key, the largest single cost left in a flush or a merge once blocks are built in bulk.
# Version 2 tables use a blocked filter (Putze, Sanders & Singler 2007, "Cache-, hash- and
# space-efficient bloom filters"; RocksDB's format_version=5 filter is one too): every key
# sets its bits within ONE 512-bit block, and its bit pattern is the OR of two patterns looked
# up in two fixed tables, so building is one `|=` per key and a query one AND. Measured:
# build ~0.25 us per key, false positives ~1.2% at 10 bits/key (the classic filter: 0.8%).
#
#     filter := blocks: bytes[64 * n], layout: u8 = 1      # n = max(1, ceil(keys*bpk / 512))
#     p      = zlib.crc32(key) * 0x9E3779B1 mod 2^32;  block = crc32(key) mod n
#     bits   = PATTERN_A[p >> 20] | PATTERN_B[(p >> 8) & 0xFFF]      (block-relative, LSB first)
#     PATTERN_A[x] = OR of 1 << (mix(8x + j) mod 512)              for j in 0..2
#     PATTERN_B[y] = OR of 1 << (mix(2^20 + 8y + j) mod 512)       for j in 0..3
#     mix(v) = v * 0x9E3779B1, then ^= >> 15, * 0x85EBCA6B, ^= >> 13 (all mod 2^32)
#
# These tables and rules are on disk (SSTable format version 2).

BLOCK_BITS = 512
_BLOCK_BYTES = BLOCK_BITS // 8
#: the trailing byte of a version-2 filter.
BLOCKED_LAYOUT = 1
_PATTERN_BITS = 12
_PATTERN_MASK = (1 << _PATTERN_BITS) - 1


def _mix(v: int) -> int:
    v = (v * _GOLDEN) & _MASK32
    v ^= v >> 15
    v = (v * 0x85EBCA6B) & _MASK32
    return v ^ (v >> 13)


def _patterns(salt: int, bits: int) -> list[int]:
    table = []
    for x in range(1 << _PATTERN_BITS):
        pattern = 0
        for j in range(bits):
            pattern |= 1 << (_mix(salt + 8 * x + j) % BLOCK_BITS)
        table.append(pattern)
    return table


PATTERN_A = _patterns(0, 3)
PATTERN_B = _patterns(1 << 20, 4)


def build_blocked_filter(keys: Iterable[bytes], count: int, bits_per_key: int) -> bytes:
    """Version-2 filter bytes for `count` distinct keys (the block index and both pattern
    indexes are computed by C-level maps; the Python loop is one OR per key)."""
    nblocks = max(1, (count * bits_per_key + BLOCK_BITS - 1) // BLOCK_BITS)
    hs = list(map(zlib.crc32, keys))
    ps = list(map(and_, map(mul, hs, repeat(_GOLDEN)), repeat(_MASK32)))
    first = map(PATTERN_A.__getitem__, map(rshift, ps, repeat(32 - _PATTERN_BITS)))
    second = map(
        PATTERN_B.__getitem__, map(and_, map(rshift, ps, repeat(8)), repeat(_PATTERN_MASK))
    )
    blocks = [0] * nblocks
    for i, bits in zip(map(mod, hs, repeat(nblocks)), map(or_, first, second), strict=True):
        blocks[i] |= bits
    return b"".join([block.to_bytes(_BLOCK_BYTES, "little") for block in blocks]) + bytes(
        (BLOCKED_LAYOUT,)
    )


class BlockedBloomFilter:
    """A read-only version-2 filter (the blocks as ints: one AND per query)."""

    __slots__ = ("_blocks", "_n")

    def __init__(self, data: bytes) -> None:
        size = len(data) - 1
        if size < _BLOCK_BYTES or size % _BLOCK_BYTES or data[-1] != BLOCKED_LAYOUT:
            # A missing or unknown filter must never say "absent": match everything.
            self._blocks: list[int] = []
            self._n = 0
            return
        view = memoryview(data)
        self._blocks = [
            int.from_bytes(view[i : i + _BLOCK_BYTES], "little")
            for i in range(0, size, _BLOCK_BYTES)
        ]
        self._n = len(self._blocks)

    @property
    def size_bits(self) -> int:
        return self._n * BLOCK_BITS

    def may_contain(self, key: bytes) -> bool:
        return self.may_contain_hashed(key_hash(key))

    def may_contain_hashed(self, hashed: tuple[int, int, int]) -> bool:
        """`may_contain` for a key whose `key_hash` is `hashed` (its pattern is in it)."""
        if not self._n:
            return True
        h, _, bits = hashed
        return self._blocks[h % self._n] & bits == bits
