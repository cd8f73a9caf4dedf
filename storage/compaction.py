"""Leveled compaction policy as pure functions (mini-lsm's shape; LevelDB's rules).

Nothing here touches a disk: `pick_task(version, options)` says what to compact,
`compact_entries(...)` decides which versions survive, `apply_result(version, task, outputs)`
returns the next Version. compactor.py executes tasks; tests simulate policies with FileMetas.

Why leveled (docs/storage.md): a point read looks at <= 12 L0 files plus one file per level, and
space amplification stays near 1.1x, which matters more to a Redis-like store (many point reads,
overwrites) than the lower write amplification of size-tiered.

Rules:
  * score(L0) = files / level0_compaction_trigger; score(Ln) = bytes / (level1_bytes * mult^(n-1)).
    The level with the highest score >= 1 is compacted into the next level.
  * L0 task: every L0 file plus the overlapping L1 files (L0 files overlap each other).
  * Ln task: the first file after the level's compact pointer (round-robin over the key space)
    plus the overlapping Ln+1 files. One input file and nothing to merge with = a trivial move.
  * Surviving versions (LevelDB's DoCompactionWork): a version is dropped if a newer version of
    the same key at or below the oldest snapshot exists; a tombstone at or below the oldest
    snapshot is dropped when no deeper level can hold the key ("base level for key").
  * The compaction filter sees only a key's newest version with seq above every live snapshot
    (RocksDB's rule: snapshots keep their view). A value it rejects becomes a TOMBSTONE with the
    same seq, then the tombstone rule applies: it vanishes only where nothing older can be below
    and no snapshot needs it, otherwise it keeps hiding older versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice, repeat
from operator import and_, eq, rshift

from storage.options import Options
from storage.sstable import KIND_DELETE, KIND_PUT
from storage.version import NUM_LEVELS, FileMeta, Version, VersionEdit

Entry = tuple[bytes, int, int, bytes]
_NO_SEQ = 1 << 64


@dataclass(frozen=True)
class CompactionTask:
    output_level: int
    #: (level, file) of every input, from the upper level(s) and the output level.
    inputs: tuple[tuple[int, FileMeta], ...]
    #: one file moved down by a manifest edit only (no rewrite).
    trivial_move: bool = False
    #: the level whose compact pointer advances (None for a full compaction).
    level: int | None = None

    def input_files(self) -> list[FileMeta]:
        return [f for _, f in self.inputs]


def max_bytes_for_level(level: int, options: Options) -> int:
    return options.level1_bytes * options.level_multiplier ** max(0, level - 1)


def level_scores(version: Version, options: Options) -> list[float]:
    """Compaction urgency per level (the last level is never a source)."""
    scores = [len(version.levels[0]) / options.level0_compaction_trigger]
    for level in range(1, NUM_LEVELS - 1):
        scores.append(version.level_bytes(level) / max_bytes_for_level(level, options))
    return scores


def pick_task(version: Version, options: Options) -> CompactionTask | None:
    """The most urgent compaction, or None when every level is within bounds."""
    scores = level_scores(version, options)
    level = max(range(len(scores)), key=scores.__getitem__)
    if scores[level] < 1:
        return None
    upper = version.levels[0] if level == 0 else (_next_file_after_pointer(version, level),)
    lo = min(f.min_key for f in upper)
    hi = max(f.max_key for f in upper)
    lower = version.overlapping(level + 1, lo, hi)
    inputs = tuple((level, f) for f in upper) + tuple((level + 1, f) for f in lower)
    trivial = len(upper) == 1 and not lower
    return CompactionTask(level + 1, inputs, trivial_move=trivial, level=level)


def full_compaction_task(version: Version, options: Options) -> CompactionTask | None:
    """Merge every file into one level: the shallowest level >= 1 that holds all the data
    within its target size, and no shallower than the deepest level in use."""
    files = [(lvl, f) for lvl, fs in enumerate(version.levels) for f in fs]
    if not files:
        return None
    total = sum(f.file_size for _, f in files)
    deepest = max(lvl for lvl, _ in files)
    target = 1
    while target < NUM_LEVELS - 1 and max_bytes_for_level(target, options) < total:
        target += 1
    return CompactionTask(max(target, deepest), tuple(files))


def _next_file_after_pointer(version: Version, level: int) -> FileMeta:
    files = version.levels[level]
    pointer = version.compact_pointers[level]
    if pointer is not None:
        for f in files:
            if f.max_key > pointer:
                return f
    return files[0]


class BaseLevelChecker:
    """is_base(key): no level below `output_level` can hold key, so a tombstone may vanish.

    REQUIRES: calls with ascending keys (one pointer per level advances, as in LevelDB)."""

    def __init__(
        self, version: Version, output_level: int, exclude: set[int] = frozenset()
    ) -> None:
        self._levels = [
            [f for f in version.levels[lvl] if f.number not in exclude]
            for lvl in range(output_level + 1, NUM_LEVELS)
        ]
        self._levels = [files for files in self._levels if files]
        self._pos = [0] * len(self._levels)

    def __call__(self, key: bytes) -> bool:
        for i, files in enumerate(self._levels):
            p = self._pos[i]
            while p < len(files) and files[p].max_key < key:
                p += 1
            self._pos[i] = p
            if p < len(files) and files[p].min_key <= key:
                return False
        return True


@dataclass
class CompactionCounters:
    dropped_shadowed: int = 0
    dropped_tombstones: int = 0
    filtered: int = 0


def compact_entries(
    entries: Iterable[Entry],
    *,
    smallest_snapshot: int,
    newest_snapshot: int,
    is_base: Callable[[bytes], bool],
    compaction_filter: Callable[[bytes, bytes], bool] | None = None,
    counters: CompactionCounters | None = None,
) -> Iterator[Entry]:
    """The versions a compaction writes out (see the module docstring for the rules).

    `entries` are in (key asc, seq desc) order. `smallest_snapshot` is the oldest live
    snapshot's seq, or the last sequence when there is none; `newest_snapshot` the newest live
    snapshot's seq or -1.
    """
    c = counters if counters is not None else CompactionCounters()
    last_key = None
    last_seq_for_key = _NO_SEQ
    for key, seq, kind, value in entries:
        if key != last_key:
            last_key = key
            last_seq_for_key = _NO_SEQ
        shadowed = last_seq_for_key <= smallest_snapshot
        last_seq_for_key = seq
        if shadowed:
            c.dropped_shadowed += 1
            continue
        if (
            kind == KIND_PUT
            and compaction_filter is not None
            and seq > newest_snapshot
            and not compaction_filter(key, value)
        ):
            c.filtered += 1
            kind, value = KIND_DELETE, b""
        if kind == KIND_DELETE and seq <= smallest_snapshot and is_base(key):
            c.dropped_tombstones += 1
            continue
        yield key, seq, kind, value


def compact_batches(
    batches: Iterable[tuple[list[bytes], list[int], list[bytes]]],
    *,
    smallest_snapshot: int,
    newest_snapshot: int,
    is_base: Callable[[bytes], bool],
    compaction_filter: Callable[[bytes, bytes], bool] | None = None,
    counters: CompactionCounters | None = None,
) -> Iterator[tuple[list[bytes], list[int], list[bytes]]]:
    """`compact_entries` over (keys, tags, values) batches in which no key spans two batches
    (iterators.merge_batches). A batch with one version per key, no tombstone and no filter
    passes as it is (nothing in it can be dropped); others go entry by entry."""
    c = counters if counters is not None else CompactionCounters()
    for keys, tags, values in batches:
        if (
            compaction_filter is None
            and all(map(and_, tags, repeat(KIND_PUT)))
            and not any(map(eq, keys, islice(keys, 1, None)))
        ):
            yield keys, tags, values
            continue
        kept = list(
            compact_entries(
                zip(
                    keys,
                    map(rshift, tags, repeat(8)),
                    map(and_, tags, repeat(0xFF)),
                    values,
                    strict=True,
                ),
                smallest_snapshot=smallest_snapshot,
                newest_snapshot=newest_snapshot,
                is_base=is_base,
                compaction_filter=compaction_filter,
                counters=c,
            )
        )
        if kept:
            yield (
                [e[0] for e in kept],
                [e[1] << 8 | e[2] for e in kept],
                [e[3] for e in kept],
            )


def result_edit(task: CompactionTask, outputs: list[FileMeta]) -> VersionEdit:
    """The manifest edit that installs a finished task."""
    edit = VersionEdit(deleted=[(lvl, f.number) for lvl, f in task.inputs])
    edit.added = [(task.output_level, f) for f in outputs]
    if task.level is not None and task.level > 0:
        upper = [f for lvl, f in task.inputs if lvl == task.level]
        edit.compact_pointers.append((task.level, max(f.max_key for f in upper)))
    return edit


def trivial_move_edit(task: CompactionTask) -> VersionEdit:
    """Move the single input file one level down without rewriting it."""
    level, f = task.inputs[0]
    edit = VersionEdit(deleted=[(level, f.number)], added=[(task.output_level, f)])
    if level > 0:
        edit.compact_pointers.append((level, f.max_key))
    return edit


def apply_result(version: Version, task: CompactionTask, outputs: list[FileMeta]) -> Version:
    edit = trivial_move_edit(task) if task.trivial_move else result_edit(task, outputs)
    return version.apply(edit)
