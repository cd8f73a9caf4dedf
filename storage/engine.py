"""The engine: group-committed WAL writes into a memtable, background flushes and compactions,
snapshot-isolated reads over memtables and a Version of SSTables.

Directory:  CURRENT, MANIFEST-<n>, <n>.log (WAL, one per memtable), <n>.sst, LOCK.

Write path (LevelDB's writer queue): a writer enqueues itself under `_mu`; the writer at the head
is the leader. The leader makes room (freezes a full memtable, or waits: a write stall), takes
every queued batch, releases `_mu`, appends them to the WAL with ONE write() and (fsync=always)
ONE fsync, then re-takes `_mu`, applies them to the memtable, publishes the last sequence and
wakes the followers. Only leaders switch memtables, so a batch always lands in the memtable
whose WAL holds it.

Read path: `get` reads the memtable, the frozen memtables (newest first) and the current Version
without a lock, in that order; data only ever moves mem -> frozen -> Version and each stage is
published before the previous one lets go, so nothing is missed. Between the memtables and the
Version sits the row cache (Options.row_cache_bytes): the newest live value of keys recently
read from the tables; see `_cache_row` for why it never serves a value a write replaced.
A Snapshot is a sequence number the memtables and compactions keep versions for (see Snapshot);
a scan pins its memtables and Version so its files stay on disk until the iterator is done.

What touches what: `_mu` guards the writer queue, mem/frozen switching, the Version pointer,
snapshots and file-number allocation. `_work_lock` serialises flushes and compactions (the
background thread, flush(), compact()) and every manifest append. The everysec thread only calls
`LogWriter.sync`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pickle
import re
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from dataclasses import replace

from sortedcontainers import SortedList

from storage import compaction, manifest
from storage.batch import (
    WriteBatch,
    decode_record,
    encode_delete,
    encode_put,
    encode_record,
    frame_one_put,
)
from storage.cache import BlockCache, RowCache
from storage.compactor import (
    CompactionCancelled,
    FlushSpec,
    LogFlushSpec,
    MergeResult,
    MergeSpec,
    MergeWorker,
    WorkerDied,
    install_outputs,
    remove_tmp_outputs,
    run_merge,
    table_path,
    write_run,
    write_tables,
)
from storage.errors import (
    ClosedError,
    CorruptionError,
    NotAStorageDirectory,
    PersistenceError,
    StorageError,
)
from storage.iterators import level_iter, merge, visible
from storage.memtable import MemTable
from storage.options import Options
from storage.snapshot import Snapshot, pinned_scan
from storage.sstable import KIND_DELETE, KIND_PUT, Table
from storage.sstable.bloom import key_hash
from storage.version import NUM_LEVELS, FileMeta, Version, VersionEdit
from storage.wal import WAL_MAGIC, LogReader, LogWriter, sync_dir
from storage.wal.format import frame

#: sequence numbers are below 2**56 (the SSTable packs seq << 8 | kind into a u64).
MAX_SEQ = (1 << 56) - 1
#: a group commit takes at most this many payload bytes (bounds a follower's latency).
MAX_GROUP_BYTES = 1 << 20
#: a deleted table's reader object is closed this long after the file left every pinned
#: Version: an unpinned `get` that already fetched the Table finishes well within it.
TABLE_CLOSE_GRACE_S = 10.0
#: fsync=everysec/no: WAL bytes buffered in user space before a write() (see wal/writer.py).
WAL_BUFFER_BYTES = 64 * 1024
#: how often the syncer writes out (and for everysec fsyncs) the WAL buffer, in seconds.
WAL_SYNC_INTERVAL_S = 1.0
#: merges whose inputs total at least this many bytes run in the worker process (smaller ones
#: are not worth the pickling round trip).
PROCESS_MERGE_MIN_BYTES = 2 * 1024 * 1024
#: memtables with at least this many keys are written to SSTables by the flush worker process.
PROCESS_FLUSH_MIN_ENTRIES = 4096
#: CPU niceness added to the merge worker process (the flush worker keeps the engine's): a
#: writer stalls on a flush after one memtable, on compactions only after level0_stop_writes
#: level-0 files, so when the cores are short the flush should win.
MERGE_WORKER_NICENESS = 5
#: keys per tombstone batch in delete_range.
DELETE_RANGE_BATCH = 1000

_FILE_RE = re.compile(r"^(\d{6,})\.(log|sst)$|^MANIFEST-(\d{6,})$")
_OWN_NAMES = ("LOCK", "CURRENT", "CURRENT.tmp")


class _Writer:
    __slots__ = ("body", "count", "cv", "done", "error", "force", "ops", "size")

    def __init__(self, ops: list, body: bytes, size: int, force: bool = False) -> None:
        self.ops = ops
        self.body = body
        self.count = len(ops)
        self.size = size
        self.force = force
        self.done = False
        self.error: BaseException | None = None
        #: this writer's own condition (on the engine mutex), made only if it has to wait, so
        #: a finished group wakes exactly its followers and the next leader (LevelDB's design).
        self.cv: threading.Condition | None = None


class Engine:
    """Use `storage.open(path, options)`."""

    def __init__(self, path: str, options: Options | None = None) -> None:
        self.path = path
        self.options = options = options or Options()
        self._mu = threading.Lock()
        self._writers_cv = threading.Condition(self._mu)
        self._bg_cv = threading.Condition(self._mu)
        self._done_cv = threading.Condition(self._mu)
        self._work_lock = threading.RLock()
        self._writers: deque[_Writer] = deque()
        self._sync_always = options.fsync == "always"
        self._cache = BlockCache(options.block_cache_bytes)
        #: key -> newest live value of keys read from the tables; None when turned off.
        self._rows: RowCache | None = (
            RowCache(options.row_cache_bytes) if options.row_cache_bytes else None
        )
        self._tables: dict[int, Table] = {}
        self._tables_lock = threading.Lock()
        self._retired: list[tuple[float, Table]] = []
        self._pending_outputs: set[int] = set()
        self._snap_seqs = SortedList()
        self._snapshot_max = -1
        self._pinned: dict[int, list] = {}  # id(version) -> [version, refcount]
        self._error: StorageError | None = None
        self._closed = False
        self._shutdown = threading.Event()
        self._stats = dict.fromkeys(
            (
                "flushes",
                "compactions",
                "trivial_moves",
                "write_stalls",
                "stall_seconds",
                "wal_bytes",
                "group_commits",
                "filtered",
                "dropped_tombstones",
                "dropped_shadowed",
                "compaction_bytes_read",
                "compaction_bytes_written",
                "process_merges",
                "process_flushes",
                "flushed_memtables",
            ),
            0,
        )
        self._merge_seq = 0
        self._merge_worker: MergeWorker | None = (
            MergeWorker(MERGE_WORKER_NICENESS)
            if options.background_compaction and _picklable(options)
            else None
        )
        #: a second worker, so a flush never waits behind a long merge.
        self._flush_worker: MergeWorker | None = (
            MergeWorker() if options.background_compaction else None
        )
        #: the write path calls _make_room at this many memtable bytes: half of
        #: memtable_bytes until the flush worker has been asked to start, then memtable_bytes.
        self._room_at = options.memtable_bytes
        if self._flush_worker is not None:
            self._room_at //= 2
        self._want_flush_worker = False
        self._lock_fd = self._open_dir(path, options)
        try:
            self._recover()
        except BaseException:
            self._close_files()
            raise
        self._threads: list[threading.Thread] = []
        if options.background_compaction:
            self._start_thread(self._bg_loop, "storage-compaction")
        if options.fsync != "always":
            self._start_thread(self._sync_loop, "storage-fsync")

    # ------------------------------------------------------------------ public API: writes

    def put(self, key: bytes, value: bytes) -> None:
        if type(key) is not bytes or type(value) is not bytes:
            WriteBatch().put(key, value)  # raises TypeError for non-bytes-like input
            key, value = bytes(key), bytes(value)
        if self._sync_always:
            ops = [(KIND_PUT, key, value)]
            self._write_grouped(_Writer(ops, encode_put(key, value), len(key) + len(value)))
        else:
            self._write_one(key, value)

    def delete(self, key: bytes) -> None:
        if type(key) is not bytes:
            WriteBatch().delete(key)
            key = bytes(key)
        self._write(_Writer([(KIND_DELETE, key, b"")], encode_delete(key), len(key)))

    def write(self, batch: WriteBatch) -> None:
        """Apply every op of `batch` atomically: after a crash all or none are present."""
        if len(batch):
            self._write(_Writer(list(batch.ops), batch.body(), batch.size))

    def delete_range(self, start: bytes | None, end: bytes | None) -> int:
        """Delete every live key in [start, end); returns how many.

        Cost: a scan plus one tombstone per live key, written in batches of DELETE_RANGE_BATCH
        (O(n) time and WAL bytes; the tombstones go away at the bottom level). Not atomic as a
        whole: each batch is. Keys written concurrently after the scan's snapshot survive."""
        count = 0
        batch = WriteBatch()
        for key, _ in self.scan(start, end):
            batch.delete(key)
            if len(batch) >= DELETE_RANGE_BATCH:
                count += len(batch)
                self.write(batch)
                batch = WriteBatch()
        count += len(batch)
        self.write(batch)
        if self._rows is not None:
            # every tombstone written above discarded its key already; a range operation
            # clears anyway, so the rule stays simple if delete_range ever stops going key
            # by key (a range tombstone would discard nothing)
            with self._mu:
                self._rows.clear()
        return count

    def write_out(self) -> None:
        """Hand the WAL records buffered so far (fsync=everysec/no) to the OS: one write(),
        nothing when the buffer is empty. The server calls it before sending the replies of a
        batch of commands, as Redis writes its AOF buffer before replying (beforeSleep), so a
        process crash loses no acknowledged write; only an OS crash can lose the last second.
        A failed write is final, like a failed append: later writes are refused."""
        wal = self._wal
        if not wal.buffered:
            return
        try:
            wal.flush()
        except PersistenceError as exc:
            with self._mu:
                if self._error is None:
                    self._error = exc
            raise

    # ------------------------------------------------------------------ public API: reads

    def get(self, key: bytes, fill_cache: bool = True) -> bytes | None:
        """The newest value of `key`, or None. `fill_cache=False` (LevelDB's ReadOptions of
        that name): a value read from the tables is not added to the row cache, for a read
        that a write of the same key follows at once (which would discard the row again,
        after the insert had evicted a row someone reads)."""
        # The memtables' newest entries are read straight from their dicts (MemTable.get
        # without a snapshot), and the tables are tried once before `_get_unpinned`'s retry
        # loop: a point read is the hottest path there is, and each call layer cost ~0.1 us
        # of a ~1.2 us read miss.
        e = self._mem._data.get(key)
        if e is None:
            for imm in self._imms:  # newest first
                e = imm._data.get(key)
                if e is not None:
                    break
            else:
                if self._closed:
                    raise ClosedError(f"storage {self.path} is closed")
                rows = self._rows
                if rows is not None:  # RowCache.get, inlined (as the memtable reads are)
                    entries = rows._entries
                    value = entries.get(key)
                    if value is not None:
                        try:  # noqa: SIM105 (contextlib.suppress costs a context manager)
                            entries.move_to_end(key)
                        except KeyError:  # evicted or cleared meanwhile: the value still holds
                            pass
                        rows.hits += 1
                        return value
                    rows.misses += 1
                    epoch = rows.epoch  # before self._version is read: see _cache_row
                try:
                    e = self._get_from_tables(key, MAX_SEQ, self._version)
                except FileNotFoundError:  # a compaction retired a file meanwhile
                    e = self._get_unpinned(key, MAX_SEQ)
                if rows is not None and fill_cache and e is not None and e[1] != KIND_DELETE:
                    self._cache_row(key, e[2], epoch)
                    return e[2]
        if e is None or e[1] == KIND_DELETE:
            return None
        return e[2]

    def scan(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Live (key, value) pairs with start <= key < end in key order, as of now (writes
        made while iterating are not seen). Exhaust or close the iterator to unpin its tables.
        """
        return self._open_scan(start, end, None, owns_seq=True)

    def snapshot(self) -> Snapshot:
        with self._mu:
            self._check_open()
            seq = self._last_seq
            self._register_seq_locked(seq)
            return Snapshot(self, seq)

    # ------------------------------------------------------------------ public API: maintenance

    def flush(self) -> None:
        """Write the memtable to an SSTable now (returns when it is in the manifest)."""
        self._write(_Writer([], b"", 0, force=True))
        with self._work_lock:
            self._flush_frozen()

    def compact(self) -> None:
        """Flush, then merge every table into one level (drops shadowed versions, filtered
        values, and tombstones no snapshot needs)."""
        self.flush()
        with self._work_lock:
            with self._mu:
                self._check_open()
                task = compaction.full_compaction_task(self._version, self.options)
            if task is not None:
                self._run_task(task)
        self._delete_obsolete()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no flush or compaction is pending (background mode). -> whether idle.
        For tests, benchmarks and orderly shutdowns; never needed for correctness."""
        deadline = time.monotonic() + timeout
        with self._mu:
            while self._imms or (
                self._error is None and compaction.pick_task(self._version, self.options)
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed or not self.options.background_compaction:
                    return False
                self._bg_cv.notify()
                self._done_cv.wait(timeout=min(remaining, 1.0))
            return True

    def stats(self) -> dict:
        version = self._version
        files = version.files()
        raw = sum(f.raw_bytes for f in files)
        stored = sum(f.file_size for f in files)
        with self._tables_lock:
            tables = list(self._tables.values())
        rows = self._rows
        with self._mu:
            imms = self._imms
            imm_bytes = sum(m.bytes for m in imms)
            pending = compaction.pick_task(version, self.options) is not None
            stats = dict(self._stats)
            snapshots = len(self._snap_seqs)
        stats.update(
            files_per_level=[len(files) for files in version.levels],
            bytes_per_level=[version.level_bytes(lvl) for lvl in range(NUM_LEVELS)],
            entries=sum(f.entries for f in files),
            raw_bytes=raw,
            table_bytes=stored,
            compression_ratio=round(raw / stored, 3) if stored else 0.0,
            bloom_negatives=sum(t.bloom_negatives for t in tables),
            bloom_positives=sum(t.bloom_positives for t in tables),
            bloom_false_positives=sum(t.bloom_false_positives for t in tables),
            block_cache_hits=self._cache.hits,
            block_cache_misses=self._cache.misses,
            row_cache_hits=rows.hits if rows is not None else 0,
            row_cache_misses=rows.misses if rows is not None else 0,
            row_cache_bytes=rows.used_bytes if rows is not None else 0,
            row_cache_entries=len(rows) if rows is not None else 0,
            wal_file_bytes=self._wal.size,
            memtable_bytes=self._mem.bytes,
            immutable_memtable_bytes=imm_bytes,
            frozen_memtables=len(imms),
            pending_compaction=pending,
            level_scores=[round(s, 3) for s in compaction.level_scores(version, self.options)],
            last_sequence=self._last_seq,
            live_snapshots=snapshots,
        )
        return stats

    def close(self) -> None:
        """Stop background work, sync the WAL, release the directory. Idempotent."""
        with self._mu:
            if self._closed:
                return
            self._closed = True
            self._shutdown.set()
            if self._rows is not None:
                self._rows.clear()  # gets raise ClosedError from now on: free the memory
            self._bg_cv.notify_all()
            self._done_cv.notify_all()
            self._writers_cv.notify_all()
            deadline = time.monotonic() + 60
            while self._writers and time.monotonic() < deadline:  # let in-flight groups finish
                self._writers_cv.wait(timeout=1.0)
        for t in self._threads:
            t.join(timeout=60)
        with self._work_lock:
            try:
                if self._error is None:
                    self._wal.sync()
            finally:
                self._close_files()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ opening and recovery

    def _open_dir(self, path: str, options: Options) -> int:
        if not os.path.exists(path):
            if not options.create_if_missing:
                raise NotAStorageDirectory(f"{path} does not exist")
            os.makedirs(path, exist_ok=True)
        if not os.path.isdir(path):
            raise NotAStorageDirectory(f"{path} is not a directory")
        names = set(os.listdir(path))
        if "CURRENT" not in names:
            foreign = sorted(
                n for n in names if n not in _OWN_NAMES and not n.startswith("MANIFEST-")
            )
            if foreign:
                raise NotAStorageDirectory(
                    f"{path} is not a storage directory (no CURRENT; holds {foreign[:3]})"
                )
        fd = os.open(os.path.join(path, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"{path} is locked by another process ({exc})") from exc
        return fd

    def _recover(self) -> None:
        path = self.path
        remove_tmp_outputs(path, "merge-")  # a merge that died with the previous process
        names = os.listdir(path)
        if "CURRENT" in names:
            version, _ = manifest.load(path)
        else:
            version = Version()
        numbers = [int(m.group(1) or m.group(3)) for m in map(_FILE_RE.match, names) if m]
        self._next_file = max([version.next_file, *(n + 1 for n in numbers)])
        for f in version.files():
            if not os.path.exists(table_path(path, f.number)):
                raise CorruptionError(
                    table_path(path, f.number), None, "table in manifest is missing"
                )
            self._table(f.number)  # checks header, footer, index: damage is reported at open
        logs = sorted(
            int(m.group(1))
            for m in map(_FILE_RE.match, names)
            if m and m.group(2) == "log" and int(m.group(1)) >= version.log_number
        )
        self._version = version
        self._last_seq = version.last_seq
        added: list[FileMeta] = []
        mem = MemTable(0)
        for i, number in enumerate(logs):
            mem = self._replay_log(number, mem, added, tail_ok=i == len(logs) - 1)
        if len(mem):
            added += self._write_memtable(mem)
        log_number = self._new_file_number()
        manifest_number = self._new_file_number()
        edit = VersionEdit(
            log_number=log_number,
            next_file=self._next_file,
            last_seq=self._last_seq,
            added=[(0, f) for f in added],
        )
        self._version = version.apply(edit)
        self._manifest = manifest.ManifestWriter(path, manifest_number, self._version)
        self._pending_outputs.clear()
        self._wal = self._new_wal(log_number)
        self._mem = MemTable(log_number)
        #: frozen memtables waiting for their flush, NEWEST FIRST; a tuple replaced (never
        #: mutated) under _mu, so a lock-free reader iterates a consistent one.
        self._imms: tuple[MemTable, ...] = ()
        self._delete_obsolete()

    def _replay_log(
        self, number: int, mem: MemTable, added: list[FileMeta], tail_ok: bool
    ) -> MemTable:
        path = self._log_path(number)
        for offset, payload in LogReader(path, WAL_MAGIC, tail_ok=tail_ok).records():
            seq, ops = decode_record(payload, path, offset)
            mem.apply(seq, ops, -1)
            self._last_seq = max(self._last_seq, seq + len(ops) - 1)
            if mem.bytes >= self.options.memtable_bytes:
                added += self._write_memtable(mem)
                mem = MemTable(0)
        return mem

    # ------------------------------------------------------------------ the write path

    def _write(self, w: _Writer) -> None:
        if self._sync_always:
            self._write_grouped(w)
        else:
            self._write_buffered(w)

    def _write_buffered(self, w: _Writer) -> None:
        """fsync=everysec/no: appending to the WAL buffer costs about as much as a lock hand-off,
        so the whole write runs in one critical section; there is no fsync to share."""
        with self._mu:
            if self._closed:
                raise ClosedError(f"storage {self.path} is closed")
            if self._error is not None:
                raise self._error.with_traceback(None)  # one frame, not one more per refusal
            if w.force or self._mem.bytes >= self._room_at:
                self._make_room(w.force)
            if not w.count:
                return
            seq = self._last_seq + 1
            data = frame(encode_record(seq, w.count, w.body))
            try:
                self._wal.append_framed(data)
            except PersistenceError as exc:
                self._error = exc
                raise
            if w.count == 1:
                kind, key, value = w.ops[0]
                self._mem.put_one(seq, kind, key, value, self._snapshot_max)
            else:
                self._mem.apply(seq, w.ops, self._snapshot_max)
            if self._rows is not None:
                self._discard_rows(w.ops)
            self._last_seq = seq + w.count - 1
            stats = self._stats
            stats["wal_bytes"] += len(data)
            stats["group_commits"] += 1

    def _write_one(self, key: bytes, value: bytes) -> None:
        """`_write_buffered` for a single put without building a _Writer (the put hot path)."""
        with self._mu:
            if self._closed:
                raise ClosedError(f"storage {self.path} is closed")
            if self._error is not None:
                raise self._error.with_traceback(None)  # one frame, not one more per refusal
            mem = self._mem
            if mem.bytes >= self._room_at:
                self._make_room(False)
                mem = self._mem
            seq = self._last_seq + 1
            data = frame_one_put(seq, key, value)
            try:
                self._wal.append_framed(data)
            except PersistenceError as exc:
                self._error = exc
                raise
            mem.put_one(seq, KIND_PUT, key, value, self._snapshot_max)
            rows = self._rows
            if rows is not None and key in rows._entries:  # the test first: ~50 ns less per put
                rows.discard(key)
            self._last_seq = seq
            stats = self._stats
            stats["wal_bytes"] += len(data)
            stats["group_commits"] += 1

    def _write_grouped(self, w: _Writer) -> None:
        """fsync=always: LevelDB's writer queue, so concurrent writers share one fsync."""
        with self._mu:
            if self._closed:
                raise ClosedError(f"storage {self.path} is closed")
            if self._error is not None:
                raise self._error.with_traceback(None)  # one frame, not one more per refusal
            writers = self._writers
            writers.append(w)
            if writers[0] is not w:
                w.cv = cv = threading.Condition(self._mu)
                while not w.done and writers[0] is not w:
                    cv.wait()
            if w.done:
                if w.error is not None:
                    raise w.error
                return
            try:
                self._make_room(w.force)
            except BaseException as exc:
                self._finish_group([w], exc)
                raise
            group = self._take_group(w)
            seq = self._last_seq + 1
            wal = self._wal
        error: BaseException | None = None
        try:
            if not group[0].force:
                self._append_to_wal(wal, group, seq)
        except BaseException as exc:
            error = exc
        with self._mu:
            if error is None:
                mem = self._mem
                snapshot_max = self._snapshot_max
                for g in group:
                    if g.count == 1:
                        kind, key, value = g.ops[0]
                        mem.put_one(seq, kind, key, value, snapshot_max)
                        seq += 1
                    elif g.count:
                        seq = mem.apply(seq, g.ops, snapshot_max)
                if self._rows is not None:
                    for g in group:
                        self._discard_rows(g.ops)
                self._last_seq = seq - 1
            elif isinstance(error, PersistenceError):
                self._error = error  # refuse every later write until reopened
            self._finish_group(group, error)
        if error is not None:
            raise error

    def _discard_rows(self, ops: list[tuple[int, bytes, bytes]]) -> None:
        """REQUIRES: _mu held, the ops just applied to the memtable. Drop their keys from the
        row cache in the same critical section, so no get finds a row older than a write that
        has returned (the memtable answers first while the write is there, but not once it
        has been flushed to a table)."""
        rows = self._rows
        entries = rows._entries
        for _, key, _ in ops:
            if key in entries:
                rows.discard(key)

    def _take_group(self, leader: _Writer) -> list[_Writer]:
        """The leader's batch plus queued followers' (not past a forced flush)."""
        if leader.force:
            return [leader]
        group = []
        size = 0
        for w in self._writers:
            if w.force or (group and size + w.size > MAX_GROUP_BYTES):
                break
            group.append(w)
            size += w.size
        return group

    def _append_to_wal(self, wal: LogWriter, group: list[_Writer], seq: int) -> None:
        records = []
        for g in group:
            if g.count:
                records.append(frame(encode_record(seq, g.count, g.body)))
                seq += g.count
        data = records[0] if len(records) == 1 else b"".join(records)
        wal.append_framed(data)
        if self._sync_always:
            wal.sync()
        self._stats["wal_bytes"] += len(data)
        self._stats["group_commits"] += 1

    def _finish_group(self, group: list[_Writer], error: BaseException | None) -> None:
        """REQUIRES: _mu held; `group` is at the head of the queue."""
        writers = self._writers
        for g in group:
            writers.popleft()
            g.error = error
            g.done = True
            if g.cv is not None:
                g.cv.notify()
        if writers and writers[0].cv is not None:
            writers[0].cv.notify()  # the next leader
        if self._closed:
            self._writers_cv.notify_all()  # close() waits for the queue to drain

    def _make_room(self, force: bool) -> None:
        """REQUIRES: _mu held by the write leader. Freeze the memtable when it is full (or
        `force` and non-empty), stalling while Options.max_frozen_memtables frozen ones are
        still waiting for their flush or L0 has too many files (LevelDB's MakeRoomForWrite,
        RocksDB's max_write_buffer_number)."""
        opts = self.options
        if self._room_at < opts.memtable_bytes:
            # the first memtable is half full: start the flush worker now (an interpreter
            # start-up and imports) rather than when the first flush needs it
            self._room_at = opts.memtable_bytes
            if self._flush_worker is not None:
                self._want_flush_worker = True
                self._bg_cv.notify()
        while True:
            if self._error is not None:
                raise self._error.with_traceback(None)  # one frame, not one more per refusal
            if self._closed:
                raise ClosedError(f"storage {self.path} is closed")
            if force:
                if not len(self._mem):
                    return
            elif self._mem.bytes < opts.memtable_bytes:
                return
            if len(self._imms) >= opts.max_frozen_memtables:
                self._stall("frozen memtables still flushing")
            elif len(self._version.levels[0]) >= opts.level0_stop_writes and not force:
                self._stall("too many level-0 files")
            else:
                self._switch_memtable()
                return

    def _stall(self, why: str) -> None:
        """REQUIRES: _mu held. Wait for background work (or do it here without a thread)."""
        del why
        self._stats["write_stalls"] += 1
        t0 = time.monotonic()
        if self.options.background_compaction:
            self._bg_cv.notify()
            self._done_cv.wait(timeout=1.0)
        else:
            self._mu.release()
            try:
                self._do_work_once()
            finally:
                self._mu.acquire()
        self._stats["stall_seconds"] += time.monotonic() - t0

    def _switch_memtable(self) -> None:
        """REQUIRES: _mu held by the write leader; fewer than max_frozen_memtables frozen.

        The old log is sealed (written out and fsynced) BEFORE the new one exists, so whatever
        the crash, only the newest log on disk can end in a torn record."""
        try:
            self._wal.close(sync=True)
            number = self._new_file_number()
            new_wal = self._new_wal(number)
        except PersistenceError as exc:
            self._error = exc  # the sealed log is intact; refuse writes until reopened
            raise
        self._wal = new_wal
        self._imms = (self._mem, *self._imms)  # published before the new memtable takes over
        self._mem = MemTable(number)
        self._bg_cv.notify()

    # ------------------------------------------------------------------ reads

    def _read(self, key: bytes, seq: int) -> bytes | None:
        """get() at a snapshot sequence."""
        e = self._mem.get(key, seq)
        if e is None:
            for imm in self._imms:  # newest first
                e = imm.get(key, seq)
                if e is not None:
                    break
            else:
                e = self._get_unpinned(key, seq)
        if e is None or e[1] == KIND_DELETE:
            return None
        return e[2]

    def _cache_row(self, key: bytes, value: bytes, epoch: int) -> None:
        """Put the live value `get` just read from the tables into the row cache, unless a
        write may have replaced it since `epoch` (the row cache's, read before the Version).

        Why a row is never stale: it is put only under _mu (the writers' lock) and only if (1)
        the row cache's epoch is still the one read BEFORE the Version was, and (2) no
        memtable holds the key. Let W be the newest write of the key at that moment. If W is
        in a memtable, (2) refuses. Otherwise W is in the tables: if its flush was installed
        after the epoch was read, that flush moved the epoch (new_epoch, in the critical
        section that installs the Version) and (1) refuses; if before, the Version read after
        the epoch holds W, so the value read is W's. A write after the put discards the row
        itself (_discard_rows, in the critical section that applies it to the memtable), and a
        compaction whose filter changed values clears the cache, moving the epoch (_run_task).
        So a write racing with the read can at worst make it cache nothing. A write of another
        key refuses nothing (a sequence-number check would refuse most rows under writes).

        The lock is only tried: a reader never waits for a writer (the write leader holds _mu
        through a memtable switch's fsync); it then just does not cache this time."""
        mu = self._mu
        if type(key) is not bytes or not mu.acquire(False):  # (positional: ~60 ns less)
            return  # a bytes-like key would pin its buffer
        try:
            if key in self._mem._data:
                return
            for imm in self._imms:  # a loop, not any(generator): this runs on every miss
                if key in imm._data:
                    return
            self._rows.put(key, value, epoch)
        finally:
            mu.release()

    def _get_unpinned(self, key: bytes, seq: int) -> tuple | None:
        """Tables of the current Version without pinning it (a get is short). If a compaction
        retired a file between reading the Version and opening the table, retry on the new
        state, where the data has moved on."""
        for _ in range(8):
            self._check_open()
            version = self._version
            try:
                return self._get_from_tables(key, seq, version)
            except FileNotFoundError:
                if version is self._version:
                    raise
                e = self._mem.get(key, seq)
                for imm in self._imms:
                    if e is not None:
                        break
                    e = imm.get(key, seq)
                if e is not None:
                    return e
        raise StorageError(f"get of {key!r} kept racing with compactions")

    def _get_from_tables(self, key: bytes, seq: int, version: Version) -> tuple | None:
        """Newest (seq, kind, value) <= seq in the tables: L0 newest first, then one file per
        level (the hot path of a read miss in the memtables, hence inlined). The bloom hash
        is computed once for all the tables probed."""
        tables = self._tables
        hashed = key_hash(key)
        for f in version.levels[0]:
            if f.min_key <= key <= f.max_key:
                t = tables.get(f.number) or self._table(f.number)
                r = t.get(key, seq, hashed)
                if r is not None:
                    return r
        for files, max_keys in version.search_levels:
            i = bisect_left(max_keys, key)
            if i < len(files):
                f = files[i]
                if f.min_key <= key:
                    t = tables.get(f.number) or self._table(f.number)
                    r = t.get(key, seq, hashed)
                    if r is not None:
                        return r
        return None

    def _open_scan(
        self, start: bytes | None, end: bytes | None, seq: int | None, owns_seq: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pin the memtables and Version (and, for a plain scan, a sequence) for one scan."""
        with self._mu:
            self._check_open()
            if seq is None:
                seq = self._last_seq
            if owns_seq:
                self._register_seq_locked(seq)
            version = self._version
            pin = self._pinned.setdefault(id(version), [version, 0])
            pin[1] += 1
            mems = (self._mem, *self._imms)
        entries = self._scan_at(start, end, seq, mems, version)
        owned = seq if owns_seq else None
        released = []

        def release() -> None:
            if not released:
                released.append(True)
                self._unpin(version, owned)

        it = pinned_scan(entries, release)
        next(it)
        return it

    def _register_seq_locked(self, seq: int) -> None:
        self._snap_seqs.add(seq)
        self._snapshot_max = self._snap_seqs[-1]

    def _scan_at(
        self,
        start: bytes | None,
        end: bytes | None,
        seq: int,
        mems: tuple[MemTable, ...],
        version: Version,
    ) -> Iterator[tuple[bytes, bytes]]:
        sources: list = [mem.iter_visible(start, end, seq) for mem in mems]
        hi = None if end is None else end
        for f in version.levels[0]:
            if f.overlaps(start, hi) and (end is None or f.min_key < end):
                sources.append(self._table(f.number).iter(start))
        for level in range(1, NUM_LEVELS):
            if version.levels[level]:
                sources.append(level_iter(version.levels[level], self._iter_file, start, end))
        return visible(merge(sources), seq, end)

    def _iter_file(self, f: FileMeta, start: bytes | None) -> Iterator:
        return self._table(f.number).iter(start)

    def _table(self, number: int) -> Table:
        t = self._tables.get(number)
        if t is None:
            with self._tables_lock:
                t = self._tables.get(number)
                if t is None:
                    t = Table.open(table_path(self.path, number), number, self.options, self._cache)
                    self._tables[number] = t
        return t

    def _release_seq(self, seq: int) -> None:
        with self._mu:
            self._snap_seqs.remove(seq)
            self._snapshot_max = self._snap_seqs[-1] if self._snap_seqs else -1

    def _unpin(self, version: Version, seq: int | None) -> None:
        with self._mu:
            if seq is not None:
                self._snap_seqs.remove(seq)
                self._snapshot_max = self._snap_seqs[-1] if self._snap_seqs else -1
            pin = self._pinned[id(version)]
            pin[1] -= 1
            unpinned = False
            if pin[1] == 0:
                del self._pinned[id(version)]
                unpinned = version is not self._version
        if unpinned and not self._closed:
            self._delete_obsolete()

    # ------------------------------------------------------------------ background work

    def _start_thread(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=f"{name}:{self.path}", daemon=True)
        self._threads.append(t)
        t.start()

    def _bg_loop(self) -> None:
        while True:
            with self._mu:
                while not self._shutdown.is_set() and not self._has_work_locked():
                    self._bg_cv.wait()
                if self._shutdown.is_set():
                    return
            try:
                self._do_work_once()
            except ClosedError:
                return
            except StorageError as exc:
                self._fail(exc)
                return
            except Exception as exc:  # a bug must not kill the thread silently
                self._fail(StorageError(f"background work failed: {exc!r}"))
                raise

    def _has_work_locked(self) -> bool:
        if self._error is not None:
            return False
        return (
            bool(self._imms)
            or self._want_flush_worker
            or compaction.pick_task(self._version, self.options) is not None
        )

    def _do_work_once(self) -> None:
        """One compaction or one flush.

        With a background thread a pending compaction goes first: while its merge runs (in the
        merge worker, or in-thread), `_compaction_checkpoint` flushes every frozen memtable, so
        flushes and merges overlap. Flush-first starved compactions under a steady write load:
        by the time a flush was installed the next memtable was full and frozen, so no merge
        started before level 0 reached level0_stop_writes and writers stalled (measured over 1M
        random puts: one 12-file L0 merge in the whole load, 2.2 s of L0 stalls). Without a
        thread the stalled writer runs this itself and flushes first (it only needs the room).
        """
        with self._work_lock:
            if self._want_flush_worker:
                self._want_flush_worker = False
                if self._flush_worker is not None:
                    self._flush_worker.start()
            with self._mu:
                task = compaction.pick_task(self._version, self.options)
            if self._imms and (task is None or not self.options.background_compaction):
                self._flush_oldest()  # one: a compaction the flush made due goes next
                return
            if task is not None:
                self._run_task(task)
            self._flush_frozen()  # frozen after the last checkpoint, or a trivial move
        self._delete_obsolete()

    def _sync_loop(self) -> None:
        """Once a second: write out the WAL buffer, and fsync it if fsync=everysec (Redis'
        background fsync). Bounds what a crash can lose to about a second of writes."""
        everysec = self.options.fsync == "everysec"
        while not self._shutdown.wait(WAL_SYNC_INTERVAL_S):
            try:
                if everysec:
                    self._wal.sync()
                else:
                    self._wal.flush()
            except PersistenceError as exc:
                self._fail(exc)
                return

    def _fail(self, exc: StorageError) -> None:
        with self._mu:
            if self._error is None:
                self._error = (
                    exc if isinstance(exc, PersistenceError) else PersistenceError(str(exc))
                )
            self._done_cv.notify_all()
            self._writers_cv.notify_all()

    def _flush_frozen(self) -> None:
        """REQUIRES: _work_lock. Flush the memtables frozen now, oldest first (not the ones
        frozen meanwhile: a steady writer must not keep the caller here forever)."""
        imms = self._imms
        while imms and imms[0] in self._imms:
            self._flush_oldest()

    def _flush_oldest(self) -> None:
        """REQUIRES: _work_lock. Write the oldest frozen memtable (with the next ones when they
        can share its table, see _log_flush_group) to level 0 and install it.

        Oldest first, so level 0 (newest file number first) stays in write order. The edit's
        log number is the WAL of the oldest memtable still unflushed after these: recovery
        replays every log from there, and a WAL is deleted only below it, i.e. once its
        memtable's table is in the manifest."""
        imms = self._imms
        if not imms:
            return
        try:
            outputs, k = self._write_oldest(imms)
            flushed = imms[len(imms) - k :]
            with self._mu:
                rest = self._imms[:-k]  # a switch may have frozen another one meanwhile
                edit = VersionEdit(
                    log_number=(rest[-1] if rest else self._mem).log_number,
                    next_file=self._next_file,
                    last_seq=self._last_seq,
                    added=[(0, f) for f in outputs],
                )
            self._log_edit(edit)
        except PersistenceError as exc:
            self._fail(exc)
            raise
        with self._mu:
            self._version = self._version.apply(edit)
            assert self._imms[len(self._imms) - k :] == flushed
            self._imms = self._imms[:-k]  # after the Version holds its data: no reader misses it
            if self._rows is not None:
                self._rows.new_epoch()  # see _cache_row
            self._pending_outputs.difference_update(f.number for f in outputs)
            self._stats["flushes"] += 1
            self._stats["flushed_memtables"] += k
            self._done_cv.notify_all()
            self._bg_cv.notify()
        self._delete_obsolete()

    def _log_edit(self, edit: VersionEdit) -> None:
        """Make new tables' directory entries durable, then log the edit (REQUIRES _work_lock).
        TableBuilder.finish fsyncs a table's bytes; its name needs the directory fsync."""
        if edit.added:
            sync_dir(self.path)
        self._manifest.append(edit)

    def _write_oldest(self, imms: tuple[MemTable, ...]) -> tuple[list[FileMeta], int]:
        """Write the oldest frozen memtable, or the oldest k in one table when they qualify
        (_log_flush_group). -> (outputs, k)."""
        group = self._log_flush_group(imms)
        if len(group) > 1:
            newest = group[-1]
            spec = LogFlushSpec(
                self.path,
                self._log_path(newest.log_number),
                newest.entries,
                newest.max_seq,
                replace(self.options, compaction_filter=None),
                older_logs=tuple(
                    (self._log_path(m.log_number), m.entries, m.max_seq) for m in group[:-1]
                ),
            )
            try:
                return self._run_flush_spec(spec), len(group)
            except ClosedError:
                raise
            except StorageError:
                pass  # a broken worker or a log that disagrees: one memtable, the usual way
        return self._write_memtable(imms[-1]), 1

    def _log_flush_group(self, imms: tuple[MemTable, ...]) -> list[MemTable]:
        """The oldest frozen memtables (oldest first) the flush worker may replay from their
        logs into ONE table (RocksDB flushes all queued memtables together): fewer, larger
        level-0 tables and one fixed cost (worker round trip, fsyncs, manifest edit) for all.

        Only memtables without snapshot versions and with their own log; and since the replay
        keeps only the last write of a key across the logs, only while no live snapshot is
        older than the newest memtable taken (a version a later memtable overwrites would be
        lost to it). A snapshot taken from now on is newer than every frozen memtable."""
        if self._flush_worker is None:
            return []
        with self._mu:
            oldest_snapshot = self._snap_seqs[0] if self._snap_seqs else MAX_SEQ
        group: list[MemTable] = []
        for m in reversed(imms):  # oldest first
            if m.chained or not m.log_number or (group and oldest_snapshot < m.max_seq):
                break
            group.append(m)
        if sum(map(len, group)) < PROCESS_FLUSH_MIN_ENTRIES:
            return group[:1]
        return group

    def _write_memtable(self, mem: MemTable) -> list[FileMeta]:
        """Write a frozen memtable to level-0 table(s): in the flush worker process when it is
        big (the engine then only sorts and pickles it), else on this thread."""
        with self._mu:
            smallest = self._snap_seqs[0] if self._snap_seqs else MAX_SEQ
        if self._flush_worker is not None and len(mem) >= PROCESS_FLUSH_MIN_ENTRIES:
            outputs = self._flush_in_worker(mem, smallest)
            if outputs is not None:
                return outputs
        if not mem.chained:  # one version per key: the bulk path
            keys, tags, values = mem.columns()
            return write_run(self.path, keys, tags, values, self.options, self._new_output_number)
        # only a chained memtable can hold a version shadowed below a snapshot
        entries = compaction.compact_entries(
            mem.iter_all(),
            smallest_snapshot=smallest,
            newest_snapshot=MAX_SEQ,
            is_base=lambda key: False,
        )
        return write_tables(self.path, entries, self.options, self._new_output_number)

    def _flush_in_worker(self, mem: MemTable, smallest: int) -> list[FileMeta] | None:
        """None if the worker broke (the caller flushes in-thread). A memtable with its own
        sealed log and no snapshot versions is replayed from that log by the worker (costs
        this process nothing); otherwise its contents are pickled over."""
        if not mem.chained and mem.log_number:
            spec = LogFlushSpec(
                self.path,
                self._log_path(mem.log_number),
                mem.entries,
                mem.max_seq,
                replace(self.options, compaction_filter=None),
            )
            try:
                return self._run_flush_spec(spec)
            except WorkerDied:
                return None
            except StorageError:
                pass  # the log disagrees with the memtable: the memtable is the truth
        spec = FlushSpec(
            self.path,
            mem.sorted_keys(),
            mem._data,
            mem.chained,
            smallest,
            replace(self.options, compaction_filter=None),
        )
        try:
            return self._run_flush_spec(spec)
        except WorkerDied:
            return None

    def _run_flush_spec(self, spec: FlushSpec | LogFlushSpec) -> list[FileMeta]:
        """Run one flush in the flush worker and install its outputs; a broken worker is
        closed for good and WorkerDied propagates."""
        self._merge_seq += 1
        spec.tmp_prefix = f"merge-{os.getpid()}-{self._merge_seq}-"
        try:
            result = self._flush_worker.run(spec, self._shutdown.is_set)
            self._stats["process_flushes"] += 1
            return install_outputs(spec, result.outputs, self._new_output_number)
        except CompactionCancelled:
            raise ClosedError(f"storage {self.path} closed during a flush") from None
        except WorkerDied:
            self._flush_worker.close()
            self._flush_worker = None
            raise
        finally:
            remove_tmp_outputs(self.path, spec.tmp_prefix)

    def _run_task(self, task: compaction.CompactionTask) -> None:
        """REQUIRES: _work_lock. Execute and install one compaction."""
        if task.trivial_move:
            edit = compaction.trivial_move_edit(task)
            self._stats["trivial_moves"] += 1
            filtered = 0
        else:
            outputs, filtered = self._merge_task(task)
            edit = compaction.result_edit(task, outputs)
        with self._mu:
            edit.next_file = self._next_file
        try:
            self._log_edit(edit)
        except PersistenceError as exc:
            self._fail(exc)
            raise
        with self._mu:
            self._version = self._version.apply(edit)
            if filtered and self._rows is not None:
                # The filter turned values into tombstones: the only way a compaction changes
                # what a get returns (dropping shadowed versions or tombstones does not). Which
                # keys it hit is known only inside the merge (often the worker process), so
                # clear; and only then: a compaction that filtered nothing keeps the rows.
                # Cleared in the critical section that installs the Version, moving the epoch,
                # so a read of the old Version still under way cannot put its row back.
                self._rows.clear()
            self._pending_outputs.difference_update(f.number for _, f in edit.added)
            self._stats["compactions"] += 1
            self._done_cv.notify_all()

    def _compaction_checkpoint(self) -> bool:
        """Called by a running compaction every few thousand entries: flush the frozen memtables
        now rather than after the compaction (writers are waiting for it); True = cancel."""
        if self._shutdown.is_set():
            return True
        if self._imms:
            self._flush_frozen()  # REQUIRES _work_lock: held by the compaction (re-entrant)
        return False

    def _merge_task(self, task: compaction.CompactionTask) -> tuple[list[FileMeta], int]:
        """REQUIRES: _work_lock. Merge the task's inputs; big merges go to the worker process.
        -> (outputs, how many values the compaction filter turned into tombstones)."""
        with self._mu:
            smallest = self._snap_seqs[0] if self._snap_seqs else self._last_seq
            newest = self._snapshot_max
            version = self._version
        inputs = task.input_files()
        spec = MergeSpec(
            self.path, inputs, task.output_level, smallest, newest, version, self.options
        )
        try:
            result = None
            if self._merge_worker is not None and (
                sum(f.file_size for f in inputs) >= PROCESS_MERGE_MIN_BYTES
            ):
                result = self._merge_in_worker(spec)
            if result is None:
                result = run_merge(
                    spec,
                    lambda f: self._table(f.number),
                    self._new_output_number,
                    should_stop=self._compaction_checkpoint,
                )
        except CompactionCancelled:
            raise ClosedError(f"storage {self.path} closed during a compaction") from None
        outputs = result.outputs
        counters = result.counters
        self._stats["filtered"] += counters.filtered
        self._stats["dropped_tombstones"] += counters.dropped_tombstones
        self._stats["dropped_shadowed"] += counters.dropped_shadowed
        self._stats["compaction_bytes_read"] += sum(f.file_size for f in inputs)
        self._stats["compaction_bytes_written"] += sum(f.file_size for f in outputs)
        return outputs, counters.filtered

    def _merge_in_worker(self, spec: MergeSpec) -> MergeResult | None:
        """Run the merge in the worker process; None if the worker broke (merge in-thread)."""
        self._merge_seq += 1
        spec.tmp_prefix = f"merge-{os.getpid()}-{self._merge_seq}-"
        try:
            result = self._merge_worker.run(spec, self._compaction_checkpoint)
            result.outputs = install_outputs(spec, result.outputs, self._new_output_number)
            self._stats["process_merges"] += 1
            return result
        except WorkerDied:
            self._merge_worker.close()
            self._merge_worker = None  # do not keep paying for a broken worker
            return None
        finally:
            remove_tmp_outputs(self.path, spec.tmp_prefix)

    # ------------------------------------------------------------------ files

    def _new_file_number(self) -> int:
        n = self._next_file
        self._next_file += 1
        return n

    def _new_output_number(self) -> int:
        with self._mu:
            n = self._new_file_number()
            self._pending_outputs.add(n)
            return n

    def _new_wal(self, number: int) -> LogWriter:
        buffer_bytes = 0 if self._sync_always else WAL_BUFFER_BYTES
        return LogWriter(self._log_path(number), WAL_MAGIC, buffer_bytes=buffer_bytes)

    def _log_path(self, number: int) -> str:
        return os.path.join(self.path, f"{number:06d}.log")

    def _delete_obsolete(self) -> None:
        """Remove files no durable Version, pinned Version or running job needs.

        Called only after the manifest edit that dropped them was fsynced."""
        with self._mu:
            live = set(self._version.numbers())
            for version, _ in self._pinned.values():
                live |= version.numbers()
            live |= self._pending_outputs
            log_number = self._version.log_number
            keep_logs = {self._mem.log_number, *(m.log_number for m in self._imms)}
            manifest_number = self._manifest.number
            # a file numbered from here on was created after this look: never obsolete yet
            first_unseen = self._next_file
        now = time.monotonic()
        retired: set[int] = set()
        for name in os.listdir(self.path):
            m = _FILE_RE.match(name)
            if not m:
                continue
            n = int(m.group(1) or m.group(3))
            if n >= first_unseen:
                continue
            if m.group(3) is not None:
                obsolete = n != manifest_number
            elif m.group(2) == "log":
                obsolete = n < log_number and n not in keep_logs
            else:
                obsolete = n not in live
                if obsolete:
                    self._retire_table(n, now)
                    retired.add(n)
            if obsolete:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.path, name))
        self._cache.evict_files(retired)  # dead blocks would only push live ones out
        self._close_retired(now)

    def _retire_table(self, number: int, now: float) -> None:
        with self._tables_lock:
            t = self._tables.pop(number, None)
            if t is not None:
                self._retired.append((now, t))

    def _close_retired(self, now: float, force: bool = False) -> None:
        with self._tables_lock:
            keep = []
            for when, t in self._retired:
                if force or now - when >= TABLE_CLOSE_GRACE_S:
                    t.close()
                else:
                    keep.append((when, t))
            self._retired = keep

    def _close_files(self) -> None:
        for attr in ("_merge_worker", "_flush_worker"):
            worker = getattr(self, attr, None)
            if worker is not None:
                worker.close()
        for attr in ("_wal", "_manifest"):
            obj = getattr(self, attr, None)
            if obj is not None:
                with contextlib.suppress(OSError, StorageError):
                    obj.close(sync=False) if attr == "_wal" else obj.close()
        with self._tables_lock:
            for t in self._tables.values():
                t.close()
            self._tables.clear()
        self._close_retired(0.0, force=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"storage {self.path} is closed")


def _picklable(options: Options) -> bool:
    """A merge can run in the worker process only if its options (and so the compaction
    filter: use a module-level function) can be sent there."""
    try:
        pickle.dumps(options)
    except Exception:
        return False
    return True


def open_engine(path: str | os.PathLike, options: Options | None = None) -> Engine:
    """Create or recover the store at `path`."""
    try:
        return Engine(os.fspath(path), options)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
            raise PersistenceError(f"{path}: {exc}") from exc
        raise
