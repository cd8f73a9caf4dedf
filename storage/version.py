"""Versions: the immutable set of live SSTables per level, and the edits that move between them.

A Version is never modified: flushes and compactions produce a VersionEdit, `Version.apply(edit)`
returns a new Version, and the manifest (manifest.py) logs the edit. Readers and snapshots hold a
Version, so the files they read stay on disk until no held Version lists them.

VersionEdit payload grammar (one manifest record; docs/formats/manifest.md):

    edit    := field*
    field   := tag: u8, body
    tag 1 LOG_NUMBER      number: u64                 # WALs below this are flushed (obsolete)
    tag 2 NEXT_FILE       number: u64                 # next unused file number
    tag 3 LAST_SEQ        seq: u64                    # newest sequence in any table
    tag 4 DELETE_FILE     level: u8, number: u64
    tag 5 ADD_FILE        level: u8, number: u64, file_size: u64, min_seq: u64, max_seq: u64,
                          entries: u64, tombstones: u64, raw_bytes: u64,
                          min_key: bytes32, max_key: bytes32
    tag 6 COMPACT_POINTER level: u8, key: bytes32     # where the next level-N compaction starts
    bytes32 := length: u32, u8[length]

Tags: do not renumber. An unknown tag is corruption (the file version guards format changes).
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field, replace

#: number of levels (LevelDB: 7; L6 at x10 per level from 10 MiB holds ~10 TiB).
NUM_LEVELS = 7

TAG_LOG_NUMBER = 1
TAG_NEXT_FILE = 2
TAG_LAST_SEQ = 3
TAG_DELETE_FILE = 4
TAG_ADD_FILE = 5
TAG_COMPACT_POINTER = 6

_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_LEVEL_NUM = struct.Struct("<BQ")
_ADD = struct.Struct("<BQQQQQQQ")
_SCALAR_FIELDS = {
    TAG_LOG_NUMBER: "log_number",
    TAG_NEXT_FILE: "next_file",
    TAG_LAST_SEQ: "last_seq",
}


@dataclass(frozen=True, slots=True)
class FileMeta:
    number: int
    file_size: int
    min_key: bytes
    max_key: bytes
    min_seq: int
    max_seq: int
    entries: int
    tombstones: int
    #: uncompressed key+value bytes (for the compression ratio in stats).
    raw_bytes: int = 0

    def overlaps(self, start: bytes | None, end: bytes | None) -> bool:
        """Whether [min_key, max_key] meets [start, end] (both inclusive; None = unbounded)."""
        return (start is None or self.max_key >= start) and (end is None or self.min_key <= end)


@dataclass(slots=True)
class VersionEdit:
    log_number: int | None = None
    next_file: int | None = None
    last_seq: int | None = None
    deleted: list[tuple[int, int]] = field(default_factory=list)
    added: list[tuple[int, FileMeta]] = field(default_factory=list)
    compact_pointers: list[tuple[int, bytes]] = field(default_factory=list)

    def encode(self) -> bytes:
        out: list[bytes] = []
        for tag, value in (
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_NEXT_FILE, self.next_file),
            (TAG_LAST_SEQ, self.last_seq),
        ):
            if value is not None:
                out.append(_U8.pack(tag) + _U64.pack(value))
        for level, number in self.deleted:
            out.append(_U8.pack(TAG_DELETE_FILE) + _LEVEL_NUM.pack(level, number))
        for level, f in self.added:
            out.append(
                _U8.pack(TAG_ADD_FILE)
                + _ADD.pack(
                    level,
                    f.number,
                    f.file_size,
                    f.min_seq,
                    f.max_seq,
                    f.entries,
                    f.tombstones,
                    f.raw_bytes,
                )
                + _bytes32(f.min_key)
                + _bytes32(f.max_key)
            )
        for level, key in self.compact_pointers:
            out.append(_U8.pack(TAG_COMPACT_POINTER) + _U8.pack(level) + _bytes32(key))
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes) -> VersionEdit:
        """Raises ValueError (or struct.error) on a malformed payload; the caller names the file."""
        edit = cls()
        pos = 0
        while pos < len(data):
            tag = data[pos]
            pos += 1
            if tag in (TAG_LOG_NUMBER, TAG_NEXT_FILE, TAG_LAST_SEQ):
                (value,) = _U64.unpack_from(data, pos)
                pos += 8
                setattr(edit, _SCALAR_FIELDS[tag], value)
            elif tag == TAG_DELETE_FILE:
                edit.deleted.append(_LEVEL_NUM.unpack_from(data, pos))
                pos += _LEVEL_NUM.size
            elif tag == TAG_ADD_FILE:
                level, number, size, min_seq, max_seq, entries, tombs, raw = _ADD.unpack_from(
                    data, pos
                )
                pos += _ADD.size
                lo, pos = _read_bytes32(data, pos)
                hi, pos = _read_bytes32(data, pos)
                meta = FileMeta(number, size, lo, hi, min_seq, max_seq, entries, tombs, raw)
                edit.added.append((level, meta))
            elif tag == TAG_COMPACT_POINTER:
                level = data[pos]
                key, pos = _read_bytes32(data, pos + 1)
                edit.compact_pointers.append((level, key))
            else:
                raise ValueError(f"unknown edit tag {tag}")
        return edit


@dataclass(frozen=True)
class Version:
    """Live files per level. L0 is ordered newest first (files may overlap); L1+ by min_key
    (files in one level never overlap)."""

    levels: tuple[tuple[FileMeta, ...], ...] = ((),) * NUM_LEVELS
    log_number: int = 0
    next_file: int = 2
    last_seq: int = 0
    compact_pointers: tuple[bytes | None, ...] = (None,) * NUM_LEVELS
    #: per level, the files' max keys (a bisect target for point reads; derived, not stored).
    max_keys: tuple[list[bytes], ...] = field(init=False, repr=False, compare=False)

    #: (files, max keys) of each non-empty level >= 1, in level order: the point-read path.
    search_levels: tuple[tuple[tuple[FileMeta, ...], list[bytes]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        max_keys = tuple([f.max_key for f in fs] for fs in self.levels)
        object.__setattr__(self, "max_keys", max_keys)
        search = tuple((fs, max_keys[i]) for i, fs in enumerate(self.levels) if i and fs)
        object.__setattr__(self, "search_levels", search)

    def apply(self, edit: VersionEdit) -> Version:
        """The version after `edit`. Raises ValueError if it deletes a file that is not live."""
        levels = [list(files) for files in self.levels]
        for level, number in edit.deleted:
            idx = next((i for i, f in enumerate(levels[level]) if f.number == number), None)
            if idx is None:
                raise ValueError(f"edit deletes file {number} not in level {level}")
            del levels[level][idx]
        for level, meta in edit.added:
            if level >= NUM_LEVELS:
                raise ValueError(f"level {level} out of range")
            levels[level].append(meta)
        levels[0].sort(key=lambda f: f.number, reverse=True)
        for files in levels[1:]:
            files.sort(key=lambda f: f.min_key)
        pointers = list(self.compact_pointers)
        for level, key in edit.compact_pointers:
            pointers[level] = key
        return replace(
            self,
            levels=tuple(tuple(files) for files in levels),
            log_number=self.log_number if edit.log_number is None else edit.log_number,
            next_file=self.next_file if edit.next_file is None else edit.next_file,
            last_seq=self.last_seq if edit.last_seq is None else edit.last_seq,
            compact_pointers=tuple(pointers),
        )

    def snapshot_edit(self) -> VersionEdit:
        """One edit that rebuilds this version from empty (the first record of a new manifest)."""
        return VersionEdit(
            log_number=self.log_number,
            next_file=self.next_file,
            last_seq=self.last_seq,
            added=[(lvl, f) for lvl, files in enumerate(self.levels) for f in files],
            compact_pointers=[
                (lvl, k) for lvl, k in enumerate(self.compact_pointers) if k is not None
            ],
        )

    def files(self) -> list[FileMeta]:
        return [f for files in self.levels for f in files]

    def numbers(self) -> set[int]:
        return {f.number for files in self.levels for f in files}

    def level_bytes(self, level: int) -> int:
        return sum(f.file_size for f in self.levels[level])

    def overlapping(self, level: int, start: bytes | None, end: bytes | None) -> list[FileMeta]:
        """Files of `level` whose range meets [start, end] (inclusive)."""
        return [f for f in self.levels[level] if f.overlaps(start, end)]

    def file_for_key(self, level: int, key: bytes) -> FileMeta | None:
        """The one file of a sorted level (>= 1) that may hold key."""
        files = self.levels[level]
        i = bisect.bisect_left(self.max_keys[level], key)
        if i < len(files) and files[i].min_key <= key:
            return files[i]
        return None


def _bytes32(b: bytes) -> bytes:
    return _U32.pack(len(b)) + b


def _read_bytes32(data: bytes, pos: int) -> tuple[bytes, int]:
    (n,) = _U32.unpack_from(data, pos)
    pos += 4
    if pos + n > len(data):
        raise ValueError("key runs past the end of the edit")
    return data[pos : pos + n], pos + n
