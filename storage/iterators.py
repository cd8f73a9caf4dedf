"""Merging iterators: many sorted sources -> one ordered stream of live keys at a snapshot.

Sources yield (key, seq, kind, value) in (key asc, seq desc) order: the memtables, each L0 table
(they overlap), and one concatenating iterator per deeper level (its files never overlap, so a
level is a single sorted source and is opened file by file, lazily). `heapq.merge` does the
k-way merge (plain tuple order: grouped by key); `visible` then keeps, per key, the newest
version at or below the snapshot and hides it if it is a tombstone.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence

from storage.sstable import KIND_PUT
from storage.version import FileMeta

Entry = tuple[bytes, int, int, bytes]


def _order(e: Entry) -> tuple[bytes, int]:
    return e[0], -e[1]


def merge_ordered(sources: Sequence[Iterable[Entry]]) -> Iterator[Entry]:
    """All entries in strict (key asc, seq desc) order, as compaction needs (it keeps or drops
    a version by what it has seen newer of the same key)."""
    if len(sources) == 1:
        return iter(sources[0])
    return heapq.merge(*sources, key=_order)


def merge(sources: Sequence[Iterable[Entry]]) -> Iterator[Entry]:
    """All entries of `sources`, grouped by key in ascending key order.

    Plain tuple comparison (no key function: heapq.merge stays on its fast path). Each source is
    ordered by key, so the output is too; entries of ONE key may come out in any seq order,
    which `visible` handles by taking the newest visible seq of each key group."""
    if len(sources) == 1:
        return iter(sources[0])
    return heapq.merge(*sources)


def visible(
    entries: Iterable[Entry], snapshot_seq: int, end: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of each key's newest version <= snapshot_seq, skipping deleted keys.

    Stops at the first key >= end, so upstream lazy sources read no further."""
    cur = None
    best_seq = -1
    best_kind = 0
    best_value = b""
    for key, seq, kind, value in entries:
        if key != cur:
            if best_seq >= 0 and best_kind == KIND_PUT:
                yield cur, best_value
            if end is not None and key >= end:
                return
            cur = key
            best_seq = -1
        if best_seq < seq <= snapshot_seq:
            best_seq, best_kind, best_value = seq, kind, value
    if best_seq >= 0 and best_kind == KIND_PUT:
        yield cur, best_value


def level_iter(
    files: Sequence[FileMeta],
    open_iter: Callable[[FileMeta, bytes | None], Iterator[Entry]],
    start: bytes | None,
    end: bytes | None,
) -> Iterator[Entry]:
    """Concatenate the files of one sorted level, skipping files outside [start, end)."""
    for f in files:
        if start is not None and f.max_key < start:
            continue
        if end is not None and f.min_key >= end:
            return
        yield from open_iter(f, start)
