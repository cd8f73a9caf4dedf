"""Bad input at the engine level: each a typed error naming the file (and offset)."""

from __future__ import annotations

import glob
import os
import struct

import pytest

import storage
from storage import (
    BadMagicError,
    ChecksumMismatchError,
    CorruptionError,
    NotAStorageDirectory,
    UnsupportedVersionError,
)
from storage.wal.format import HEADER_SIZE


def fill(path, make_options, n=50, **kw):
    db = storage.open(path, make_options(memtable_bytes=1 << 20, **kw))
    for i in range(n):
        db.put(b"key%03d" % i, b"value%03d" % i)
    return db


def only(pattern):
    (path,) = glob.glob(pattern)
    return path


def test_directory_with_foreign_files_is_not_a_storage_directory(tmp_path, make_options):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NotAStorageDirectory, match=r"notes\.txt"):
        storage.open(str(tmp_path), make_options())
    assert not (tmp_path / "CURRENT").exists()


def test_a_file_is_not_a_storage_directory(tmp_path, make_options):
    f = tmp_path / "file"
    f.write_bytes(b"x")
    with pytest.raises(NotAStorageDirectory):
        storage.open(str(f), make_options())


def test_missing_directory_without_create_if_missing(tmp_path, make_options):
    with pytest.raises(NotAStorageDirectory):
        storage.open(str(tmp_path / "nope"), make_options(create_if_missing=False))


def test_wal_checksum_mismatch_in_middle_names_log_and_offset(db_path, make_options):
    fill(db_path, make_options).close()
    log = only(os.path.join(db_path, "*.log"))
    with open(log, "r+b") as f:
        f.seek(HEADER_SIZE + 200)
        byte = f.read(1)
        f.seek(HEADER_SIZE + 200)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ChecksumMismatchError) as info:
        storage.open(db_path, make_options())
    assert info.value.path == log and info.value.offset is not None
    assert os.path.basename(log) in str(info.value)


def test_wal_torn_tail_loses_only_the_unacknowledged_record(db_path, make_options):
    fill(db_path, make_options).close()
    log = only(os.path.join(db_path, "*.log"))
    os.truncate(log, os.path.getsize(log) - 3)
    db = storage.open(db_path, make_options())
    try:
        assert db.get(b"key048") == b"value048"
        assert db.get(b"key049") is None
    finally:
        db.close()


def test_wal_of_another_format_version(db_path, make_options):
    fill(db_path, make_options).close()
    log = only(os.path.join(db_path, "*.log"))
    with open(log, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<H", 7))
    with pytest.raises(UnsupportedVersionError, match=r"\.log"):
        storage.open(db_path, make_options())


def test_manifest_bad_magic(db_path, make_options):
    fill(db_path, make_options).close()
    manifest = only(os.path.join(db_path, "MANIFEST-*"))
    with open(manifest, "r+b") as f:
        f.write(b"\0\0\0\0")
    with pytest.raises(BadMagicError, match="MANIFEST"):
        storage.open(db_path, make_options())


def test_corrupted_table_block_is_reported_with_file(db_path, make_options):
    db = fill(db_path, make_options, n=2000, compression="none")
    db.flush()
    db.close()
    sst = only(os.path.join(db_path, "*.sst"))
    with open(sst, "r+b") as f:
        f.seek(100)
        f.write(b"\xde\xad\xbe\xef")
    db = storage.open(db_path, make_options())
    try:
        with pytest.raises(CorruptionError) as info:
            list(db.scan())
        assert info.value.path == sst
    finally:
        db.close()


def test_table_of_another_format_version_is_reported_at_open(db_path, make_options):
    db = fill(db_path, make_options)
    db.flush()
    db.close()
    sst = only(os.path.join(db_path, "*.sst"))
    with open(sst, "r+b") as f:
        f.seek(8)  # header := magic: 8 bytes, version: u32
        f.write(struct.pack("<I", 99))
    with pytest.raises(UnsupportedVersionError) as info:
        storage.open(db_path, make_options())
    assert info.value.path == sst


def test_table_with_bad_magic_is_reported_at_open(db_path, make_options):
    db = fill(db_path, make_options)
    db.flush()
    db.close()
    sst = only(os.path.join(db_path, "*.sst"))
    with open(sst, "r+b") as f:
        f.write(b"\0" * 8)
    with pytest.raises(BadMagicError) as info:
        storage.open(db_path, make_options())
    assert info.value.path == sst


def test_missing_table_is_reported(db_path, make_options):
    db = fill(db_path, make_options)
    db.flush()
    db.close()
    os.unlink(only(os.path.join(db_path, "*.sst")))
    with pytest.raises(CorruptionError, match="missing"):
        storage.open(db_path, make_options())
