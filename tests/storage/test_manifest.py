"""Manifest and VersionEdit: round trips, CURRENT, and one named test per corruption case."""

from __future__ import annotations

import os
import struct

import pytest

from storage import manifest
from storage.errors import (
    BadMagicError,
    ChecksumMismatchError,
    CorruptionError,
    UnsupportedVersionError,
)
from storage.version import FileMeta, Version, VersionEdit
from storage.wal.format import HEADER_SIZE


def meta(n, lo=b"a", hi=b"z", size=100):
    return FileMeta(n, size, lo, hi, 1, n, 10, 1, 200)


def test_edit_round_trip():
    edit = VersionEdit(
        log_number=7,
        next_file=9,
        last_seq=123,
        deleted=[(1, 3)],
        added=[(0, meta(5)), (2, meta(6, b"", b"\xff" * 300))],
        compact_pointers=[(2, b"mid")],
    )
    back = VersionEdit.decode(edit.encode())
    assert back == edit


def test_unknown_tag_is_rejected():
    with pytest.raises(ValueError, match="unknown edit tag"):
        VersionEdit.decode(b"\x63")


def test_apply_adds_deletes_and_orders_levels():
    v = Version().apply(VersionEdit(added=[(0, meta(3)), (0, meta(8)), (1, meta(5, b"m", b"p"))]))
    v = v.apply(VersionEdit(added=[(1, meta(6, b"a", b"c"))], deleted=[(0, 3)], log_number=4))
    assert [f.number for f in v.levels[0]] == [8]
    assert [f.number for f in v.levels[1]] == [6, 5]
    assert v.log_number == 4
    assert v.file_for_key(1, b"b").number == 6
    assert v.file_for_key(1, b"d") is None
    with pytest.raises(ValueError):
        v.apply(VersionEdit(deleted=[(2, 99)]))


def make_manifest(tmp_path, edits=()):
    d = str(tmp_path)
    v = Version().apply(VersionEdit(added=[(0, meta(3))], next_file=10))
    w = manifest.ManifestWriter(d, 4, v)
    for e in edits:
        w.append(e)
    w.close()
    return d, os.path.join(d, manifest.manifest_name(4))


def test_manifest_round_trip_and_current(tmp_path):
    d, _ = make_manifest(tmp_path, [VersionEdit(added=[(1, meta(5))], last_seq=77)])
    v, number = manifest.load(d)
    assert number == 4
    assert v.numbers() == {3, 5} and v.last_seq == 77
    assert manifest.read_current(d) == "MANIFEST-000004"
    assert not os.path.exists(os.path.join(d, "CURRENT.tmp"))


def test_bad_magic(tmp_path):
    d, path = make_manifest(tmp_path)
    with open(path, "r+b") as f:
        f.write(b"RDWL")
    with pytest.raises(BadMagicError) as info:
        manifest.load(d)
    assert info.value.path == path


def test_wrong_version(tmp_path):
    d, path = make_manifest(tmp_path)
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<H", 2))
    with pytest.raises(UnsupportedVersionError):
        manifest.load(d)


def test_checksum_mismatch_in_middle(tmp_path):
    d, path = make_manifest(tmp_path, [VersionEdit(last_seq=1), VersionEdit(last_seq=2)])
    with open(path, "r+b") as f:
        f.seek(HEADER_SIZE + 12)  # inside the first (snapshot) record
        f.write(b"\xee")
    with pytest.raises(ChecksumMismatchError) as info:
        manifest.load(d)
    assert info.value.offset == HEADER_SIZE and info.value.path == path


def test_truncated_tail_is_ignored(tmp_path):
    d, path = make_manifest(tmp_path, [VersionEdit(last_seq=1), VersionEdit(last_seq=2)])
    os.truncate(path, os.path.getsize(path) - 3)
    v, _ = manifest.load(d)
    assert v.last_seq == 1  # the torn edit never took effect


def test_length_past_end_of_file(tmp_path):
    d, path = make_manifest(tmp_path)
    with open(path, "ab") as f:
        f.write(struct.pack("<II", 0, 1 << 30) + b"x")  # length beyond any record limit
    with pytest.raises(CorruptionError, match="past end"):
        manifest.load(d)


def test_current_bad_magic_and_version(tmp_path):
    d, _ = make_manifest(tmp_path)
    cur = os.path.join(d, "CURRENT")
    with open(cur, "w") as f:
        f.write("MANIFEST-000004\n")
    with pytest.raises(BadMagicError):
        manifest.load(d)
    with open(cur, "w") as f:
        f.write("respdyn-current 9 MANIFEST-000004\n")
    with pytest.raises(UnsupportedVersionError):
        manifest.load(d)


def test_missing_manifest_is_corruption(tmp_path):
    d, path = make_manifest(tmp_path)
    os.unlink(path)
    with pytest.raises(CorruptionError, match="missing"):
        manifest.load(d)


def test_edit_deleting_unknown_file_is_corruption_with_offset(tmp_path):
    d, path = make_manifest(tmp_path, [VersionEdit(deleted=[(3, 42)])])
    assert os.path.exists(path)
    with pytest.raises(CorruptionError) as info:
        manifest.load(d)
    assert info.value.offset is not None and info.value.offset > HEADER_SIZE
