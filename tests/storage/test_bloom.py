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
