"""Merging iterators: many sorted sources -> one ordered stream of live keys at a snapshot.

Sources yield (key, seq, kind, value) in (key asc, seq desc) order: the memtables, each L0 table
(they overlap), and one concatenating iterator per deeper level (its files never overlap, so a
level is a single sorted source and is opened file by file, lazily). `heapq.merge` does the
k-way merge in C; `visible` then keeps, per key, the newest version at or below the snapshot and
hides it if it is a tombstone.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence

from storage.sstable import KIND_PUT
from storage.version import FileMeta

Entry = tuple[bytes, int, int, bytes]


def _order(e: Entry) -> tuple[bytes, int]:
    return e[0], -e[1]


def merge(sources: Sequence[Iterable[Entry]]) -> Iterator[Entry]:
    """All entries of `sources` in (key asc, seq desc) order."""
    if len(sources) == 1:
        return iter(sources[0])
    return heapq.merge(*sources, key=_order)


def visible(
    entries: Iterable[Entry], snapshot_seq: int, end: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of each key's newest version <= snapshot_seq, skipping deleted keys.

    Stops at the first key >= end, so upstream lazy sources read no further."""
    done_key = None
    for key, seq, kind, value in entries:
        if end is not None and key >= end:
            return
        if key == done_key or seq > snapshot_seq:
            continue
        done_key = key
        if kind == KIND_PUT:
            yield key, value


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
