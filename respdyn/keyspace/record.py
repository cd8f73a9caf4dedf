"""The value stored under a data key: a causal context and one or more siblings.

    record  := magic: u8 = 0xD5, version: u8 = 1, context_len: u32, context: bytes,
               count: u16, sibling{count}
    sibling := flags: u8, kind: u8, timestamp_ms: u64, expire_at_ms: u64,
               node_len: u8, node: bytes, payload_len: u32, payload: bytes
    flags   := bit 0 tombstone (do not renumber)
    kind    := 0 string, 1 hash, 2 list, 3 set, 4 zset, 5 counter (do not renumber)

All integers little-endian. `context` is opaque here: a single node stores it empty; the Dynamo
layer stores its encoded dotted version vector there, which is why a record can carry several
siblings. `expire_at_ms` 0 means no expiry; the timestamp and node pick the deterministic winner
among siblings (newest timestamp, ties by node id) that a plain GET returns.
See docs/formats/value.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

MAGIC = 0xD5
VERSION = 1
FLAG_TOMBSTONE = 1

_HEAD = struct.Struct("<BBI")
_COUNT = struct.Struct("<H")
_SIB = struct.Struct("<BBQQB")
_LEN = struct.Struct("<I")
#: the common record, one sibling and no context (every single-node value), up to its node
_SINGLE = struct.Struct("<BBIHBBQQB")
_NODE_LEN_AT = _SINGLE.size - 1
#: the same record up to its payload, for one node-id length: encoded and decoded with one
#: struct call (the node id is the same in every record a node writes)
_SINGLE_BY_NODE_LEN: dict[int, struct.Struct] = {}


def _single(node_len: int) -> struct.Struct:
    st = _SINGLE_BY_NODE_LEN.get(node_len)
    if st is None:
        st = _SINGLE_BY_NODE_LEN[node_len] = struct.Struct(f"<BBIHBBQQB{node_len}sI")
    return st


class Kind(IntEnum):
    """Redis value types as stored (do not renumber)."""

    STRING = 0
    HASH = 1
    LIST = 2
    SET = 3
    ZSET = 4
    COUNTER = 5  #: an INCR-family integer, a PN-counter (respdyn/keyspace/crdt/counter.py)


TYPE_NAMES = {
    Kind.STRING: "string", Kind.HASH: "hash", Kind.LIST: "list", Kind.SET: "set",
    Kind.ZSET: "zset", Kind.COUNTER: "string",
}


class RecordError(ValueError):
    """Bytes under a data key are not a record of this version."""


@dataclass(slots=True)
class Sibling:
    kind: int
    payload: bytes
    expire_at: int = 0  #: unix ms; 0 = persistent
    timestamp: int = 0  #: unix ms of the write, for the deterministic winner
    node: bytes = b""  #: coordinating node id, the tie breaker
    tombstone: bool = False

    def expired(self, now_ms: int) -> bool:
        return 0 < self.expire_at <= now_ms

    def sort_key(self) -> tuple[int, bytes]:
        return self.timestamp, self.node


@dataclass(slots=True)
class Record:
    siblings: list[Sibling]
    context: bytes = b""

    def winner(self) -> Sibling:
        """Newest timestamp, ties broken by node id: the same choice on every node."""
        if len(self.siblings) == 1:
            return self.siblings[0]
        return max(self.siblings, key=Sibling.sort_key)


def encode(record: Record) -> bytes:
    siblings = record.siblings
    if len(siblings) == 1 and not record.context:
        return encode_single(siblings[0])
    parts = [_HEAD.pack(MAGIC, VERSION, len(record.context)), record.context,
             _COUNT.pack(len(siblings))]
    for s in siblings:
        flags = FLAG_TOMBSTONE if s.tombstone else 0
        parts.append(_SIB.pack(flags, s.kind, s.timestamp, s.expire_at, len(s.node)))
        parts.append(s.node)
        parts.append(_LEN.pack(len(s.payload)))
        parts.append(s.payload)
    return b"".join(parts)


def encode_single(s: Sibling) -> bytes:
    """`encode(Record([s]))`: the record of one sibling and no context (what a single node
    stores), without building the Record."""
    node, payload = s.node, s.payload
    if len(node) > 0xFF:
        raise struct.error("node id longer than 255 bytes")
    return _single(len(node)).pack(
        MAGIC, VERSION, 0, 1, FLAG_TOMBSTONE if s.tombstone else 0, s.kind, s.timestamp,
        s.expire_at, len(node), node, len(payload),
    ) + payload


def decode(data: bytes) -> Record:
    single = _decode_single(data)
    return single if single is not None else _decode_any(data)


def _decode_single(data: bytes) -> Record | None:
    """The one-sibling, no-context record (the GET hot path); None: anything else, or bytes
    that are not a whole record (then `_decode_any` says what is wrong)."""
    size = len(data)
    if size < _SINGLE.size + _LEN.size:
        return None
    st = _single(data[_NODE_LEN_AT])
    head = st.size
    if size < head:
        return None
    magic, version, ctx_len, count, flags, kind, ts, exp, _, node, plen = st.unpack_from(data)
    if magic != MAGIC or version != VERSION or ctx_len or count != 1 or size < head + plen:
        return None
    payload = data[head : head + plen]
    return Record([Sibling(kind, payload, exp, ts, node, bool(flags & FLAG_TOMBSTONE))], b"")


def _decode_any(data: bytes) -> Record:
    try:
        magic, version, ctx_len = _HEAD.unpack_from(data, 0)
        if magic != MAGIC:
            raise RecordError(f"bad record magic 0x{magic:02x}")
        if version != VERSION:
            raise RecordError(f"unsupported record version {version}")
        pos = _HEAD.size
        context = data[pos : pos + ctx_len]
        pos += ctx_len
        (count,) = _COUNT.unpack_from(data, pos)
        pos += _COUNT.size
        siblings = []
        for _ in range(count):
            flags, kind, ts, exp, node_len = _SIB.unpack_from(data, pos)
            pos += _SIB.size
            node = data[pos : pos + node_len]
            pos += node_len
            (plen,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            payload = data[pos : pos + plen]
            if len(payload) != plen:
                raise RecordError("record truncated")
            pos += plen
            siblings.append(Sibling(kind, payload, exp, ts, node, bool(flags & FLAG_TOMBSTONE)))
    except struct.error as exc:
        raise RecordError(f"record truncated: {exc}") from None
    return Record(siblings, context)
