"""Where a Redis key lives in the storage engine's flat, ordered key space.

    data key   := "k" db: u8 slot: u16be key: bytes        (do not renumber the prefixes)
    expiry key := "x" expire_at_ms: u64be data_key: bytes

The database comes first so FLUSHDB is one range; the Redis Cluster hash slot comes next so a
partition (a run of slots) of one database is one range, which partition transfer, hinted
handoff and Merkle trees walk without touching other partitions. The expiry index is ordered by
time so the active expiry cycle reads only keys that are due.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx

from respdyn.cluster.hashing import key_slot

DATA = b"k"
EXPIRY = b"x"
DATABASES = 16
_SLOT = struct.Struct(">BH")
_DATA_HEAD = struct.Struct(">BBH")  # DATA, db, slot
_WHEN = struct.Struct(">Q")


def data_key(db: int, key: bytes) -> bytes:
    # key_slot inlined for keys without a hash tag (every request computes a data key)
    slot = key_slot(key) if b"{" in key else crc_hqx(key, 0) & 0x3FFF
    return _DATA_HEAD.pack(0x6B, db, slot) + key


def split_data_key(raw: bytes) -> tuple[int, bytes]:
    """(db, user key) of a data key."""
    return raw[1], raw[4:]


def db_range(db: int) -> tuple[bytes, bytes]:
    """[start, end) of every data key of database `db`."""
    return DATA + bytes([db]), DATA + bytes([db + 1])


def slot_range(db: int, first_slot: int, end_slot: int) -> tuple[bytes, bytes]:
    """[start, end) of the data keys of `db` whose slot is in [first_slot, end_slot)."""
    return DATA + _SLOT.pack(db, first_slot), (
        DATA + _SLOT.pack(db, end_slot) if end_slot < 16384 else DATA + bytes([db + 1])
    )


def all_data_range() -> tuple[bytes, bytes]:
    return DATA, DATA[:-1] + bytes([DATA[0] + 1])


def expiry_key(expire_at_ms: int, raw_key: bytes) -> bytes:
    return EXPIRY + _WHEN.pack(expire_at_ms) + raw_key


def split_expiry_key(raw: bytes) -> tuple[int, bytes]:
    return _WHEN.unpack_from(raw, 1)[0], raw[9:]


def expiry_index_range() -> tuple[bytes, bytes]:
    """[start, end) of every expiry entry, due or not."""
    return EXPIRY, bytes([EXPIRY[0] + 1])


def expiry_range(until_ms: int) -> tuple[bytes, bytes]:
    """[start, end) of expiry entries due at or before `until_ms`."""
    return EXPIRY, EXPIRY + _WHEN.pack(until_ms + 1)
