"""The flush worker's log replay (compactor.replay_log): its inline parser of one-put records
agrees with LogReader + decode_record on every record shape, and damage is still reported
with the file and offset."""

from __future__ import annotations

import os

import pytest

from storage.batch import WriteBatch, encode_record, frame_one_put
from storage.compactor import LogFlushSpec, replay_log, run_log_flush
from storage.errors import ChecksumMismatchError, CorruptionError
from storage.options import Options
from storage.sstable import KIND_DELETE, KIND_PUT, Table
from storage.wal import WAL_MAGIC, LogWriter
from storage.wal.format import frame


def _write_log(path: str, first_seq: int = 1) -> tuple[int, int, dict]:
    """A log mixing one-put records, batches, deletes and overwrites -> (ops, max_seq, model)."""
    w = LogWriter(path, WAL_MAGIC, buffer_bytes=4096)
    model: dict[bytes, tuple[int, bytes]] = {}
    seq = first_seq
    ops = 0
    for i in range(500):
        key = b"k%04d" % (i * 7 % 300)
        if i % 50 == 7:
            batch = WriteBatch().put(key, b"batched").delete(b"k%04d" % (i % 300)).put(b"", b"e")
            w.append_framed(frame(encode_record(seq, len(batch), batch.body())))
            for kind, k, v in batch.ops:
                model[k] = (seq << 8 | kind, v)
                seq += 1
                ops += 1
        else:
            value = b"v%d" % i * (i % 5)
            w.append_framed(frame_one_put(seq, key, value))
            model[key] = (seq << 8 | KIND_PUT, value)
            seq += 1
            ops += 1
    w.close()
    return ops, seq - 1, model


def _as_model(columns: tuple[list, list, list]) -> dict:
    keys, tags, values = columns
    assert keys == sorted(keys)
    return {k: (t, v) for k, t, v in zip(keys, tags, values, strict=True)}


def test_replay_matches_the_model_and_the_flush_writes_it(tmp_path):
    path = str(tmp_path / "000001.log")
    ops, max_seq, model = _write_log(path)
    spec = LogFlushSpec(str(tmp_path), path, ops, max_seq, Options())
    assert _as_model(replay_log(spec)) == model
    numbers = iter(range(1, 10))
    result = run_log_flush(spec, numbers.__next__, lambda n: str(tmp_path / f"{n}.sst"))
    with Table.open(str(tmp_path / "1.sst"), 1, Options()) as t:
        got = {k: (s << 8 | kind, v) for k, s, kind, v in t.iter()}
    assert got == model
    assert result.outputs[0].tombstones == sum(
        1 for tag, _ in model.values() if tag & 0xFF == KIND_DELETE
    )


def test_several_logs_replay_into_one_table_newest_write_winning(tmp_path):
    """The logs of several queued memtables (oldest first) flushed into one table."""
    old, new = str(tmp_path / "000001.log"), str(tmp_path / "000002.log")
    old_ops, old_max, model = _write_log(old)
    new_ops, new_max, newer = _write_log(new, first_seq=old_max + 1)
    model.update(newer)
    spec = LogFlushSpec(
        str(tmp_path), new, new_ops, new_max, Options(), older_logs=((old, old_ops, old_max),)
    )
    assert _as_model(replay_log(spec)) == model
    numbers = iter(range(1, 10))
    run_log_flush(spec, numbers.__next__, lambda n: str(tmp_path / f"{n}.sst"))
    with Table.open(str(tmp_path / "1.sst"), 1, Options()) as t:
        assert {k: (s << 8 | kind, v) for k, s, kind, v in t.iter()} == model
    wrong = LogFlushSpec(
        str(tmp_path), new, new_ops, new_max, Options(), older_logs=((old, old_ops - 1, old_max),)
    )
    with pytest.raises(CorruptionError, match=r"000001\.log"):
        replay_log(wrong)


def test_replay_refuses_a_count_mismatch(tmp_path):
    path = str(tmp_path / "000001.log")
    ops, max_seq, _ = _write_log(path)
    with pytest.raises(CorruptionError, match="log holds"):
        replay_log(LogFlushSpec(str(tmp_path), path, ops + 1, max_seq, Options()))


@pytest.mark.parametrize("where", [0.3, 0.999])
def test_replay_names_damage_in_a_sealed_log(tmp_path, where):
    path = str(tmp_path / "000001.log")
    ops, max_seq, _ = _write_log(path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(int(size * where))
        byte = f.read(1)
        f.seek(int(size * where))
        f.write(bytes((byte[0] ^ 0x40,)))
    with pytest.raises(CorruptionError) as info:
        replay_log(LogFlushSpec(str(tmp_path), path, ops, max_seq, Options()))
    assert isinstance(info.value, ChecksumMismatchError) or "log holds" in str(info.value)


def test_replay_reports_a_bad_header(tmp_path):
    from storage.errors import BadMagicError

    path = str(tmp_path / "000001.log")
    ops, max_seq, _ = _write_log(path)
    with open(path, "r+b") as f:
        f.write(b"XXXX")
    with pytest.raises(BadMagicError):
        replay_log(LogFlushSpec(str(tmp_path), path, ops, max_seq, Options()))


def test_worker_never_imports_a_storage_from_its_cwd(tmp_path, monkeypatch):
    """The worker is `python -P -c ...`: a `storage` module in the directory the host program
    runs in must not replace this package in the worker."""
    from storage.compactor import MergeWorker

    (tmp_path / "storage.py").write_text("raise SystemExit('wrong storage imported')\n")
    monkeypatch.chdir(tmp_path)
    log = str(tmp_path / "000001.log")
    ops, max_seq, model = _write_log(log)
    spec = LogFlushSpec(str(tmp_path), log, ops, max_seq, Options())
    spec.tmp_prefix = "flush-"
    worker = MergeWorker()
    try:
        result = worker.run(spec, lambda: False)
    finally:
        worker.close()
    assert result.outputs[0].entries == len(model)
