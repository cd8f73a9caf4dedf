"""Engine behaviour through the public API: reads/writes, batches, scans, snapshots,
delete_range, compaction filter, reopen, stats, group commit, failure handling."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

import storage
from storage import PersistenceError, WriteBatch


def k(i: int) -> bytes:
    return b"key%06d" % i


def test_put_get_delete(open_db):
    db = open_db()
    db.put(b"a", b"1")
    db.put(b"a", b"2")
    db.put(b"b", b"")
    assert db.get(b"a") == b"2"
    assert db.get(b"b") == b""
    db.delete(b"a")
    assert db.get(b"a") is None
    assert db.get(b"never") is None


def test_rejects_non_bytes(open_db):
    db = open_db()
    with pytest.raises(TypeError):
        db.put("text", b"v")
    db.put(bytearray(b"ba"), memoryview(b"mv"))
    assert db.get(b"ba") == b"mv"


def test_batch_is_applied_atomically_and_in_order(open_db):
    db = open_db()
    db.put(b"x", b"old")
    db.write(WriteBatch().put(b"x", b"1").delete(b"x").put(b"y", b"2").put(b"x", b"3"))
    assert (db.get(b"x"), db.get(b"y")) == (b"3", b"2")


def test_scan_bounds_order_and_tombstones_across_tables(open_db):
    db = open_db(background_compaction=False)
    for i in range(0, 3000, 1):
        db.put(k(i), b"v%d" % i)
        if i % 700 == 0:
            db.flush()
    for i in range(0, 3000, 3):
        db.delete(k(i))
    db.put(k(1), b"new")
    got = list(db.scan(k(1), k(10)))
    assert got == [(k(i), b"new" if i == 1 else b"v%d" % i) for i in range(1, 10) if i % 3]
    assert [key for key, _ in db.scan(None, k(3))] == [k(1), k(2)]
    assert len(list(db.scan())) == 2000
    assert list(db.scan(k(5000))) == []


def test_snapshot_is_stable_across_writes_flushes_and_compactions(open_db):
    db = open_db()
    for i in range(500):
        db.put(k(i), b"before")
    with db.snapshot() as snap:
        for i in range(500):
            db.put(k(i), b"after")
        for i in range(0, 500, 2):
            db.delete(k(i))
        for i in range(500, 3000):
            db.put(k(i), b"x" * 50)
        db.compact()
        assert snap.get(k(7)) == b"before"
        assert snap.get(k(8)) == b"before"
        assert snap.get(k(600)) is None
        assert list(snap.scan(None, k(500))) == [(k(i), b"before") for i in range(500)]
    assert db.get(k(8)) is None and db.get(k(7)) == b"after"
    with pytest.raises(storage.ClosedError):
        snap.get(k(1))


def test_iterator_is_stable_while_writes_go_on(open_db):
    db = open_db()
    for i in range(2000):
        db.put(k(i), b"v")
    it = db.scan()
    seen = []
    for n, (key, _) in enumerate(it):
        seen.append(key)
        if n % 100 == 0:
            db.put(key + b"!", b"new")
            db.delete(k(min(n + 50, 1999)))
    assert seen == [k(i) for i in range(2000)]


def test_delete_range(open_db):
    db = open_db()
    for i in range(3000):
        db.put(k(i), b"v")
    assert db.delete_range(k(100), k(2500)) == 2400
    assert db.get(k(99)) == b"v" and db.get(k(100)) is None and db.get(k(2500)) == b"v"
    assert db.delete_range(None, None) == 600
    assert list(db.scan()) == []


def test_dataset_ten_times_the_memtable_reads_back_after_reopen(db_path, make_options):
    opts = make_options(memtable_bytes=32 * 1024)
    n = 4000  # ~ 4000 * 90 bytes = 11x the memtable
    db = storage.open(db_path, opts)
    for i in range(n):
        db.put(k((i * 7919) % n), b"%d" % i + b"v" * 80)
    assert db.wait_idle(30)
    stats = db.stats()
    assert stats["flushes"] >= 5 and stats["compactions"] >= 1
    db.close()
    db = storage.open(db_path, opts)
    try:
        for i in range(n):
            assert db.get(k((i * 7919) % n)) == b"%d" % i + b"v" * 80
        assert len(list(db.scan())) == n
    finally:
        db.close()


def _logs(path: str) -> list[int]:
    return sorted(int(n[:-4]) for n in os.listdir(path) if n.endswith(".log"))


def test_several_frozen_memtables_are_read_newest_first_and_replayed(db_path, make_options):
    """Up to max_frozen_memtables memtables wait for their flush before a writer stalls; reads,
    scans and snapshots see all of them (the newest version wins); each keeps its WAL until its
    table is in the manifest, and a reopen replays every one of those WALs."""
    from storage import manifest

    opts = make_options(
        memtable_bytes=4 * 1024, max_frozen_memtables=3, background_compaction=False
    )
    db = storage.open(db_path, opts)
    model: dict[bytes, bytes] = {}
    snap = frozen_model = None
    i = 0

    def put() -> None:
        nonlocal i
        key, value = k(i % 50), b"%d:" % i + b"x" * 60
        db.put(key, value)
        model[key] = value
        i += 1

    try:
        while db.stats()["frozen_memtables"] < 3:
            put()
            if snap is None and db.stats()["frozen_memtables"] == 1:
                snap, frozen_model = db.snapshot(), dict(model)
        stats = db.stats()
        assert stats["flushes"] == 0 and stats["write_stalls"] == 0
        assert stats["immutable_memtable_bytes"] >= 3 * 4 * 1024
        assert len(_logs(db_path)) == 4  # three frozen + the active one
        for key, value in model.items():
            assert db.get(key) == value
        assert list(db.scan()) == sorted(model.items())
        assert list(snap.scan()) == sorted(frozen_model.items())
        assert all(snap.get(key) == value for key, value in frozen_model.items())
        # the next full memtable finds the queue full: the writer stalls and (no background
        # thread) flushes the oldest one itself, then freezes its own
        while db.stats()["flushes"] == 0:
            put()
        stats = db.stats()
        assert stats["write_stalls"] >= 1 and stats["frozen_memtables"] <= 3
        logs = _logs(db_path)
        assert len(logs) == stats["frozen_memtables"] + 1  # the flushed one's WAL is gone
        version, _ = manifest.load(db_path)
        assert version.log_number == logs[0]  # recovery replays every unflushed memtable
        assert list(snap.scan()) == sorted(frozen_model.items())
        snap.release()
        db.close()  # no flush: the frozen memtables live only in their WALs
        db = storage.open(db_path, opts)
        assert list(db.scan()) == sorted(model.items())
        assert db.stats()["frozen_memtables"] == 0
    finally:
        db.close()


def test_flush_writes_every_frozen_memtable(open_db):
    db = open_db(memtable_bytes=2 * 1024, max_frozen_memtables=4, background_compaction=False)
    for i in range(100):
        db.put(k(i), b"v" * 60)
    assert db.stats()["frozen_memtables"] >= 2
    db.flush()
    stats = db.stats()
    assert stats["frozen_memtables"] == 0 and stats["memtable_bytes"] == 0
    assert stats["files_per_level"][0] == stats["flushes"] >= 3
    assert len(_logs(db.path)) == 1
    assert [key for key, _ in db.scan()] == [k(i) for i in range(100)]


@pytest.mark.parametrize("with_snapshot", [False, True])
def test_queued_memtables_are_flushed_into_one_table_unless_a_snapshot_needs_them(
    open_db, monkeypatch, with_snapshot
):
    """The flush worker replays the logs of every queued memtable into one table (last write
    wins across them), except across a live snapshot older than a memtable taken: its
    versions would be lost to the newer memtables' overwrites."""
    import storage.engine as engine_mod

    monkeypatch.setattr(engine_mod, "PROCESS_FLUSH_MIN_ENTRIES", 0)
    db = open_db(memtable_bytes=4 * 1024, max_frozen_memtables=3)
    model: dict[bytes, bytes] = {}
    snap = frozen_model = None
    i = 0
    with db._work_lock:  # holds the background thread off: the memtables queue up
        while db.stats()["frozen_memtables"] < 3:
            key, value = k(i % 40), b"%d:" % i + b"x" * 60
            db.put(key, value)
            model[key] = value
            i += 1
            if with_snapshot and snap is None and db.stats()["frozen_memtables"] == 1:
                snap, frozen_model = db.snapshot(), dict(model)
    assert db.wait_idle(30)
    stats = db.stats()
    assert stats["flushed_memtables"] == 3
    assert stats["flushes"] == (3 if with_snapshot else 1)  # the snapshot is inside the 2nd
    assert stats["process_flushes"] == stats["flushes"]
    deadline = time.monotonic() + 10  # the flushed WALs go right after the Version is swapped
    while len(_logs(db.path)) > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_logs(db.path)) == 1
    assert dict(db.scan()) == model
    assert all(db.get(key) == value for key, value in model.items())
    if with_snapshot:
        assert dict(snap.scan()) == frozen_model
        assert all(snap.get(key) == value for key, value in frozen_model.items())
        snap.release()


def test_max_frozen_memtables_must_be_positive():
    with pytest.raises(ValueError):
        storage.Options(max_frozen_memtables=0)


def test_unflushed_writes_survive_clean_reopen(db_path, make_options):
    db = storage.open(db_path, make_options(memtable_bytes=1 << 20))
    db.put(b"a", b"1")
    db.write(WriteBatch().put(b"b", b"2").delete(b"a"))
    db.close()
    db = storage.open(db_path, make_options())
    try:
        assert (db.get(b"a"), db.get(b"b")) == (None, b"2")
        db.put(b"c", b"3")  # sequence numbers continue after recovery
        assert db.stats()["last_sequence"] == 4
    finally:
        db.close()


EXPIRED = b"EXPIRED:"


def keep_unexpired(key: bytes, value: bytes) -> bool:
    return not value.startswith(EXPIRED)


def test_compaction_filter_drops_expired_without_resurrecting_older_versions(db_path, make_options):
    opts = make_options(
        compaction_filter=keep_unexpired,
        level1_bytes=1024,
        level_multiplier=2,
        background_compaction=True,
    )
    db = storage.open(db_path, opts)
    try:
        for i in range(300):
            db.put(k(i), b"old" * 20)
        db.compact()  # old versions go to a deep level
        deep = max(lvl for lvl, n in enumerate(db.stats()["files_per_level"]) if n)
        assert deep >= 2
        for i in range(300):
            db.put(k(i), EXPIRED + b"x" * 50)
        for _ in range(opts.level0_compaction_trigger):
            db.put(b"pad", b"p" * 100)
            db.flush()
        assert db.wait_idle(30)
        stats = db.stats()
        assert stats["filtered"] > 0  # a non-bottom compaction saw the expired values
        assert all(db.get(k(i)) is None for i in range(300))
        assert [key for key, _ in db.scan()] == [b"pad"]
        db.compact()
        assert all(db.get(k(i)) is None for i in range(300))
        assert db.stats()["entries"] <= 2  # tombstones and old values are gone at the bottom
    finally:
        db.close()
    db = storage.open(db_path, opts)
    try:
        assert all(db.get(k(i)) is None for i in range(300))
    finally:
        db.close()


def test_compaction_filter_does_not_touch_snapshot_view(open_db):
    db = open_db(compaction_filter=keep_unexpired)
    db.put(b"k", EXPIRED + b"1")
    with db.snapshot() as snap:
        db.compact()
        assert snap.get(b"k") == EXPIRED + b"1"
    db.compact()
    assert db.get(b"k") is None
    assert db.stats()["entries"] == 0


def test_tombstones_kept_while_a_snapshot_needs_the_value_beneath(open_db):
    db = open_db()
    db.put(b"k", b"v")
    db.flush()
    snap = db.snapshot()
    db.delete(b"k")
    db.compact()
    assert snap.get(b"k") == b"v" and db.get(b"k") is None
    snap.release()
    db.compact()
    assert db.get(b"k") is None and db.stats()["entries"] == 0


def test_stats_report_the_engine(open_db):
    db = open_db()
    for i in range(3000):
        db.put(k(i), b"v" * 40)
    db.flush()
    db.get(b"absent")
    db.get(k(5))
    s = db.stats()
    for field in (
        "files_per_level",
        "bytes_per_level",
        "compression_ratio",
        "bloom_negatives",
        "bloom_positives",
        "block_cache_hits",
        "block_cache_misses",
        "wal_bytes",
        "memtable_bytes",
        "pending_compaction",
        "flushes",
        "compactions",
        "write_stalls",
    ):
        assert field in s
    assert sum(s["files_per_level"]) >= 1 and s["flushes"] >= 1
    assert s["compression_ratio"] > 1.5
    assert s["wal_bytes"] > 3000 * 40


def test_concurrent_writers_share_group_commits(open_db):
    db = open_db(fsync="always", memtable_bytes=1 << 20)
    errors = []

    def writer(t):
        try:
            for i in range(40):
                db.put(b"t%02d-%03d" % (t, i), b"v")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    s = db.stats()
    assert s["last_sequence"] == 800
    assert s["group_commits"] < 800  # some writers rode along with a leader's fsync
    assert len(list(db.scan())) == 800


def test_failed_fsync_refuses_further_writes_until_reopen(db_path, make_options, monkeypatch):
    db = storage.open(db_path, make_options(fsync="always"))
    db.put(b"safe", b"1")

    def broken(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    monkeypatch.setattr(os, "fdatasync", broken, raising=False)
    with pytest.raises(PersistenceError, match=r"\.log"):
        db.put(b"lost", b"2")
    monkeypatch.undo()  # disks do not heal the engine: it must still refuse
    with pytest.raises(PersistenceError):
        db.put(b"after", b"3")  # the fsyncgate lesson: no retry on a failed fsync
    assert db.get(b"safe") == b"1"  # reads still work
    db.close()
    db = storage.open(db_path, make_options(fsync="always"))
    try:
        assert db.get(b"safe") == b"1"
        db.put(b"after", b"3")
        assert db.get(b"after") == b"3"
    finally:
        db.close()


@pytest.mark.parametrize("fsync", ["always", "no"])
def test_full_disk_is_persistence_error(open_db, monkeypatch, fsync):
    db = open_db(fsync=fsync)
    real_write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(PersistenceError, match="No space left"):
        db.put(b"k", b"v")  # fsync=always: written now
        db.flush()  # buffered: written when the WAL is sealed
    monkeypatch.setattr(os, "write", real_write)
    with pytest.raises(PersistenceError):
        db.put(b"k", b"v")


def test_failed_background_flush_stops_writes(open_db, monkeypatch):
    db = open_db(memtable_bytes=4096)
    import storage.compactor as compactor

    def broken_builder(*a, **kw):
        raise PersistenceError("cannot create SSTable: disk full (injected)")

    monkeypatch.setattr(compactor, "TableBuilder", broken_builder)
    with pytest.raises(PersistenceError, match="injected"):
        for i in range(10000):
            db.put(k(i), b"v" * 100)
    assert db.get(k(0)) == b"v" * 100


def test_closed_engine_raises(open_db):
    db = open_db()
    db.close()
    db.close()
    with pytest.raises(storage.ClosedError):
        db.put(b"a", b"b")
    with pytest.raises(storage.ClosedError):
        db.snapshot()


def test_second_open_of_same_directory_is_refused(open_db, db_path, make_options):
    open_db()
    with pytest.raises(storage.StorageError, match="locked"):
        storage.open(db_path, make_options())


def test_reads_and_writes_race_with_background_compaction(open_db):
    db = open_db()
    stop = threading.Event()
    failures = []

    def reader():
        while not stop.is_set():
            for i in range(0, 2000, 97):
                v = db.get(k(i))
                if v is not None and v != b"v" * 30:
                    failures.append((i, v))
            n = sum(1 for _ in db.scan(k(0), k(200)))
            if n > 200:
                failures.append(("scan", n))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for round_ in range(4):
            for i in range(2000):
                db.put(k(i), b"v" * 30)
            assert db.get(k(round_)) == b"v" * 30
    finally:
        stop.set()
        t.join(timeout=30)
    assert not failures
    assert db.wait_idle(30)
    assert db.stats()["compactions"] >= 1


def test_close_cancels_a_running_compaction_without_losing_data(db_path, make_options):
    opts = make_options(memtable_bytes=256 * 1024, target_file_bytes=64 * 1024)
    db = storage.open(db_path, opts)
    for i in range(20000):
        db.put(k(i), b"v%d" % i)
    started = threading.Event()
    outcome = []

    def compact():
        started.set()
        try:
            db.compact()
            outcome.append("done")
        except storage.ClosedError:
            outcome.append("cancelled")

    t = threading.Thread(target=compact)
    t.start()
    assert started.wait(10)
    db.close()
    t.join(timeout=60)
    assert outcome in (["done"], ["cancelled"])
    db = storage.open(db_path, opts)
    try:
        assert len(list(db.scan())) == 20000
        assert db.get(k(12345)) == b"v12345"
    finally:
        db.close()


def test_big_merges_run_in_a_worker_process_that_close_stops(db_path, make_options, monkeypatch):
    import psutil

    import storage.engine as engine_mod

    monkeypatch.setattr(engine_mod, "PROCESS_MERGE_MIN_BYTES", 0)
    db = storage.open(db_path, make_options(compaction_filter=keep_unexpired))
    for i in range(6000):
        db.put(k(i), (EXPIRED if i % 3 == 0 else b"") + b"v%d" % i + b"x" * 40)
    db.compact()
    stats = db.stats()
    assert stats["process_merges"] >= 1
    assert stats["filtered"] == 2000  # the module-level filter ran inside the worker
    pid = db._merge_worker.pid
    assert pid is not None and psutil.pid_exists(pid)
    db.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not [n for n in os.listdir(db_path) if n.endswith(".tmp")]
    db = storage.open(db_path, make_options())
    try:
        assert len(list(db.scan())) == 4000
        assert db.get(k(1)) == b"v1" + b"x" * 40 and db.get(k(3)) is None
    finally:
        db.close()


def test_unpicklable_filter_merges_in_thread(open_db, monkeypatch):
    import storage.engine as engine_mod

    monkeypatch.setattr(engine_mod, "PROCESS_MERGE_MIN_BYTES", 0)
    db = open_db(compaction_filter=lambda key, value: not value.startswith(EXPIRED))
    for i in range(3000):
        db.put(k(i), EXPIRED if i % 2 else b"live")
    db.compact()
    assert db.stats()["process_merges"] == 0
    assert len(list(db.scan())) == 1500


def test_a_broken_worker_falls_back_to_merging_in_thread(open_db, monkeypatch):
    import storage.compactor as compactor_mod
    import storage.engine as engine_mod

    monkeypatch.setattr(engine_mod, "PROCESS_MERGE_MIN_BYTES", 0)

    def broken(self, spec, wait_hook):
        raise compactor_mod.WorkerDied("injected")

    monkeypatch.setattr(compactor_mod.MergeWorker, "run", broken)
    db = open_db()
    for i in range(5000):
        db.put(k(i), b"v" * 30)
    db.compact()
    assert db.stats()["process_merges"] == 0 and db._merge_worker is None
    assert len(list(db.scan())) == 5000


def test_flushes_in_the_worker_process_keep_snapshot_versions(open_db, monkeypatch):
    import storage.engine as engine_mod

    monkeypatch.setattr(engine_mod, "PROCESS_FLUSH_MIN_ENTRIES", 0)
    db = open_db()
    for i in range(300):
        db.put(k(i), b"old")
    with db.snapshot() as snap:
        for i in range(300):
            db.put(k(i), b"new")
        db.delete(k(7))
        db.flush()
        assert db.stats()["process_flushes"] >= 1
        assert snap.get(k(7)) == b"old" and db.get(k(7)) is None
        assert list(snap.scan(k(0), k(3))) == [(k(i), b"old") for i in range(3)]
    for i in range(3000):
        db.put(k(i), b"v%d" % i)
    db.flush()
    assert db.wait_idle(30)
    assert len(list(db.scan())) == 3000 and db.get(k(7)) == b"v7"
    assert not [n for n in os.listdir(db.path) if n.endswith(".tmp")]


def test_worker_flushes_a_snapshot_free_memtable_from_its_sealed_log(open_db, monkeypatch):
    import storage.compactor as compactor_mod
    import storage.engine as engine_mod

    monkeypatch.setattr(engine_mod, "PROCESS_FLUSH_MIN_ENTRIES", 0)
    sent = []
    real_run = compactor_mod.MergeWorker.run
    monkeypatch.setattr(
        compactor_mod.MergeWorker,
        "run",
        lambda self, spec, hook: sent.append(type(spec).__name__) or real_run(self, spec, hook),
    )
    db = open_db()
    for i in range(500):
        db.put(k(i), b"a%d" % i)
    for i in range(0, 500, 2):
        db.put(k(i), b"b%d" % i)  # overwrites: only the newest version is flushed
    db.delete(k(3))
    db.flush()
    assert sent and set(sent) == {"LogFlushSpec"}
    expected = {k(i): (b"b%d" if i % 2 == 0 else b"a%d") % i for i in range(500) if i != 3}
    assert dict(db.scan()) == expected and db.get(k(3)) is None


def test_log_flush_that_disagrees_with_the_memtable_falls_back_to_pickling(open_db, monkeypatch):
    import storage.compactor as compactor_mod
    import storage.engine as engine_mod

    monkeypatch.setattr(engine_mod, "PROCESS_FLUSH_MIN_ENTRIES", 0)
    real_init = compactor_mod.LogFlushSpec.__init__

    def wrong_count(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.entries += 1  # as if the log had lost a record

    monkeypatch.setattr(compactor_mod.LogFlushSpec, "__init__", wrong_count)
    db = open_db()
    for i in range(200):
        db.put(k(i), b"v%d" % i)
    db.flush()
    assert db.stats()["process_flushes"] == 1
    assert [db.get(k(i)) for i in range(200)] == [b"v%d" % i for i in range(200)]


def test_compacted_away_tables_leave_the_block_cache(open_db):
    db = open_db(background_compaction=False)
    for i in range(2000):
        db.put(k(i), b"v%d" % i)
    db.flush()
    assert all(db.get(k(i)) == b"v%d" % i for i in range(0, 2000, 50))
    before = {key[0] for key in db._cache._entries}
    assert before
    db.compact()
    assert db.get(k(1)) == b"v1"
    assert not before & {key[0] for key in db._cache._entries}
