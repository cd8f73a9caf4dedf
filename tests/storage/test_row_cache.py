"""The row cache (Options.row_cache_bytes): storage.cache.RowCache on its own, then the engine's
use of it. The engine tests read a key from a table first (so it is cached), then change it
through each write path and make the change reach the tables: a row cache that missed the
change would answer the old value, which only the memtable hid until the flush."""

from __future__ import annotations

import threading
import time

import pytest

import storage
from storage import WriteBatch
from storage.cache import ROW_OVERHEAD, RowCache

EXPIRED = b"EXPIRED:"


def keep_unexpired(key: bytes, value: bytes) -> bool:
    return not value.startswith(EXPIRED)


def k(i: int) -> bytes:
    return b"key%06d" % i


def charge(key: bytes, value: bytes) -> int:
    return len(key) + len(value) + ROW_OVERHEAD


# ---------------------------------------------------------------------------- RowCache alone


def test_get_counts_hits_and_misses() -> None:
    rows = RowCache(10_000)
    assert rows.get(b"k") is None
    assert rows.put(b"k", b"v", rows.epoch)
    assert rows.get(b"k") == b"v"
    assert (rows.hits, rows.misses) == (1, 1)


def test_charge_is_key_plus_value_plus_overhead() -> None:
    rows = RowCache(10_000)
    rows.put(b"key", b"value", 0)
    rows.put(b"k2", b"", 0)
    assert rows.used_bytes == charge(b"key", b"value") + charge(b"k2", b"")
    rows.put(b"key", b"v", 0)  # a replaced row gives its charge back
    assert rows.used_bytes == charge(b"key", b"v") + charge(b"k2", b"")
    rows.discard(b"key")
    rows.discard(b"absent")
    assert rows.used_bytes == charge(b"k2", b"") and len(rows) == 1


def test_evicts_least_recently_used_by_bytes() -> None:
    one = charge(b"k0", b"x" * 29)
    rows = RowCache(3 * one)
    for i in range(3):
        rows.put(b"k%d" % i, b"x" * 29, 0)
    assert rows.get(b"k0") is not None  # k0 is now the most recently used
    rows.put(b"k3", b"x" * 29, 0)
    assert b"k1" not in rows
    assert all(key in rows for key in (b"k0", b"k2", b"k3"))
    assert rows.evictions == 1 and rows.used_bytes == 3 * one
    rows.put(b"big", b"x" * (2 * one), 0)  # one big row pushes several small ones out
    assert list(rows._entries) == [b"big"]
    assert rows.used_bytes <= rows.capacity_bytes


def test_many_small_rows_stay_within_capacity() -> None:
    rows = RowCache(50_000)
    for i in range(5000):
        rows.put(k(i), b"v" * (i % 50), 0)
        assert rows.used_bytes <= 50_000
    assert rows.used_bytes == sum(charge(key, value) for key, value in rows._entries.items())
    assert len(rows) > 100


def test_row_larger_than_capacity_is_not_cached() -> None:
    rows = RowCache(ROW_OVERHEAD + 10)
    assert rows.put(b"k", b"123456789", 0)
    assert not rows.put(b"big", b"x" * 10, 0)
    assert b"k" in rows and b"big" not in rows
    off = RowCache(0)
    assert not off.put(b"k", b"v", 0) and len(off) == 0


def test_put_read_under_an_older_epoch_is_refused() -> None:
    rows = RowCache(10_000)
    rows.put(b"a", b"1", 0)
    epoch = rows.epoch
    rows.new_epoch()  # keeps the rows
    assert b"a" in rows
    assert not rows.put(b"b", b"2", epoch)
    rows.clear()  # drops them, and moves the epoch too
    assert len(rows) == 0 and rows.used_bytes == 0
    assert not rows.put(b"b", b"2", epoch + 1)
    assert rows.put(b"b", b"2", rows.epoch)


def test_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError):
        RowCache(-1)
    with pytest.raises(ValueError, match="row_cache_bytes"):
        storage.Options(row_cache_bytes=-1)


# ---------------------------------------------------------------------------- the engine


def cached_in_table(db, key: bytes, value: bytes) -> None:
    """Write key=value, flush it to a table, read it twice: the second read is a row hit."""
    db.put(key, value)
    db.flush()
    hits = db.stats()["row_cache_hits"]
    assert db.get(key) == value
    assert db.get(key) == value
    assert key in db._rows
    assert db.stats()["row_cache_hits"] == hits + 1


@pytest.mark.parametrize("fsync", ["no", "always"])  # _write_one/_write_buffered, _write_grouped
def test_overwrite_then_flush_reads_the_new_value(open_db, fsync):
    db = open_db(fsync=fsync)
    cached_in_table(db, b"k", b"old")
    db.put(b"k", b"new")
    assert b"k" not in db._rows  # discarded by the write itself
    db.flush()
    assert db.get(b"k") == b"new"
    assert db.get(b"k") == b"new"


@pytest.mark.parametrize("fsync", ["no", "always"])
def test_delete_then_flush_reads_none(open_db, fsync):
    db = open_db(fsync=fsync)
    cached_in_table(db, b"k", b"old")
    db.delete(b"k")
    db.flush()
    assert db.get(b"k") is None
    db.compact()
    assert db.get(b"k") is None


@pytest.mark.parametrize("fsync", ["no", "always"])
def test_write_batch_discards_every_key_it_writes(open_db, fsync):
    db = open_db(fsync=fsync)
    for key in (b"a", b"b", b"c"):
        cached_in_table(db, key, b"old-" + key)
    db.write(WriteBatch().put(b"a", b"A").delete(b"b").put(b"d", b"D"))
    db.flush()
    assert [db.get(key) for key in (b"a", b"b", b"c", b"d")] == [b"A", None, b"old-c", b"D"]


def test_delete_range_clears_the_row_cache(open_db):
    db = open_db()
    for i in range(300):
        db.put(k(i), b"v%d" % i)
    db.flush()
    assert all(db.get(k(i)) == b"v%d" % i for i in range(300))
    assert db.stats()["row_cache_entries"] == 300
    assert db.delete_range(k(100), k(200)) == 100
    assert db.stats()["row_cache_entries"] == 0
    db.flush()
    assert [db.get(k(i)) is None for i in range(300)] == [100 <= i < 200 for i in range(300)]


def test_a_write_after_the_table_read_keeps_the_read_out_of_the_cache(open_db, monkeypatch):
    """The race: a reader reads the old value from the tables; a writer then writes the key,
    discarding a row that is not there yet, and its memtable is flushed; then the reader would
    cache the old value. Played deterministically by a write + flush inside the table read."""
    db = open_db(background_compaction=False)
    db.put(b"k", b"old")
    db.flush()
    read_tables = db._get_from_tables

    def racing(key, seq, version):
        found = read_tables(key, seq, version)
        db.put(b"k", b"new")
        db.flush()
        return found

    monkeypatch.setattr(db, "_get_from_tables", racing)
    assert db.get(b"k") == b"old"  # linearised before the write, which it overlapped
    monkeypatch.undo()
    assert b"k" not in db._rows
    assert db.get(b"k") == b"new"


def test_a_write_still_in_the_memtable_keeps_the_read_out_of_the_cache(open_db, monkeypatch):
    """As above, but the write is still in the memtable when the reader goes to cache (no flush
    has moved the epoch): the memtable check must refuse the row, or the flush after it would
    uncover the old value."""
    db = open_db(background_compaction=False)
    db.put(b"k", b"old")
    db.flush()
    read_tables = db._get_from_tables

    def racing(key, seq, version):
        found = read_tables(key, seq, version)
        db.put(b"k", b"new")
        return found

    monkeypatch.setattr(db, "_get_from_tables", racing)
    assert db.get(b"k") == b"old"
    monkeypatch.undo()
    assert b"k" not in db._rows
    db.flush()
    assert db.get(b"k") == b"new"


def test_a_stale_epoch_is_refused_by_the_engine_insert(open_db):
    """The insert itself: a row read under an epoch that a flush has since moved is refused."""
    db = open_db(background_compaction=False)
    rows = db._rows
    db.put(b"k", b"old")
    db.flush()
    epoch = rows.epoch
    db.put(b"k", b"new")
    db.flush()
    assert rows.epoch != epoch
    assert not rows.put(b"k", b"old", epoch)
    assert db.get(b"k") == b"new"


def test_compaction_filter_clears_the_rows_it_may_have_changed(open_db):
    db = open_db(compaction_filter=keep_unexpired, background_compaction=False)
    cached_in_table(db, b"k", EXPIRED + b"1")  # the filter only runs in compactions
    cached_in_table(db, b"live", b"v")
    db.compact()
    assert db.stats()["filtered"] == 1
    assert db.get(b"k") is None
    assert db.get(b"live") == b"v"


def test_compaction_filter_racing_with_a_table_read(open_db, monkeypatch):
    db = open_db(compaction_filter=keep_unexpired, background_compaction=False)
    db.put(b"k", EXPIRED + b"1")
    db.flush()
    read_tables = db._get_from_tables

    def racing(key, seq, version):
        found = read_tables(key, seq, version)
        db.compact()  # installs a Version without the value
        return found

    monkeypatch.setattr(db, "_get_from_tables", racing)
    assert db.get(b"k") == EXPIRED + b"1"
    monkeypatch.undo()
    assert db.get(b"k") is None


def test_compaction_without_filtering_keeps_the_rows(open_db):
    db = open_db(compaction_filter=keep_unexpired, background_compaction=False)
    cached_in_table(db, b"k", b"v")
    db.put(b"other", b"x")
    db.compact()
    assert db.stats()["filtered"] == 0
    assert b"k" in db._rows and db.get(b"k") == b"v"


def test_reopen_reads_what_was_written_last(db_path, make_options):
    opts = make_options(background_compaction=False)
    db = storage.open(db_path, opts)
    cached_in_table(db, b"k", b"old")
    cached_in_table(db, b"gone", b"old")
    db.put(b"k", b"new")  # only in the memtable and its WAL at the close
    db.delete(b"gone")
    db.close()
    db = storage.open(db_path, opts)
    try:
        assert len(db._rows) == 0
        assert db.get(b"k") == b"new" and db.get(b"gone") is None
        assert db.get(b"k") == b"new"
    finally:
        db.close()


def test_snapshot_reads_neither_use_nor_fill_the_row_cache(open_db):
    db = open_db()
    db.put(b"k", b"old")
    db.flush()
    with db.snapshot() as snap:
        db.put(b"k", b"new")
        db.flush()
        before = (db.stats()["row_cache_hits"], db.stats()["row_cache_misses"])
        assert snap.get(b"k") == b"old"
        assert list(snap.scan()) == [(b"k", b"old")]
        assert (db.stats()["row_cache_hits"], db.stats()["row_cache_misses"]) == before
        assert len(db._rows) == 0
        assert db.get(b"k") == b"new"
        assert snap.get(b"k") == b"old"


def test_fill_cache_false_reads_the_tables_without_filling_the_cache(open_db):
    db = open_db()
    db.put(b"k", b"v")
    db.flush()
    assert db.get(b"k", fill_cache=False) == b"v"
    assert b"k" not in db._rows  # a read-before-write (a replica's) leaves the rows alone
    assert db.get(b"k") == b"v"
    assert b"k" in db._rows
    assert db.get(b"k", fill_cache=False) == b"v"  # a cached row still answers it
    assert db.stats()["row_cache_hits"] == 1


def test_only_present_values_are_cached(open_db):
    db = open_db()
    db.put(b"dead", b"v")
    db.delete(b"dead")
    db.flush()
    assert db.get(b"dead") is None and db.get(b"never") is None
    assert len(db._rows) == 0


def test_stats_and_the_bound(open_db):
    db = open_db(row_cache_bytes=20 * charge(k(0), b"v" * 40))
    for i in range(500):
        db.put(k(i), b"v" * 40)
    db.flush()
    for _ in range(2):
        for i in range(500):
            assert db.get(k(i)) == b"v" * 40
    s = db.stats()
    assert s["row_cache_entries"] == 20
    assert s["row_cache_bytes"] == 20 * charge(k(0), b"v" * 40)
    assert s["row_cache_misses"] == 1000 and s["row_cache_hits"] == 0  # LRU, cyclic reads
    for _ in range(3):
        assert db.get(k(499)) == b"v" * 40
    assert db.stats()["row_cache_hits"] == 3


def test_zero_turns_the_row_cache_off(open_db):
    db = open_db(row_cache_bytes=0)
    db.put(b"k", b"old")
    db.flush()
    assert db.get(b"k") == b"old"
    db.put(b"k", b"new")
    db.flush()
    assert db.get(b"k") == b"new"
    db.delete_range(None, None)
    db.compact()
    s = db.stats()
    assert db._rows is None
    assert (s["row_cache_hits"], s["row_cache_misses"], s["row_cache_bytes"]) == (0, 0, 0)


@pytest.mark.parametrize("fsync", ["no", "always"])
def test_readers_never_see_a_value_older_than_a_finished_write(open_db, fsync):
    """Writers count each of their keys up and publish the count after each put returns;
    readers (threads, like respdyn's pool) must never read a count below the published one,
    while flushes and compactions run in the background."""
    db = open_db(fsync=fsync, memtable_bytes=4096)
    keys = [k(i) for i in range(40)]
    done = dict.fromkeys(keys, -1)
    stop = threading.Event()
    failures = []

    rounds = 15 if fsync == "always" else 60

    def writer(mine):
        # At least `rounds`, then on until the readers have been served from the row cache
        # while the writes go on (bounded): on a loaded machine the readers may not have been
        # scheduled between a fill and the next write of that key during the first rounds.
        for n in range(20 * rounds):
            for key in mine:
                db.put(key, b"%08d" % n + b"." * 40)
                done[key] = n
            if n >= rounds and db.stats()["row_cache_hits"] > 0:
                return

    def reader():
        while not stop.is_set():
            for key in keys:
                floor = done[key]
                value = db.get(key)
                if floor >= 0 and (value is None or int(value[:8]) < floor):
                    failures.append((key, floor, value))
            time.sleep(0)  # let the writers have the GIL too

    writers = [threading.Thread(target=writer, args=(keys[i::2],)) for i in range(2)]
    readers = [threading.Thread(target=reader)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(timeout=60)
    stop.set()
    for t in readers:
        t.join(timeout=60)
    assert not failures, failures[:3]
    db.flush()
    assert all(int(db.get(key)[:8]) == done[key] for key in keys)
    s = db.stats()
    assert s["row_cache_hits"] > 0
