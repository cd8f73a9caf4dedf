"""`ReplicatedStore`: the keyspace's `VersionedStore` over the Dynamo coordinator.

It translates between the keyspace's records and the cluster's clocks, and knows the one thing
the cluster layer must not: how a raw key maps to its slot (`layout`). Nothing else.

Value codec (the bytes inside a `dvv.Sibling`; a tombstone is the dvv value None)::

    value := kind: u8, expire_at_ms: u64 little-endian, payload: bytes    (do not renumber kinds)
    kind  := bits 0-6 the Kind, bit 7 REMOVED (a deletion carrying the cleared CRDT state)

A record's context is the clock's causal context as a printable token
(`dvv.encode_context(dvv.join(clock))`), the token SIBLINGS shows and RESOLVE takes back.

Winner: `Record.winner` (newest timestamp, then node id) and `dvv.winner` (the same, then value)
must pick the same sibling on every node, so the dvv winner is put first: `max` keeps the first
of equal keys, and the dvv rank refines the record's.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from typing import Any

from respdyn import errors
from respdyn.cluster import dvv
from respdyn.cluster.coordinator import Coordinator
from respdyn.keyspace import layout, request
from respdyn.keyspace.record import Kind, Record, Sibling

_VALUE_HEAD = struct.Struct("<BQ")
#: kind-byte flag of an observed-remove deletion (a tombstone carrying its cleared state)
REMOVED = 0x80
_SLOT = struct.Struct(">H")


class BadContext(errors.ReplyError):
    def __init__(self) -> None:
        super().__init__("invalid context token")


def pack_value(kind: int, expire_at: int, payload: bytes) -> bytes:
    return _VALUE_HEAD.pack(kind, expire_at) + payload


def unpack_value(raw: bytes) -> tuple[int, int, bytes]:
    kind, expire_at = _VALUE_HEAD.unpack_from(raw, 0)
    return kind, expire_at, raw[_VALUE_HEAD.size :]


def to_dvv(sibling: Sibling) -> dvv.Sibling:
    """A keyspace write as a client's dvv value (the node is stamped by the replica). A
    deletion that carries a cleared CRDT state (an observed remove) is kept as a value with
    the REMOVED flag in its kind byte, so the state survives to be merged."""
    if sibling.tombstone and not sibling.payload:
        return dvv.Sibling(None, sibling.timestamp)
    kind = sibling.kind | REMOVED if sibling.tombstone else sibling.kind
    return dvv.Sibling(pack_value(kind, sibling.expire_at, sibling.payload), sibling.timestamp)


def from_dvv(value: dvv.Sibling) -> Sibling:
    node = value.node.encode()
    if value.value is None:
        return Sibling(Kind.STRING, b"", 0, value.ts_ms, node, tombstone=True)
    kind, expire_at, payload = unpack_value(value.value)
    return Sibling(kind & ~REMOVED, payload, expire_at, value.ts_ms, node,
                   tombstone=bool(kind & REMOVED))


def to_record(clock: dvv.Clock) -> Record | None:
    """The keyspace's view of a clock: the dvv winner first, then the other live values."""
    values = dvv.values(clock)
    if not values:
        return None
    context = dvv.encode_context(dvv.join(clock))
    if len(values) == 1:
        return Record([from_dvv(values[0])], context)
    best = dvv.winner(clock)
    rest = [v for v in values if v is not best]
    return Record([from_dvv(best), *(from_dvv(v) for v in rest)], context)


def keep_live_clocks(grace_ms: int, key: bytes, value: bytes) -> bool:
    """The compaction filter of a cluster node: drop a tombstone-only clock past its grace
    period (replica.py, Tombstones); the engine drops it only at the bottom level, else it
    writes a deletion over older copies below. Module-level (bound with functools.partial) so
    the engine can hand it to its merge worker process. Anything else is kept."""
    if not key.startswith(layout.DATA) or not value or value[0] != dvv.MAGIC:
        return True
    try:
        clock = dvv.decode(value)
    except ValueError:
        return True  # never destroy what we cannot read
    return not dvv.expired_tombstone(clock, int(time.time() * 1000) - grace_ms)


def parse_context(token: bytes) -> dvv.Context:
    try:
        return dvv.decode_context(token)
    except ValueError:
        raise BadContext() from None


def _slot(raw_key: bytes) -> int:
    return _SLOT.unpack_from(raw_key, 2)[0]


class LayoutKeys:
    """The coordinator's `KeyMap`: slots and partition ranges of this keyspace's layout."""

    @staticmethod
    def slot_of(raw_key: bytes) -> int:
        return _slot(raw_key)

    @staticmethod
    def partition_ranges(ring: Any, partition: int) -> list[tuple[bytes, bytes]]:
        """The partition's data keys in every database, one range per database."""
        slots = ring.slots_of(partition)
        return [layout.slot_range(db, slots.start, slots.stop) for db in range(layout.DATABASES)]


class ReplicatedStore:
    """Reads and writes through the coordinator with the session's (or default) R and W."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.replica = coordinator.replica
        coordinator.keymap = LayoutKeys()

    def read(self, raw_key: bytes) -> Record | None:
        override = request.consistency.get()
        r = override[0] if override else None
        clock = self.coordinator.get(raw_key, _slot(raw_key), r)
        return None if clock is None else to_record(clock)

    def write(self, raw_key: bytes, sibling: Sibling, context: bytes | None) -> None:
        override = request.consistency.get()
        w = override[1] if override else None
        version = None if context is None else parse_context(context)
        self.coordinator.put(raw_key, _slot(raw_key), to_dvv(sibling), version, w)

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, Record]]:
        """Every key in [start, end), partition by partition, each from one live replica."""
        for partition, lo, hi in self.pieces(start, end):
            for raw_key, clock in self.coordinator.scan_partition(partition, lo, hi):
                record = to_record(clock)
                if record is not None:
                    yield raw_key, record

    def pieces(self, start: bytes, end: bytes) -> Iterator[tuple[int, bytes, bytes]]:
        """[start, end) cut into (partition, lo, hi) ranges, in key order."""
        ring = self.coordinator.membership.ring
        first_db = start[1] if len(start) > 1 and start[:1] == layout.DATA else 0
        for db in range(first_db, layout.DATABASES):
            if layout.db_range(db)[0] >= end:
                return
            for partition in range(ring.q):
                slots = ring.slots_of(partition)
                lo, hi = layout.slot_range(db, slots.start, slots.stop)
                lo, hi = max(lo, start), min(hi, end)
                if lo < hi:
                    yield partition, lo, hi

    def delete_range(self, start: bytes, end: bytes) -> None:
        self.coordinator.delete_range(start, end)

    def expire_due(self, now_ms: int, limit: int) -> int:
        """Nothing to do: expired values are invisible at once, and clocks are never dropped
        from disk in a cluster (see replica.py)."""
        return 0

    def flush(self) -> None:
        self.replica.offload(self.replica.engine.flush)

    def info(self) -> dict[str, Any]:
        return self.replica.engine.stats()

    def close(self) -> None:
        self.coordinator.close()

    def holds_locally(self, raw_key: bytes) -> bool:
        """DYNAMO LOCAL: whether this node's engine has a version of the key (a tombstone past
        its grace period is none)."""
        return self.replica.read(raw_key) is not None
