"""storage.sstable.block: columnar record blocks, sealing (LZ4/raw + CRC) and opening."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.errors import ChecksumMismatchError, CorruptionError, LengthPastEndError
from storage.sstable.block import (
    NO_SEPARATOR,
    decode_records,
    encode_records,
    seal_block,
    unseal_block,
)
from storage.sstable.format import BLOCK_LZ4, BLOCK_RAW, TRAILER, TRAILER_SIZE

RECORD_SETS = {
    "empty": ([], [], []),
    "one": ([5 << 8 | 1], [b"k"], [b"v"]),
    "empty key and value": ([1 << 8], [b""], [b""]),
    "versions of one key": (
        [9 << 8 | 1, 7 << 8, 3 << 8 | 1],
        [b"a", b"a", b"a"],
        [b"x", b"", b"y"],
    ),
    "large value": ([1 << 8 | 1, 2 << 8 | 1], [b"a", b"b"], [os.urandom(100_000), b"z"]),
    "max seq": ([((1 << 56) - 1) << 8 | 1], [b"k"], [b"v"]),
}


@pytest.mark.parametrize("name", RECORD_SETS)
def test_records_round_trip(name: str) -> None:
    tags, keys, values = RECORD_SETS[name]
    block = decode_records(encode_records(tags, keys, values))
    assert (list(block.tags), block.keys, block.values) == (tags, keys, values)
    assert len(block) == len(keys)


any_key = st.one_of(st.binary(), st.binary(min_size=256, max_size=600))  # long keys: no free byte


@given(st.lists(st.tuples(st.integers(0, (1 << 64) - 1), any_key, st.binary()), max_size=40))
def test_records_round_trip_property(records: list[tuple[int, bytes, bytes]]) -> None:
    tags = [r[0] for r in records]
    keys = [r[1] for r in records]
    values = [r[2] for r in records]
    block = decode_records(encode_records(tags, keys, values))
    assert (list(block.tags), block.keys, block.values) == (tags, keys, values)


ALL_BYTES = bytes(range(256))


@pytest.mark.parametrize(
    ("keys", "separator"),
    [
        ([b"a", b"b"], 0),  # ASCII keys: 0x00 is free
        ([b"\x00a", b"\x00\x01"], 2),  # the first byte value no key uses
        ([b"", b"", b"x"], 0),  # empty keys survive the split
        ([ALL_BYTES[:128], ALL_BYTES[128:]], NO_SEPARATOR),  # every byte used: slice by ends
        ([ALL_BYTES, b""], NO_SEPARATOR),
    ],
)
def test_keys_are_split_on_an_unused_byte(keys: list[bytes], separator: int) -> None:
    tags = list(range(len(keys)))
    values = [b"v%d" % i for i in range(len(keys))]
    payload = encode_records(tags, keys, values)
    assert struct.unpack_from("<IH", payload)[1] == separator
    block = decode_records(payload)
    assert (block.keys, block.values) == (keys, values)


def test_wrong_separator_is_corruption() -> None:
    payload = bytearray(encode_records([1, 2], [b"xax", b"yay"], [b"", b""]))
    assert payload[4] == 0
    payload[4] = ord("a")  # claims keys are split on b"a", which occurs inside a key
    with pytest.raises(CorruptionError, match="3 keys in a block of 2"):
        decode_records(bytes(payload))
    payload[4:6] = struct.pack("<H", 300)
    with pytest.raises(CorruptionError):
        decode_records(bytes(payload))


VERSIONS = decode_records(
    encode_records(
        [9 << 8 | 1, 7 << 8, 3 << 8 | 1, 5 << 8 | 1],
        [b"a", b"a", b"a", b"b"],
        [b"a9", b"", b"a3", b"b5"],
    )
)


@pytest.mark.parametrize(
    ("key", "snapshot", "expected"),
    [
        (b"a", 100, (9, 1, b"a9")),
        (b"a", 9, (9, 1, b"a9")),
        (b"a", 8, (7, 0, b"")),
        (b"a", 6, (3, 1, b"a3")),
        (b"a", 2, None),
        (b"b", 5, (5, 1, b"b5")),  # the block's last record
        (b"b", 4, None),
        (b"", 100, None),
        (b"ab", 100, None),
        (b"c", 100, None),
    ],
)
def test_block_get_honours_snapshot(key: bytes, snapshot: int, expected: tuple | None) -> None:
    assert VERSIONS.get(key, snapshot) == expected


@pytest.mark.parametrize(
    ("key", "present"), [(b"a", True), (b"b", True), (b"", False), (b"c", False)]
)
def test_block_contains(key: bytes, present: bool) -> None:
    assert (key in VERSIONS) is present


@pytest.mark.parametrize("start", [0, 1, 3, 4])
def test_block_records_from(start: int) -> None:
    everything = [(b"a", 9, 1, b"a9"), (b"a", 7, 0, b""), (b"a", 3, 1, b"a3"), (b"b", 5, 1, b"b5")]
    assert list(VERSIONS.records(start)) == everything[start:]
    assert [VERSIONS.tag(i) for i in range(4)] == list(VERSIONS.tags)
    assert [VERSIONS.value(i) for i in range(4)] == VERSIONS.values


def test_decoded_block_charge_counts_payload_and_records() -> None:
    payload = encode_records([1, 2], [b"a", b"b"], [b"x" * 100, b"y"])
    assert decode_records(payload).charge > len(payload)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "bad block layout"),
        (b"\x05\x00\x00\x00", "bad block layout"),  # claims 5 records, has no arrays
        (encode_records([1], [b"k"], [b"v"]) + b"extra", "describe"),
        (encode_records([1], [b"k"], [b"v"])[:-1], "describe"),
    ],
)
def test_decode_rejects_inconsistent_payload(payload: bytes, reason: str) -> None:
    with pytest.raises(CorruptionError, match=reason) as info:
        decode_records(payload, "f.sst", 77)
    assert info.value.path == "f.sst"
    assert info.value.offset == 77


def _block_type(sealed: bytes) -> int:
    return TRAILER.unpack_from(sealed, len(sealed) - TRAILER_SIZE)[0]


@pytest.mark.parametrize(
    ("payload", "compress", "expected_type"),
    [
        (b"abc" * 1000, True, BLOCK_LZ4),
        (b"abc" * 1000, False, BLOCK_RAW),
        (os.urandom(4000), True, BLOCK_RAW),  # LZ4 would not shrink it
        (b"", True, BLOCK_RAW),
    ],
)
def test_seal_chooses_type_and_unseal_restores(
    payload: bytes, compress: bool, expected_type: int
) -> None:
    sealed = seal_block(payload, compress)
    assert _block_type(sealed) == expected_type
    size = len(sealed) - TRAILER_SIZE
    assert unseal_block("f.sst", 0, sealed, size) == payload
    if expected_type == BLOCK_LZ4:
        assert size < len(payload)


@pytest.mark.parametrize("position", [0, 10, -TRAILER_SIZE, -1])
def test_unseal_detects_flipped_byte(position: int) -> None:
    sealed = bytearray(seal_block(b"hello world " * 50, True))
    sealed[position] ^= 0x01
    with pytest.raises(ChecksumMismatchError) as info:
        unseal_block("f.sst", 4096, bytes(sealed), len(sealed) - TRAILER_SIZE)
    assert info.value.offset == 4096
    assert "f.sst" in str(info.value)


def test_unseal_short_read_is_length_past_end() -> None:
    sealed = seal_block(b"data" * 10, False)
    with pytest.raises(LengthPastEndError):
        unseal_block("f.sst", 12, sealed[:-3], len(sealed) - TRAILER_SIZE)


def test_unseal_unknown_type_with_valid_crc() -> None:
    from storage.coding import crc32

    payload = b"payload"
    stored = payload + TRAILER.pack(9, crc32(payload + b"\x09"))
    with pytest.raises(CorruptionError, match="unknown block type 9"):
        unseal_block("f.sst", 0, stored, len(payload))


def _model_get(records: list[tuple[bytes, int, bytes]], key: bytes, snapshot: int):
    for k, tag, value in records:
        if k == key and tag >> 8 <= snapshot:
            return tag >> 8, tag & 0xFF, value
    return None


small_key = st.one_of(st.binary(max_size=3), st.sampled_from([b"", b"\x00", b"a", b"aa", b"ab"]))


@given(
    st.lists(st.tuples(small_key, st.integers(0, 20), st.binary(max_size=3)), max_size=30),
    st.one_of(small_key, st.binary(min_size=256, max_size=300)),
    st.integers(0, 21),
    st.booleans(),
)
def test_block_get_and_find_match_a_model(
    raw: list[tuple[bytes, int, bytes]], probe: bytes, snapshot: int, no_free_byte: bool
) -> None:
    """get/find search the joined keys (sep key sep): keys that are prefixes, suffixes or
    substrings of others, empty keys, versions of a key and blocks without a separator."""
    newest: dict[tuple[bytes, int], bytes] = {(k, s): v for k, s, v in raw}
    if no_free_byte:
        newest[(ALL_BYTES, 1)] = b"all"  # every byte value used: keys are concatenated
    order = sorted(newest, key=lambda ks: (ks[0], -ks[1]))
    records = [(k, s << 8 | 1, newest[(k, s)]) for k, s in order]
    block = decode_records(
        encode_records([r[1] for r in records], [r[0] for r in records], [r[2] for r in records])
    )
    keys = [r[0] for r in records]
    for key in {probe, *keys}:
        assert block.get(key, snapshot) == _model_get(records, key, snapshot)
        assert block.find(key) == (keys.index(key) if key in keys else -1)
        assert (key in block) is (key in keys)
