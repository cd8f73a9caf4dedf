"""Merging iterators: many sorted sources -> one ordered stream of live keys at a snapshot.

Sources yield (key, seq, kind, value) in (key asc, seq desc) order: the memtables, each L0 table
(they overlap), and one concatenating iterator per deeper level (its files never overlap, so a
level is a single sorted source and is opened file by file, lazily). `heapq.merge` does the
k-way merge (plain tuple order: grouped by key); `visible` then keeps, per key, the newest
version at or below the snapshot and hides it if it is a tombstone.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from operator import eq, itemgetter

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


# -- batched: the same streams as column batches ---------------------------------------------
#
# For compactions: a source yields (keys, tags, values) lists in (key asc, seq desc) order
# (tag = seq << 8 | kind, as on disk), `merge_batches` sorts one bounded window of all sources
# at a time in C, and compaction.compact_batches / TableBuilder.add_run take whole batches, so
# the per-entry Python work of compact_entries and TableBuilder.add goes (merge of four 63k
# level-0 tables without the bloom: 3.1 -> 1.9 us per entry). The merge itself costs about
# what heapq.merge costs (~0.4 us per entry), so scans, which need neither, stay per entry:
# measured batched, a full scan was no faster and a 100-key scan 30% slower (every value of
# a block sliced whether read or not).

Batch = tuple[list[bytes], list[int], list[bytes]]


def merge_batches(sources: Sequence[Iterable[Batch]]) -> Iterator[Batch]:
    """Every entry of `sources` in (key asc, seq desc) order, as batches in which every
    version of a key sits in the same batch (a source's versions of one key may span its
    batches).

    Each round emits the buffered entries with key < the smallest last key buffered by a
    source that is not exhausted (nothing smaller can come from any source), then refills the
    sources whose buffer holds only that key."""
    live: list[list] = []
    done: list[list] = []
    for src in sources:
        it = iter(src)
        buf = _pull(it)
        if buf is not None:
            live.append([*buf, it])
    while live:
        bound = min([b[0][-1] for b in live])
        parts = []
        for b in (*live, *done):
            keys = b[0]
            i = bisect_left(keys, bound)
            if i == len(keys):
                parts.append((keys, b[1], b[2]))
                b[0], b[1], b[2] = [], [], []
            elif i:
                parts.append((keys[:i], b[1][:i], b[2][:i]))
                del keys[:i], b[1][:i], b[2][:i]
        if parts:
            yield _sorted(parts)
        done = [b for b in done if b[0]]
        still = []
        for b in live:
            if b[0][-1] == bound:  # holds only `bound` now: needs its next batch
                more = _pull(b[3])
                if more is None:
                    done.append(b)
                    continue
                b[0] += more[0]
                b[1] += more[1]
                b[2] += more[2]
            still.append(b)
        live = still
    parts = [(b[0], b[1], b[2]) for b in done if b[0]]
    if parts:
        yield _sorted(parts)


def _pull(it: Iterator[Batch]) -> list | None:
    """The next non-empty batch as fresh lists (the merge edits them), or None at the end."""
    for keys, tags, values in it:
        if keys:
            return [list(keys), list(tags), list(values)]
    return None


def _sorted(parts: list[tuple[list, list, list]]) -> Batch:
    """The parts (each sorted) as one batch in (key asc, seq desc) order.

    A stable sort of positions by key alone (a C-level key function, no tuples built), then
    the rare runs of one key's versions are put newest first."""
    if len(parts) == 1:
        return parts[0]
    keys: list[bytes] = []
    tags: list[int] = []
    values: list[bytes] = []
    for k, t, v in parts:
        keys += k
        tags += t
        values += v
    order = sorted(range(len(keys)), key=keys.__getitem__)
    keys = list(map(keys.__getitem__, order))
    tags = list(map(tags.__getitem__, order))
    values = list(map(values.__getitem__, order))
    if has_versions(keys):
        _newest_first(keys, tags, values)
    return keys, tags, values


def _newest_first(keys: list[bytes], tags: list[int], values: list[bytes]) -> None:
    """Order each run of equal keys by seq descending, in place."""
    n = len(keys)
    i = 0
    while i < n:
        j = i + 1
        while j < n and keys[j] == keys[i]:
            j += 1
        if j - i > 1:
            run = sorted(zip(tags[i:j], values[i:j], strict=True), key=_first, reverse=True)
            tags[i:j] = map(_first, run)
            values[i:j] = map(_second, run)
        i = j


_first, _second = itemgetter(0), itemgetter(1)


def has_versions(keys: list[bytes]) -> bool:
    """Some key occurs more than once (the batch is sorted, so as neighbours)."""
    return any(map(eq, keys, islice(keys, 1, None)))
