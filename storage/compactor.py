"""Executes flushes and compactions: streams entries into new SSTables (the policy is in
compaction.py). Runs on the engine's background thread, or the caller's for flush()/compact().

Outputs are split at Options.target_file_bytes, but only between two different user keys: all
versions of a key stay in one file, so a level >= 1 holds each key in at most one file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable

from storage.options import Options
from storage.sstable import TableBuilder, TableProperties
from storage.version import FileMeta

Entry = tuple[bytes, int, int, bytes]

#: how many entries a compaction writes between two calls of its `should_stop` hook.
_STOP_CHECK_EVERY = 4096


class CompactionCancelled(Exception):
    """Raised inside write_tables when `should_stop()` turned true (engine closing)."""


def table_path(dirpath: str, number: int) -> str:
    return os.path.join(dirpath, f"{number:06d}.sst")


def meta_from_properties(number: int, props: TableProperties) -> FileMeta:
    return FileMeta(
        number=number,
        file_size=props.file_size,
        min_key=props.min_key,
        max_key=props.max_key,
        min_seq=props.min_seq,
        max_seq=props.max_seq,
        entries=props.entries,
        tombstones=props.tombstones,
        raw_bytes=props.raw_key_bytes + props.raw_value_bytes,
    )


def write_tables(
    dirpath: str,
    entries: Iterable[Entry],
    options: Options,
    new_number: Callable[[], int],
    split_bytes: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[FileMeta]:
    """Write `entries` ((key asc, seq desc) order) into one or more SSTables.

    `new_number` allocates a file number (the engine marks it as a pending output so the
    obsolete-file sweep leaves it alone). `should_stop()` is called every few thousand entries:
    the engine uses it to flush a frozen memtable in the middle of a long compaction (LevelDB
    does the same, so writers do not stall behind a compaction) and to cancel on close. On error
    or cancellation (`should_stop()` true) every partial output is removed."""
    outputs: list[FileMeta] = []
    written: list[str] = []
    builder: TableBuilder | None = None
    number = 0
    last_key = None
    count = 0
    try:
        for key, seq, kind, value in entries:
            count += 1
            if should_stop is not None and count % _STOP_CHECK_EVERY == 0 and should_stop():
                raise CompactionCancelled
            if builder is None:
                number = new_number()
                builder = TableBuilder(table_path(dirpath, number), options)
            elif (
                split_bytes is not None
                and key != last_key
                and builder.estimated_size() >= split_bytes
            ):
                outputs.append(meta_from_properties(number, builder.finish()))
                written.append(builder.path)
                number = new_number()
                builder = TableBuilder(table_path(dirpath, number), options)
            builder.add(key, seq, kind, value)
            last_key = key
        if builder is not None:
            outputs.append(meta_from_properties(number, builder.finish()))
            written.append(builder.path)
            builder = None
    except BaseException:
        if builder is not None:
            builder.abandon()
        for path in written:
            _unlink_quietly(path)
        raise
    return outputs


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
