"""storage.coding: varints, fixed-width ints, CRC-32."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.coding import (
    crc32,
    decode_fixed32,
    decode_fixed64,
    decode_length_prefixed,
    decode_varint,
    encode_fixed32,
    encode_fixed64,
    encode_length_prefixed,
    encode_varint,
)

VARINTS = [
    (0, b"\x00"),
    (1, b"\x01"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (300, b"\xac\x02"),
    (16383, b"\xff\x7f"),
    (16384, b"\x80\x80\x01"),
    ((1 << 64) - 1, b"\xff" * 9 + b"\x01"),
]


@pytest.mark.parametrize(("value", "encoded"), VARINTS)
def test_varint_known_encodings(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(encoded) == (value, len(encoded))


@given(st.integers(min_value=0, max_value=(1 << 64) - 1), st.binary(max_size=8))
def test_varint_round_trips_at_an_offset(value: int, prefix: bytes) -> None:
    data = prefix + encode_varint(value) + b"tail"
    assert decode_varint(data, len(prefix)) == (value, len(data) - 4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "past the end"),
        (b"\x80", "past the end"),
        (b"\xff\xff", "past the end"),
        (b"\xff" * 11, "longer than 10 bytes"),
    ],
)
def test_varint_decode_rejects_bad_bytes(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_varint(data)


def test_varint_rejects_negative() -> None:
    with pytest.raises(ValueError):
        encode_varint(-1)


@pytest.mark.parametrize(
    ("value", "encode", "decode", "encoded"),
    [
        (0x01020304, encode_fixed32, decode_fixed32, b"\x04\x03\x02\x01"),
        (0xFFFFFFFF, encode_fixed32, decode_fixed32, b"\xff\xff\xff\xff"),
        (0x0102030405060708, encode_fixed64, decode_fixed64, bytes(range(8, 0, -1))),
    ],
)
def test_fixed_ints_are_little_endian(
    value: int, encode: Callable[[int], bytes], decode: Callable[..., int], encoded: bytes
) -> None:
    assert encode(value) == encoded
    assert decode(b"xx" + encoded, 2) == value


@given(st.binary(max_size=300))
def test_length_prefixed_round_trips(data: bytes) -> None:
    encoded = encode_length_prefixed(data) + b"more"
    assert decode_length_prefixed(encoded) == (data, len(encoded) - 4)


def test_length_prefixed_past_end_raises() -> None:
    with pytest.raises(ValueError, match="past the end"):
        decode_length_prefixed(encode_varint(10) + b"short")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"123456789", 0xCBF43926),  # the CRC-32/IEEE check value
        (b"a", 0xE8B7BE43),
    ],
)
def test_crc32_is_ieee(data: bytes, expected: int) -> None:
    assert crc32(data) == expected


def test_crc32_continues_from_start() -> None:
    assert crc32(b"6789", crc32(b"12345")) == crc32(b"123456789")
