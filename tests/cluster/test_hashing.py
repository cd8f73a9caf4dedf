"""Key -> slot mapping checked against values answered by a real redis-server (CLUSTER KEYSLOT)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from respdyn.cluster.hashing import SLOTS, crc16, hash_tag, key_slot

# (key, slot) pairs answered by `redis-cli CLUSTER KEYSLOT <key>` (redis-server 7, cluster mode).
REDIS_KEYSLOT = [
    (b"foo", 12182),
    (b"bar", 5061),
    (b"{user1000}.following", 3443),
    (b"{user1000}.followers", 3443),
    (b"", 0),
    (b"a", 15495),
    (b"foo{}{bar}", 8363),  # empty first tag: whole key hashed
    (b"foo{{bar}}zap", 4015),  # tag is "{bar"
    (b"foo{bar}{zap}", 5061),  # first tag only: slot of "bar"
    (b"{}", 15257),
    (b"{", 4092),
    (b"}", 12090),
    (b"{a", 10276),
    (b"a}{", 7586),
    (b"user:1", 10778),
    (b"hello world", 15332),
    (b"{}}", 14790),
    (b"{{}", 4092),  # tag is "{", same slot as the key "{"
    (b"x{}y{z}", 15453),
    (b"123456789", 12739),
    (b"bin\x00\xff{\x01}", 4129),  # binary-safe; tag is b"\x01"
    (b"\x00", 0),
    (b"\xff\xfe\xfd", 287),
    (b"{\x00}abc", 0),
    (b"a" * 1000, 6383),
    ("ключ".encode(), 10303),
    (b"{}{x}", 3257),  # empty first tag: whole key, not "x"
    (b"{{x}}", 11068),
]


@pytest.mark.parametrize(("key", "slot"), REDIS_KEYSLOT)
def test_key_slot_matches_redis(key: bytes, slot: int) -> None:
    assert key_slot(key) == slot


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        (b"plain", b"plain"),
        (b"{user1000}.following", b"user1000"),
        (b"foo{}{bar}", b"foo{}{bar}"),
        (b"foo{{bar}}zap", b"{bar"),
        (b"foo{bar}{zap}", b"bar"),
        (b"{", b"{"),
        (b"no}open{", b"no}open{"),
    ],
)
def test_hash_tag(key: bytes, tag: bytes) -> None:
    assert hash_tag(key) == tag


def test_crc16_check_value() -> None:
    assert crc16(b"123456789") == 0x31C3
    assert crc16(b"") == 0


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _table()


def crc16_reference(data: bytes) -> int:
    """Table-driven CRC-16/XMODEM, the shape of Redis' crc16.c (an oracle for binascii)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


@given(st.binary(max_size=200))
def test_crc16_matches_table_reference(data: bytes) -> None:
    assert crc16(data) == crc16_reference(data)


@given(st.binary(max_size=64))
def test_slot_in_range_and_tag_consistent(key: bytes) -> None:
    slot = key_slot(key)
    assert 0 <= slot < SLOTS
    assert slot == crc16(hash_tag(key)) % SLOTS
