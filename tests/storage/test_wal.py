"""WAL framing: round trips, and one named test per corruption case (LevelDB's log_test)."""

from __future__ import annotations

import os
import struct

import pytest

from storage.batch import WriteBatch, decode_record, encode_record
from storage.errors import (
    BadMagicError,
    ChecksumMismatchError,
    CorruptionError,
    LengthPastEndError,
    PersistenceError,
    UnsupportedVersionError,
)
from storage.wal import WAL_MAGIC, LogReader, LogWriter
from storage.wal.format import HEADER_SIZE, RECORD_HEADER_SIZE


def write_log(path, payloads):
    w = LogWriter(str(path), WAL_MAGIC)
    for p in payloads:
        w.append([p])
    w.close()
    return str(path)


def read_all(path, tail_ok=True):
    return [p for _, p in LogReader(str(path), WAL_MAGIC, tail_ok=tail_ok).records()]


PAYLOADS = [b"first", b"", b"x" * 5000, b"last"]


def test_round_trip(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    assert read_all(path) == PAYLOADS


def test_group_append_is_one_write_of_many_records(tmp_path):
    w = LogWriter(str(tmp_path / "1.log"), WAL_MAGIC)
    w.append([b"a", b"b", b"c"])
    w.close()
    assert read_all(tmp_path / "1.log") == [b"a", b"b", b"c"]


def test_batch_record_round_trip():
    batch = WriteBatch().put(b"k1", b"v1").delete(b"k2").put(b"k3", b"")
    payload = encode_record(41, len(batch), batch.body())
    assert decode_record(payload, "x", 0) == (
        41,
        [(1, b"k1", b"v1"), (0, b"k2", b""), (1, b"k3", b"")],
    )


def test_malformed_batch_behind_good_crc_is_corruption():
    with pytest.raises(CorruptionError, match="malformed batch"):
        decode_record(struct.pack("<QI", 1, 2) + b"\x01", "f.log", 8)


def test_bad_magic(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    with open(path, "r+b") as f:
        f.write(b"NOPE")
    with pytest.raises(BadMagicError) as info:
        read_all(path)
    assert info.value.path == path and info.value.offset == 0


def test_wrong_version(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<H", 99))
    with pytest.raises(UnsupportedVersionError, match="version 99"):
        read_all(path)


def test_checksum_mismatch_in_middle_reports_file_and_offset(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    second = HEADER_SIZE + RECORD_HEADER_SIZE + len(PAYLOADS[0])
    third = second + RECORD_HEADER_SIZE
    with open(path, "r+b") as f:
        f.seek(third + RECORD_HEADER_SIZE + 10)  # a byte inside the third record's payload
        f.write(b"Z")
    with pytest.raises(ChecksumMismatchError) as info:
        read_all(path)
    assert info.value.path == path
    assert info.value.offset == third
    assert str(third) in str(info.value)


def test_truncated_tail_is_ignored(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    size = os.path.getsize(path)
    for cut in (1, 3, RECORD_HEADER_SIZE + 1):
        os.truncate(path, size - cut)
        reader = LogReader(path, WAL_MAGIC, tail_ok=True)
        assert [p for _, p in reader.records()] == PAYLOADS[:-1]
        assert reader.torn_tail
        size -= cut
        path = write_log(tmp_path / f"again{cut}.log", PAYLOADS)
        size = os.path.getsize(path)


def test_torn_last_record_with_bad_crc_is_ignored(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"!")
    assert read_all(path) == PAYLOADS[:-1]


def test_zero_filled_tail_is_ignored(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    assert read_all(path) == PAYLOADS


def test_length_past_end_of_file_in_sealed_log(tmp_path):
    path = write_log(tmp_path / "1.log", PAYLOADS)
    os.truncate(path, os.path.getsize(path) - 2)
    with pytest.raises(LengthPastEndError) as info:
        read_all(path, tail_ok=False)
    assert info.value.path == path


def test_absurd_length_is_length_past_end_even_at_tail(tmp_path):
    path = write_log(tmp_path / "1.log", [b"a"])
    with open(path, "ab") as f:
        f.write(struct.pack("<II", 1234, 0xFFFFFFF0) + b"junk")
    with pytest.raises(LengthPastEndError):
        read_all(path)


def test_write_failure_is_persistence_error(tmp_path, monkeypatch):
    w = LogWriter(str(tmp_path / "1.log"), WAL_MAGIC)

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    w.append([b"x"])
    monkeypatch.setattr(os, "fsync", failing_fsync)
    monkeypatch.setattr(os, "fdatasync", failing_fsync, raising=False)
    with pytest.raises(PersistenceError, match="fsync"):
        w.sync()


def test_frame_one_put_is_the_framed_one_op_batch() -> None:
    from storage.batch import encode_put, encode_record, frame_one_put
    from storage.wal.format import frame

    for key, value in ((b"k", b"v"), (b"", b""), (b"key" * 50, b"\x00" * 70_000)):
        expected = frame(encode_record(12345678901, 1, encode_put(key, value)))
        assert frame_one_put(12345678901, key, value) == expected
