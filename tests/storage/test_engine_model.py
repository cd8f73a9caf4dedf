"""Differential test: the engine against a plain dict, through random sequences of
put/delete/write(batch)/flush/compact/reopen/snapshot (Hypothesis RuleBasedStateMachine).

A tiny memtable and tiny levels make flushes, stalls, L0 and level compactions happen within a
few dozen steps. The deterministic variant runs flush/compaction inline; the threaded one lets
the background thread race with the steps. The "frozen queue" variants use a memtable of 256
bytes and up to 4 frozen memtables, so several freeze before one is flushed (inline: only a
stalled writer flushes): reads, scans and snapshots go through several of them, newest first,
and a reopen replays the WAL of each. Every variant reads through the row cache (on by default),
and an invariant gets every key after each step, so the row cache holds most keys when the next
write, flush or compaction comes; the "tiny row cache" variants hold ~2 rows (evictions on
almost every read), one variant turns it off."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

import storage

KEY_LIST = [b"", b"a", b"ab", b"b", b"k1", b"k2", b"k3", b"zz", b"\xff"] + [
    b"n%02d" % i for i in range(20)
]
KEYS = st.sampled_from(KEY_LIST)
VALUES = st.binary(max_size=200)
BOUND = st.one_of(st.none(), KEYS)


class EngineVsDict(RuleBasedStateMachine):
    background = False
    memtable_bytes = 1024
    max_frozen = 3
    row_cache_bytes = storage.Options.row_cache_bytes
    snapshots = Bundle("snapshots")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="storage-model-")
        self.options = storage.Options(
            fsync="no",
            memtable_bytes=self.memtable_bytes,
            max_frozen_memtables=self.max_frozen,
            target_file_bytes=2048,
            level1_bytes=4096,
            level_multiplier=2,
            level0_compaction_trigger=2,
            level0_stop_writes=3,
            block_size=256,
            background_compaction=self.background,
            row_cache_bytes=self.row_cache_bytes,
        )
        self.db = storage.open(self.dir, self.options)
        self.model: dict[bytes, bytes] = {}
        self.live: list = []

    def teardown(self) -> None:
        for snap, _ in self.live:
            snap.release()
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(key=KEYS, value=VALUES)
    def put(self, key, value):
        self.db.put(key, value)
        self.model[key] = value

    @rule(key=KEYS)
    def delete(self, key):
        self.db.delete(key)
        self.model.pop(key, None)

    @rule(ops=st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), max_size=8))
    def write_batch(self, ops):
        batch = storage.WriteBatch()
        for key, value in ops:
            if value is None:
                batch.delete(key)
                self.model.pop(key, None)
            else:
                batch.put(key, value)
                self.model[key] = value
        self.db.write(batch)

    @rule()
    def flush(self):
        self.db.flush()

    @rule()
    def compact(self):
        self.db.compact()

    @rule(start=BOUND, end=BOUND)
    def delete_range(self, start, end):
        n = self.db.delete_range(start, end)
        doomed = [k for k in self.model if _in_range(k, start, end)]
        for k in doomed:
            del self.model[k]
        assert n == len(doomed)

    @rule()
    def reopen(self):
        for snap, _ in self.live:
            snap.release()
        self.live.clear()
        self.db.close()
        self.db = storage.open(self.dir, self.options)

    @precondition(lambda self: len(self.live) < 3)
    @rule(target=snapshots)
    def take_snapshot(self):
        entry = (self.db.snapshot(), dict(self.model))
        self.live.append(entry)
        return entry

    @rule(entry=snapshots, key=KEYS, start=BOUND, end=BOUND)
    def check_snapshot(self, entry, key, start, end):
        snap, frozen = entry
        if entry not in self.live:
            return
        assert snap.get(key) == frozen.get(key)
        assert list(snap.scan(start, end)) == _expected(frozen, start, end)

    @rule(entry=consumes(snapshots))
    def release_snapshot(self, entry):
        if entry in self.live:
            self.live.remove(entry)
            entry[0].release()

    @rule(key=KEYS)
    def get(self, key):
        assert self.db.get(key) == self.model.get(key)

    @rule(start=BOUND, end=BOUND)
    def scan(self, start, end):
        assert list(self.db.scan(start, end)) == _expected(self.model, start, end)

    @invariant()
    def frozen_memtables_are_bounded(self):
        assert self.db.stats()["frozen_memtables"] <= self.max_frozen

    @invariant()
    def every_get_matches(self):
        """Reads every key after every step: rows cached before a write, a flush or a
        compaction are read again after it."""
        for key in KEY_LIST:
            assert self.db.get(key) == self.model.get(key)

    @invariant()
    def row_cache_is_bounded(self):
        stats = self.db.stats()
        assert stats["row_cache_bytes"] <= self.row_cache_bytes

    @invariant()
    def full_scan_matches(self):
        assert list(self.db.scan()) == sorted(self.model.items())

    @invariant()
    def every_live_snapshot_is_unchanged(self):
        """Checked after every step, so a flush or compaction that drops a version a snapshot
        needs is caught right away."""
        for snap, frozen in self.live:
            assert list(snap.scan()) == sorted(frozen.items())
            for key in KEY_LIST:
                assert snap.get(key) == frozen.get(key)


def _in_range(key, start, end):
    return (start is None or key >= start) and (end is None or key < end)


def _expected(model, start, end):
    return sorted((k, v) for k, v in model.items() if _in_range(k, start, end))


class EngineVsDictBackground(EngineVsDict):
    background = True


class EngineVsDictFrozenQueue(EngineVsDict):
    memtable_bytes = 256
    max_frozen = 4


class EngineVsDictFrozenQueueBackground(EngineVsDictFrozenQueue):
    background = True


class EngineVsDictTinyRowCache(EngineVsDict):
    row_cache_bytes = 600  # ~2 rows: a 171-byte overhead + key + up to 200 bytes of value


class EngineVsDictTinyRowCacheBackground(EngineVsDictTinyRowCache):
    background = True


class EngineVsDictNoRowCache(EngineVsDict):
    row_cache_bytes = 0


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineVsDict = EngineVsDict.TestCase
TestEngineVsDict.settings = SETTINGS
TestEngineVsDictBackground = EngineVsDictBackground.TestCase
TestEngineVsDictBackground.settings = settings(SETTINGS, max_examples=15)
TestEngineVsDictFrozenQueue = EngineVsDictFrozenQueue.TestCase
TestEngineVsDictFrozenQueue.settings = settings(SETTINGS, max_examples=20)
TestEngineVsDictFrozenQueueBackground = EngineVsDictFrozenQueueBackground.TestCase
TestEngineVsDictFrozenQueueBackground.settings = settings(SETTINGS, max_examples=10)
TestEngineVsDictTinyRowCache = EngineVsDictTinyRowCache.TestCase
TestEngineVsDictTinyRowCache.settings = settings(SETTINGS, max_examples=15)
TestEngineVsDictTinyRowCacheBackground = EngineVsDictTinyRowCacheBackground.TestCase
TestEngineVsDictTinyRowCacheBackground.settings = settings(SETTINGS, max_examples=10)
TestEngineVsDictNoRowCache = EngineVsDictNoRowCache.TestCase
TestEngineVsDictNoRowCache.settings = settings(SETTINGS, max_examples=10)
