"""The contract between the keyspace and whatever keeps versions: the local engine on a single
node (`LocalStore`, here), the Dynamo coordinator in a cluster. The keyspace never knows which.

A read returns the whole `Record` (siblings and causal context); a write hands over one new
sibling and the context it was based on (`None` for a blind write such as a plain SET, which
supersedes every version the store knows of).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import storage
from respdyn.keyspace import layout
from respdyn.keyspace.record import Record, RecordError, Sibling, decode, encode_single


class VersionedStore(Protocol):
    def read(self, raw_key: bytes) -> Record | None: ...

    def write(self, raw_key: bytes, sibling: Sibling, context: bytes | None) -> None: ...

    def write_many(self, writes: list[tuple[bytes, Sibling, bytes | None]]) -> None:
        """Several `write`s (MSET); a store that can applies them as one atomic write. Stores
        without this method get this loop from `Keyspace.put_many`."""
        for raw_key, sibling, context in writes:
            self.write(raw_key, sibling, context)

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, Record]]: ...

    def delete_range(self, start: bytes, end: bytes) -> None: ...

    def expire_due(self, now_ms: int, limit: int) -> int: ...

    def flush(self) -> None: ...

    def info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def keep_unexpired(key: bytes, value: bytes) -> bool:
    """The compaction filter: drop single-node records whose every sibling has expired.

    A module-level function (not a closure) so the engine can hand it to its merge worker
    process. Replicated values (dvv clocks) are kept: dropping one replica's causal history is
    the anti-entropy layer's decision, not compaction's."""
    if not key.startswith(layout.DATA):
        return True
    try:
        record = decode(value)
    except RecordError:
        return True  # never destroy what we cannot read
    now = int(time.time() * 1000)
    return not all(s.expired(now) for s in record.siblings)


_NEVER = 1 << 64  #: later than any expiry time


def _direct(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class LocalStore:
    """A single node's versions: one sibling per key, deletes as real storage deletes (there is
    no other replica a tombstone must outvote). `offload` runs calls that may wait for an fsync
    (the node passes gevent's thread pool when fsync=always, so group commit can batch)."""

    def __init__(
        self,
        engine: storage.Engine,
        offload: Callable[..., Any] = _direct,
    ) -> None:
        self.engine = engine
        self.offload = offload
        #: no expiry entry is due before this time (ms): set by the last expiry scan (the
        #: first entry it found not yet due) and lowered by every write with a TTL, so the
        #: active-expiry cycle does not scan an index with nothing due, `hz` times a second.
        #: (That scan made the memtable merge its pending keys on every cycle: ~5% of a SET
        #: benchmark's CPU with no TTL anywhere.) 0 = unknown: scan.
        self._next_due = 0

    def read(self, raw_key: bytes) -> Record | None:
        data = self.engine.get(raw_key)
        return None if data is None else decode(data)

    def write(self, raw_key: bytes, sibling: Sibling, context: bytes | None) -> None:
        if sibling.tombstone:
            self.offload(self.engine.delete, raw_key)
        elif sibling.expire_at:
            self._next_due = min(self._next_due, sibling.expire_at)
            batch = storage.WriteBatch()
            batch.put(raw_key, encode_single(sibling))
            batch.put(layout.expiry_key(sibling.expire_at, raw_key), b"")
            self.offload(self.engine.write, batch)
        elif self.offload is _direct:
            self.engine.put(raw_key, encode_single(sibling))
        else:
            self.offload(self.engine.put, raw_key, encode_single(sibling))

    def write_many(self, writes: list[tuple[bytes, Sibling, bytes | None]]) -> None:
        """One engine write (one WAL record, atomic) for every value of an MSET."""
        batch = storage.WriteBatch()
        for raw_key, sibling, _ in writes:
            if sibling.tombstone:
                batch.delete(raw_key)
                continue
            batch.put(raw_key, encode_single(sibling))
            if sibling.expire_at:
                self._next_due = min(self._next_due, sibling.expire_at)
                batch.put(layout.expiry_key(sibling.expire_at, raw_key), b"")
        self.offload(self.engine.write, batch)

    def scan(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, Record]]:
        for key, value in self.engine.scan(start=start, end=end):
            yield key, decode(value)

    def delete_range(self, start: bytes, end: bytes) -> None:
        self.offload(self.engine.delete_range, start, end)

    def expire_due(self, now_ms: int, limit: int) -> int:
        """One active-expiry step: delete up to `limit` due keys; returns how many expired.
        Index entries whose key was rewritten since are stale and just removed."""
        if now_ms < self._next_due:
            return 0
        start, end = layout.expiry_index_range()
        due = []
        next_due = _NEVER
        for index_key, _ in self.engine.scan(start=start, end=end):
            when, _ = layout.split_expiry_key(index_key)
            if when > now_ms:
                next_due = when
                break
            due.append(index_key)
            if len(due) >= limit:
                next_due = 0  # more may be due: look again next cycle
                break
        self._next_due = next_due  # (the scan does not yield: no write came in meanwhile)
        if not due:
            return 0
        batch = storage.WriteBatch()
        expired = 0
        for index_key in due:
            batch.delete(index_key)
            _, raw_key = layout.split_expiry_key(index_key)
            record = self.read(raw_key)
            if record is not None and all(s.expired(now_ms) for s in record.siblings):
                batch.delete(raw_key)
                expired += 1
        self.offload(self.engine.write, batch)
        return expired

    def flush(self) -> None:
        self.offload(self.engine.flush)

    def info(self) -> dict[str, Any]:
        return self.engine.stats()

    def close(self) -> None:
        self.engine.close()
