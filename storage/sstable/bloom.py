"""Bloom filter over a table's user keys (Bloom 1970; double hashing per Kirsch &
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
These hash rules are on disk: changing them needs a new format version.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

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


def key_hash(key: bytes) -> tuple[int, int]:
    """(h, delta) of `key`: the same for every filter, so a point read that probes several
    tables hashes the key once (`may_contain_hash`) instead of once per table."""
    h = zlib.crc32(key)
    p = (h * _GOLDEN) & _MASK32
    return h, (((p >> 15) | (p << 17)) & _MASK32) | 1


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
        h, delta = key_hash(key)
        return self.may_contain_hash(h, delta)

    def may_contain_hash(self, h: int, delta: int) -> bool:
        """`may_contain` for a key whose `key_hash` is (h, delta)."""
        nbits = self._nbits
        if not nbits:
            return True
        bits = self._bits
        for _ in range(self._probes):
            pos = h % nbits
            if not bits[pos >> 3] & (1 << (pos & 7)):
                return False
            h += delta
        return True
