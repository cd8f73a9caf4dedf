"""WriteBatch: puts and deletes applied atomically (one WAL record, one sequence range).

WAL payload grammar (docs/formats/wal.md):

    batch := seq: u64, count: u32, op[count]         # op i gets sequence number seq + i
    op    := kind: u8, key_len: u32, key: u8[key_len], [value_len: u32, value: u8[value_len]]
    kind  := 0 = DELETE (no value) | 1 = PUT                  # do not renumber

The body is encoded as ops are added (on the caller's thread), so the group-commit leader only
prepends the 12-byte header: the serial part of a write stays small.
"""

from __future__ import annotations

import struct
import zlib

from storage.errors import CorruptionError
from storage.sstable import KIND_DELETE, KIND_PUT

BATCH_HEADER = struct.Struct("<QI")
_PUT_HEAD = struct.Struct("<BI")
_U32 = struct.Struct("<I")
_pack_put_head = _PUT_HEAD.pack
_pack_u32 = _U32.pack


def encode_put(key: bytes, value: bytes) -> bytes:
    return _pack_put_head(KIND_PUT, len(key)) + key + _pack_u32(len(value)) + value


#: WAL record length, batch header (seq, count) and the op's kind and key length: the
#: first 21 bytes of a one-put record after its CRC (wal/format.py frames a record as
#: crc32: u32, length: u32, payload; the CRC covers the length and the payload).
_ONE_OP_HEAD = struct.Struct("<IQIBI")
_pack_one_op_head = _ONE_OP_HEAD.pack
_ONE_PUT_FIXED = BATCH_HEADER.size + _PUT_HEAD.size + _U32.size
_crc32 = zlib.crc32


def frame_one_put(seq: int, key: bytes, value: bytes) -> bytes:
    """The framed WAL record of a batch holding one put, built in one pass: the same bytes
    as `frame(encode_record(seq, 1, encode_put(key, value)))` (a test checks) with one CRC
    call and one join instead of two CRCs and six concatenations (the put hot path)."""
    rest = b"".join(
        (
            _pack_one_op_head(_ONE_PUT_FIXED + len(key) + len(value), seq, 1, KIND_PUT, len(key)),
            key,
            _pack_u32(len(value)),
            value,
        )
    )
    return _pack_u32(_crc32(rest)) + rest


def encode_delete(key: bytes) -> bytes:
    return _pack_put_head(KIND_DELETE, len(key)) + key


class WriteBatch:
    """Collect puts/deletes; `Engine.write(batch)` applies them all or none."""

    __slots__ = ("_body", "ops", "size")

    def __init__(self) -> None:
        self.ops: list[tuple[int, bytes, bytes]] = []
        self._body: list[bytes] = []
        #: raw key+value bytes, for memtable accounting.
        self.size = 0

    def put(self, key: bytes, value: bytes) -> WriteBatch:
        key, value = _check_bytes(key), _check_bytes(value)
        self.ops.append((KIND_PUT, key, value))
        self._body.append(encode_put(key, value))
        self.size += len(key) + len(value)
        return self

    def delete(self, key: bytes) -> WriteBatch:
        key = _check_bytes(key)
        self.ops.append((KIND_DELETE, key, b""))
        self._body.append(encode_delete(key))
        self.size += len(key)
        return self

    def clear(self) -> None:
        self.ops.clear()
        self._body.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self.ops)

    def body(self) -> bytes:
        return b"".join(self._body)


def encode_record(seq: int, count: int, body: bytes) -> bytes:
    return BATCH_HEADER.pack(seq, count) + body


def decode_record(
    payload: bytes, path: str, offset: int
) -> tuple[int, list[tuple[int, bytes, bytes]]]:
    """-> (first seq, ops). A malformed payload behind a good CRC is still reported, not guessed."""
    try:
        seq, count = BATCH_HEADER.unpack_from(payload, 0)
        pos = BATCH_HEADER.size
        ops: list[tuple[int, bytes, bytes]] = []
        for _ in range(count):
            kind, klen = _PUT_HEAD.unpack_from(payload, pos)
            pos += _PUT_HEAD.size
            key = payload[pos : pos + klen]
            pos += klen
            value = b""
            if kind == KIND_PUT:
                (vlen,) = _U32.unpack_from(payload, pos)
                pos += 4
                value = payload[pos : pos + vlen]
                pos += vlen
            elif kind != KIND_DELETE:
                raise ValueError(f"unknown kind {kind}")
            ops.append((kind, key, value))
        if pos != len(payload):
            raise ValueError("trailing bytes")
    except (struct.error, ValueError) as exc:
        raise CorruptionError(path, offset, f"malformed batch record ({exc})") from exc
    return seq, ops


def _check_bytes(b: bytes) -> bytes:
    if type(b) is bytes:
        return b
    if isinstance(b, bytes | bytearray | memoryview):
        return bytes(b)
    raise TypeError(f"keys and values are bytes, not {type(b).__name__}")
