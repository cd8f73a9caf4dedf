"""storage.sstable.bloom: no false negatives, ~1% false positives at 10 bits/key, stable bits."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.sstable.bloom import BloomFilter, build_filter, probes_for


def _filter(keys: list[bytes], bits_per_key: int = 10) -> BloomFilter:
    return BloomFilter(build_filter(keys, len(keys), bits_per_key))


@pytest.mark.parametrize(("bits_per_key", "probes"), [(1, 1), (5, 3), (10, 7), (20, 14), (64, 30)])
def test_probe_count_is_bits_times_ln2_clamped(bits_per_key: int, probes: int) -> None:
    assert probes_for(bits_per_key) == probes


@given(st.lists(st.binary(max_size=40), max_size=200, unique=True))
def test_no_false_negatives(keys: list[bytes]) -> None:
    bloom = _filter(keys)
    assert all(bloom.may_contain(k) for k in keys)


KEY_SHAPES = {
    "sequential": lambda i: b"user:%08d" % i,
    "random": lambda i: random.Random(i).randbytes(16),
    "big-endian ints": lambda i: i.to_bytes(8, "big"),
}


@pytest.mark.parametrize("shape", KEY_SHAPES)
def test_false_positive_rate_near_one_percent(shape: str) -> None:
    make = KEY_SHAPES[shape]
    bloom = _filter([make(i) for i in range(20_000)])
    probes = [make(i) for i in range(1_000_000, 1_050_000)]
    rate = sum(map(bloom.may_contain, probes)) / len(probes)
    assert 0.002 < rate < 0.015, rate


def test_more_bits_fewer_false_positives() -> None:
    keys = [b"k%d" % i for i in range(5_000)]
    probes = [b"p%d" % i for i in range(20_000)]
    rates = [sum(map(_filter(keys, bpk).may_contain, probes)) for bpk in (4, 10, 16)]
    assert rates[0] > rates[1] > rates[2]


def test_empty_filter_block_matches_everything() -> None:
    # A filter with no bits must never claim "absent" (that would lose data).
    assert BloomFilter(b"").may_contain(b"anything")


def test_filter_of_no_keys_matches_nothing() -> None:
    bloom = _filter([])
    assert not any(bloom.may_contain(b"k%d" % i) for i in range(100))


def test_filter_layout_is_stable() -> None:
    """The hash scheme is on disk: these bytes must not change without a format version."""
    data = build_filter([b"a", b"b", b"c"], 3, 10)
    assert len(data) == 8 + 1  # 64 bits minimum, then the probe count
    assert data[-1] == 7
    assert data.hex() == GOLDEN_FILTER


GOLDEN_FILTER = "08225045208cb85207"


def _documented_bits(keys: list[bytes], nbits: int, probes: int) -> set[int]:
    """The scheme exactly as bloom.py's docstring and docs/formats/sstable.md state it."""
    import zlib

    out = set()
    for key in keys:
        h = zlib.crc32(key)
        p = (h * 0x9E3779B1) % 2**32
        delta = (((p << 17) | (p >> 15)) % 2**32) | 1
        out.update((h + i * delta) % nbits for i in range(probes))
    return out


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=50, unique=True))
def test_filter_matches_documented_scheme(keys: list[bytes]) -> None:
    data = build_filter(keys, len(keys), 10)
    nbits = 8 * (len(data) - 1)
    set_bits = {i for i in range(nbits) if data[i >> 3] >> (i & 7) & 1}
    assert set_bits == _documented_bits(keys, nbits, data[-1])


# -- version 2: the blocked filter ----------------------------------------------------------

from storage.sstable.bloom import (  # noqa: E402
    BLOCK_BITS,
    BlockedBloomFilter,
    build_blocked_filter,
)


def _blocked(keys: list[bytes], bits_per_key: int = 10) -> BlockedBloomFilter:
    return BlockedBloomFilter(build_blocked_filter(keys, len(keys), bits_per_key))


@given(st.lists(st.binary(max_size=40), max_size=300, unique=True))
def test_blocked_no_false_negatives(keys: list[bytes]) -> None:
    bloom = _blocked(keys)
    assert all(bloom.may_contain(k) for k in keys)


@pytest.mark.parametrize("shape", KEY_SHAPES)
def test_blocked_false_positive_rate_near_one_percent(shape: str) -> None:
    make = KEY_SHAPES[shape]
    bloom = _blocked([make(i) for i in range(20_000)])
    probes = [make(i) for i in range(1_000_000, 1_050_000)]
    rate = sum(map(bloom.may_contain, probes)) / len(probes)
    assert 0.002 < rate < 0.02, rate


def test_blocked_more_bits_fewer_false_positives() -> None:
    keys = [b"k%d" % i for i in range(5_000)]
    probes = [b"p%d" % i for i in range(20_000)]
    rates = [sum(map(_blocked(keys, bpk).may_contain, probes)) for bpk in (4, 10, 16)]
    assert rates[0] > rates[1] > rates[2]


def test_blocked_unknown_or_empty_filter_matches_everything() -> None:
    for data in (b"", b"\x01", bytes(64) + b"\x07", bytes(65) + b"\x01"):
        assert BlockedBloomFilter(data).may_contain(b"anything")


def test_blocked_filter_of_no_keys_matches_nothing() -> None:
    bloom = _blocked([])
    assert not any(bloom.may_contain(b"k%d" % i) for i in range(100))


def _documented_blocked(keys: list[bytes], nblocks: int) -> list[int]:
    """Version 2 exactly as bloom.py and docs/formats/sstable.md state it."""
    import zlib

    def mix(v: int) -> int:
        v = v * 0x9E3779B1 % 2**32
        v ^= v >> 15
        v = v * 0x85EBCA6B % 2**32
        return v ^ (v >> 13)

    def pattern(base: int, count: int) -> int:
        return sum({1 << (mix(base + j) % 512) for j in range(count)})

    blocks = [0] * nblocks
    for key in keys:
        h = zlib.crc32(key)
        p = h * 0x9E3779B1 % 2**32
        blocks[h % nblocks] |= pattern(8 * (p >> 20), 3) | pattern(
            2**20 + 8 * ((p >> 8) & 0xFFF), 4
        )
    return blocks


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=120, unique=True))
def test_blocked_filter_matches_documented_scheme(keys: list[bytes]) -> None:
    data = build_blocked_filter(keys, len(keys), 10)
    assert BLOCK_BITS == 512 and data[-1] == 1
    nblocks = (len(data) - 1) // 64
    assert nblocks == max(1, -(-len(keys) * 10 // 512))
    got = [int.from_bytes(data[i * 64 : (i + 1) * 64], "little") for i in range(nblocks)]
    assert got == _documented_blocked(keys, nblocks)


def test_blocked_filter_layout_is_stable() -> None:
    """On disk since SSTable format version 2: these bytes must not change."""
    data = build_blocked_filter([b"a", b"b", b"c"], 3, 10)
    assert len(data) == 64 + 1
    assert data.hex() == GOLDEN_BLOCKED_FILTER


GOLDEN_BLOCKED_FILTER = (
    "00008000040400000000000100000000000080200050400000000000000040008100008000030000"
    "00000000400400002001000080000000001000000000000001"
)
