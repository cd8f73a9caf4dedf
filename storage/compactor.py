"""Executes flushes and compactions: streams entries into new SSTables (the policy is in
compaction.py). Runs on the engine's background thread, or the caller's for flush()/compact().

Outputs are split at Options.target_file_bytes, but only between two different user keys: all
versions of a key stay in one file, so a level >= 1 holds each key in at most one file.

A merge of large inputs runs in a worker PROCESS (`MergeWorker`): it is pure CPU over files
(inputs in, fsynced outputs under temporary names out), so moving it off the GIL lets writers
keep the full interpreter while the second core compacts. The worker is a plain
`python -c` subprocess speaking length-prefixed pickles over its stdin/stdout, so it never
re-imports the host program's __main__ (as multiprocessing's spawn would) and it exits when
its parent goes away (EOF on stdin).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from storage import compaction
from storage.batch import decode_record
from storage.errors import CorruptionError, StorageError
from storage.iterators import merge_batches
from storage.options import Options
from storage.sstable import KIND_PUT, Table, TableBuilder, TableProperties
from storage.version import FileMeta, Version
from storage.wal import WAL_MAGIC, LogReader
from storage.wal.format import HEADER_SIZE as WAL_HEADER_SIZE
from storage.wal.format import encode_header as encode_wal_header

Entry = tuple[bytes, int, int, bytes]

#: how many entries a compaction writes between two calls of its `should_stop` hook.
_STOP_CHECK_EVERY = 4096
#: a merge reads each input in batches of at least this many records (whole blocks).
_MERGE_ROWS = 256


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
    path_for: Callable[[int], str] | None = None,
) -> list[FileMeta]:
    """Write `entries` ((key asc, seq desc) order) into one or more SSTables.

    `new_number` allocates a file number (the engine marks it as a pending output so the
    obsolete-file sweep leaves it alone); `path_for(number)` names the file (default
    table_path). `should_stop()` is called every few thousand entries:
    the engine uses it to flush a frozen memtable in the middle of a long compaction (LevelDB
    does the same, so writers do not stall behind a compaction) and to cancel on close. On error
    or cancellation (`should_stop()` true) every partial output is removed."""
    last_key = None
    count = 0
    name = path_for or (lambda n: table_path(dirpath, n))
    if split_bytes is None and should_stop is None:
        meta = _write_one_table(dirpath, entries, options, new_number, name)
        return [] if meta is None else [meta]
    series = _TableSeries(options, new_number, name)
    try:
        for key, seq, kind, value in entries:
            count += 1
            if should_stop is not None and count % _STOP_CHECK_EVERY == 0 and should_stop():
                raise CompactionCancelled
            if split_bytes is not None and key != last_key and series.size() >= split_bytes:
                series.finish()
            series.builder().add(key, seq, kind, value)
            last_key = key
        series.finish()
    except BaseException:
        series.abandon()
        raise
    return series.outputs


def _write_one_table(
    dirpath: str, entries: Iterable[Entry], options: Options, new_number: Callable, name: Callable
) -> FileMeta | None:
    """write_tables without splitting or hooks (the flush): the leanest per-entry loop."""
    it = iter(entries)
    first = next(it, None)
    if first is None:
        return None
    number = new_number()
    builder = TableBuilder(name(number), options)
    try:
        add = builder.add
        add(*first)
        for key, seq, kind, value in it:
            add(key, seq, kind, value)
        return meta_from_properties(number, builder.finish())
    except BaseException:
        builder.abandon()
        raise


class _TableSeries:
    """The tables one merge writes, in order: started on demand, finished one by one, and
    all removed (the open one abandoned) if the merge fails or is cancelled."""

    def __init__(self, options: Options, new_number: Callable[[], int],
                 name: Callable[[int], str]) -> None:
        self.options = options
        self.new_number = new_number
        self.name = name
        self.outputs: list[FileMeta] = []
        self._written: list[str] = []
        self._builder: TableBuilder | None = None
        self._number = 0

    def builder(self) -> TableBuilder:
        """The table being written, a new one if none is open."""
        if self._builder is None:
            self._number = self.new_number()
            self._builder = TableBuilder(self.name(self._number), self.options)
        return self._builder

    def size(self) -> int:
        """Estimated bytes of the open table (0 if none)."""
        return 0 if self._builder is None else self._builder.estimated_size()

    def finish(self) -> None:
        """Close the open table, if any, into `outputs`."""
        if self._builder is not None:
            self.outputs.append(meta_from_properties(self._number, self._builder.finish()))
            self._written.append(self._builder.path)
            self._builder = None

    def abandon(self) -> None:
        if self._builder is not None:
            self._builder.abandon()
            self._builder = None
        for path in self._written:
            _unlink_quietly(path)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# -- merges (in-thread or in the worker process) ---------------------------------------------


@dataclass
class MergeSpec:
    """Everything a merge needs, picklable (Options' compaction_filter included)."""

    dirpath: str
    inputs: list[FileMeta]
    output_level: int
    smallest_snapshot: int
    newest_snapshot: int
    #: the version the task was picked from (deeper levels decide where tombstones may vanish).
    version: Version
    options: Options
    #: worker only: outputs are written as <tmp_prefix><i>.tmp and renamed by the engine.
    tmp_prefix: str = ""


@dataclass
class MergeResult:
    outputs: list[FileMeta]
    counters: compaction.CompactionCounters = field(default_factory=compaction.CompactionCounters)


def run_merge(
    spec: MergeSpec,
    open_table: Callable[[FileMeta], Table],
    new_number: Callable[[], int],
    should_stop: Callable[[], bool] | None = None,
    path_for: Callable[[int], str] | None = None,
) -> MergeResult:
    """Merge `spec.inputs` into output tables, keeping what compaction.compact_entries keeps.

    Batched (iterators.merge_batches, compaction.compact_batches, TableBuilder.add_run):
    measured on four 63k-entry level-0 tables, 3.1 -> ~1.3 us per entry."""
    sources = [
        open_table(f).iter_batches(None, fill_cache=False, min_rows=_MERGE_ROWS)
        for f in spec.inputs
    ]
    counters = compaction.CompactionCounters()
    batches = compaction.compact_batches(
        merge_batches(sources),
        smallest_snapshot=spec.smallest_snapshot,
        newest_snapshot=spec.newest_snapshot,
        is_base=compaction.BaseLevelChecker(spec.version, spec.output_level),
        compaction_filter=spec.options.compaction_filter,
        counters=counters,
    )
    outputs = write_batches(
        spec.dirpath,
        batches,
        spec.options,
        new_number,
        split_bytes=spec.options.target_file_bytes,
        should_stop=should_stop,
        path_for=path_for,
    )
    return MergeResult(outputs, counters)


def write_batches(
    dirpath: str,
    batches: Iterable[tuple[list[bytes], list[int], list[bytes]]],
    options: Options,
    new_number: Callable[[], int],
    split_bytes: int,
    should_stop: Callable[[], bool] | None = None,
    path_for: Callable[[int], str] | None = None,
) -> list[FileMeta]:
    """write_tables for batches in which no key spans two batches: a new table starts between
    two batches once the current one reaches `split_bytes` (overshooting by at most a batch,
    a few tens of KiB), so all versions of a key stay in one file."""
    count = 0
    next_check = _STOP_CHECK_EVERY
    series = _TableSeries(options, new_number, path_for or (lambda n: table_path(dirpath, n)))
    try:
        for keys, tags, values in batches:
            count += len(keys)
            if should_stop is not None and count >= next_check:
                next_check = count + _STOP_CHECK_EVERY
                if should_stop():
                    raise CompactionCancelled
            if series.size() >= split_bytes:
                series.finish()
            series.builder().add_run(keys, tags, values)
        series.finish()
    except BaseException:
        series.abandon()
        raise
    return series.outputs


@dataclass
class FlushSpec:
    """A frozen memtable's contents for the worker: its sorted keys and its dict of version
    chains (pickled in C: far cheaper for the engine than writing the table itself)."""

    dirpath: str
    keys: list[bytes]
    data: dict
    chained: bool
    smallest_snapshot: int
    options: Options
    tmp_prefix: str = ""


@dataclass
class LogFlushSpec:
    """A frozen memtable named by its sealed WAL: the worker replays the log itself.

    Why: handing the memtable over costs the engine ~1.1 us per entry of sorting and pickling
    under the GIL (measured on a 4 MiB memtable), about a quarter of a put; replaying the
    fsynced log costs the engine nothing. Used only when the memtable kept no version for a
    snapshot (not `chained`): then the log replayed with no snapshots is exactly its content,
    which `entries` and `max_seq` confirm (a mismatch raises, and the engine falls back).

    `older_logs`: (log_path, entries, max_seq) of OLDER frozen memtables, oldest first, to
    flush into the same table (RocksDB flushes every queued memtable at once): fewer, larger
    level-0 tables, one fixed cost per flush. The engine sends them only when no live snapshot
    is older than the newest of them (last write wins across the logs too)."""

    dirpath: str
    log_path: str
    entries: int
    max_seq: int
    options: Options
    tmp_prefix: str = ""
    older_logs: tuple[tuple[str, int, int], ...] = ()


#: crc32, length, then a batch header (seq, count) and its first op's kind and key length.
_ONE_OP_RECORD = struct.Struct("<IIQIBI")
_U32 = struct.Struct("<I")
_ONE_PUT_FIXED = _ONE_OP_RECORD.size - 8 + 4  # payload bytes of a one-put record besides k, v


def replay_log(spec: LogFlushSpec) -> tuple[list[bytes], list[int], list[bytes]]:
    """The newest (key, tag, value) of every key in the sealed log(s) of `spec` (oldest
    first), as sorted columns for TableBuilder.add_run, each log checked against what the
    engine's memtable held."""
    tags: dict[bytes, int] = {}
    values: dict[bytes, bytes] = {}
    for log_path, entries, max_seq in (
        *spec.older_logs,
        (spec.log_path, spec.entries, spec.max_seq),
    ):
        _replay_one(log_path, entries, max_seq, tags, values)
    keys = sorted(values)
    return keys, list(map(tags.__getitem__, keys)), list(map(values.__getitem__, keys))


def _replay_ops(
    tags: dict[bytes, int], values: dict[bytes, bytes], seq: int,
    ops: list[tuple[int, bytes, bytes]],
) -> int:
    """Record a replayed batch's ops (a later write of a key replaces an earlier one); returns
    the batch's last sequence number."""
    for kind, key, value in ops:
        tags[key] = seq << 8 | kind
        values[key] = value
        seq += 1
    return seq - 1


def _replay_one(
    log_path: str,
    want_entries: int,
    want_max_seq: int,
    tags: dict[bytes, int],
    values: dict[bytes, bytes],
) -> None:
    """Replay one sealed log into `tags` and `values`: key -> its newest tag (seq << 8 | kind)
    and value, checked against what the engine's memtable held. Plain dicts, not a MemTable:
    with no snapshot versions to keep, the last write of a key wins. Two dicts rather than
    one of (tag, value) pairs: no pair per record, and the columns come out in two passes.

    The frequent record, a batch of one put, is parsed inline (one unpack, one CRC, three
    slices: ~1 us instead of ~2.8 us through LogReader and decode_record); anything else, and
    any record that does not parse or check, goes through LogReader, which names the damage."""
    with open(log_path, "rb") as f:
        data = f.read()
    entries = max_seq = 0
    header_ok = data[:WAL_HEADER_SIZE] == encode_wal_header(WAL_MAGIC)
    pos = WAL_HEADER_SIZE if header_ok else 0  # a bad header: LogReader reports it
    size = len(data)
    unpack, unpack_u32, crc32 = _ONE_OP_RECORD.unpack_from, _U32.unpack_from, zlib.crc32
    while header_ok and pos + _ONE_OP_RECORD.size <= size:
        crc, length, seq, count, kind, klen = unpack(data, pos)
        end = pos + 8 + length
        if end > size or crc32(data[pos + 4 : end]) != crc:
            break
        if count == 1 and kind == KIND_PUT and length >= _ONE_PUT_FIXED + klen:
            key_end = pos + _ONE_OP_RECORD.size + klen
            if unpack_u32(data, key_end)[0] != end - key_end - 4:
                break
            key = data[pos + _ONE_OP_RECORD.size : key_end]
            tags[key] = seq << 8 | KIND_PUT
            values[key] = data[key_end + 4 : end]
            entries += 1
            max_seq = seq
        else:
            seq, ops = decode_record(data[pos + 8 : end], log_path, pos)
            max_seq = _replay_ops(tags, values, seq, ops)
            entries += len(ops)
        pos = end
    if pos != size:  # not a clean end: let the reader find and name what is wrong
        for offset, payload in LogReader(log_path, WAL_MAGIC, tail_ok=False).records():
            if offset < pos:
                continue
            seq, ops = decode_record(payload, log_path, offset)
            max_seq = _replay_ops(tags, values, seq, ops)
            entries += len(ops)
    if entries != want_entries or max_seq != want_max_seq:
        raise CorruptionError(
            log_path,
            None,
            f"log holds {entries} ops up to seq {max_seq}, "
            f"the memtable {want_entries} up to {want_max_seq}",
        )


def write_run(
    dirpath: str,
    keys: list[bytes],
    tags: list[int],
    values: list[bytes],
    options: Options,
    new_number: Callable[[], int],
    path_for: Callable[[int], str] | None = None,
) -> list[FileMeta]:
    """One table of a sorted run given as columns (TableBuilder.add_run): the flush."""
    if not keys:
        return []
    number = new_number()
    path = path_for(number) if path_for is not None else table_path(dirpath, number)
    builder = TableBuilder(path, options)
    try:
        builder.add_run(keys, tags, values)
        return [meta_from_properties(number, builder.finish())]
    except BaseException:
        builder.abandon()
        raise


def run_log_flush(
    spec: LogFlushSpec, new_number: Callable[[], int], path_for: Callable
) -> MergeResult:
    keys, tags, values = replay_log(spec)
    return MergeResult(
        write_run(spec.dirpath, keys, tags, values, spec.options, new_number, path_for)
    )


def flush_entries(keys: list[bytes], data: dict) -> Iterable[Entry]:
    """A memtable's versions in (key asc, seq desc) order (memtable.MemTable.iter_all)."""
    for key in keys:
        e = data[key]
        while e is not None:
            yield key, e[0], e[1], e[2]
            e = e[3]


def run_flush(spec: FlushSpec, new_number: Callable[[], int], path_for: Callable) -> MergeResult:
    entries = flush_entries(spec.keys, spec.data)
    if spec.chained:
        entries = compaction.compact_entries(
            entries,
            smallest_snapshot=spec.smallest_snapshot,
            newest_snapshot=1 << 62,
            is_base=lambda key: False,
        )
    return MergeResult(
        write_tables(spec.dirpath, entries, spec.options, new_number, None, None, path_for)
    )


def tmp_output_path(spec: MergeSpec | FlushSpec | LogFlushSpec, i: int) -> str:
    return os.path.join(spec.dirpath, f"{spec.tmp_prefix}{i}.tmp")


_FRAME = struct.Struct("<Q")


def _send(fd: int, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    data = _FRAME.pack(len(data)) + data
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _recv(fd: int) -> object:
    """One frame; EOFError if the other side closed."""
    head = _read_exact(fd, _FRAME.size)
    return pickle.loads(_read_exact(fd, _FRAME.unpack(head)[0]))


def _read_exact(fd: int, n: int) -> bytes:
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("merge worker pipe closed")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _describe(exc: BaseException) -> tuple:
    """A picklable description of a worker error (CorruptionError's __init__ is not the
    generic one, so the exception itself may not survive pickling)."""
    if isinstance(exc, CorruptionError):
        return ("corruption", type(exc).__name__, exc.path, exc.offset, exc.reason)
    return ("error", type(exc).__name__, str(exc))


def _rebuild(desc: tuple) -> StorageError:
    if desc[0] == "corruption":
        import storage.errors as errors

        cls = getattr(errors, desc[1], CorruptionError)
        return cls(desc[2], desc[3], desc[4])
    return StorageError(f"compaction worker: {desc[1]}: {desc[2]}")


def worker_main(niceness: int = 0) -> None:
    """The worker process: read MergeSpecs from stdin, answer MergeResults on stdout.
    `niceness` is added to its CPU niceness first (see MergeWorker)."""
    if niceness:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    inp, out = sys.stdin.fileno(), os.dup(sys.stdout.fileno())
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    while True:
        try:
            spec = _recv(inp)
        except EOFError:
            return
        opened: list[Table] = []

        def open_table(f: FileMeta, spec: MergeSpec = spec, opened: list = opened) -> Table:
            t = Table.open(table_path(spec.dirpath, f.number), f.number, spec.options, None)
            opened.append(t)
            return t

        counter = iter(range(1 << 30))
        path_for = lambda i, spec=spec: tmp_output_path(spec, i)  # noqa: E731
        try:
            if isinstance(spec, FlushSpec):
                result: tuple = ("ok", run_flush(spec, counter.__next__, path_for))
            elif isinstance(spec, LogFlushSpec):
                result = ("ok", run_log_flush(spec, counter.__next__, path_for))
            else:
                result = ("ok", run_merge(spec, open_table, counter.__next__, path_for=path_for))
        except BaseException as exc:
            result = ("err", _describe(exc))
        finally:
            for t in opened:
                t.close()
        _send(out, result)


class WorkerDied(StorageError):
    """The merge worker process exited or broke the protocol; the engine merges in-thread."""


class MergeWorker:
    """A persistent merge process, started on first use. REQUIRES: one caller at a time.

    `niceness` lowers its CPU priority (RocksDB's LowerThreadPoolCPUPriority for its
    compaction pool): on a busy machine the flush worker and the writers, which a writer may
    be waiting for, get the CPU before a compaction, which only L0's file count waits for."""

    def __init__(self, niceness: int = 0) -> None:
        self._proc: subprocess.Popen | None = None
        self._niceness = niceness

    def run(
        self, spec: MergeSpec | FlushSpec | LogFlushSpec, wait_hook: Callable[[], bool]
    ) -> MergeResult:
        """Merge in the worker. `wait_hook()` is called every 50 ms while it works (the engine
        flushes memtables there); True cancels: the worker is killed, CompactionCancelled."""
        proc = self._ensure_started()
        try:
            _send(proc.stdin.fileno(), spec)
            out = proc.stdout.fileno()
            while not select.select([out], [], [], 0.05)[0]:
                if wait_hook():
                    self.kill()
                    raise CompactionCancelled
            status, payload = _recv(out)
        except (OSError, EOFError, pickle.PickleError, ValueError) as exc:
            self.kill()
            raise WorkerDied(f"merge worker failed: {exc!r}") from exc
        if status == "err":
            raise _rebuild(payload)
        return payload

    def start(self) -> None:
        """Start the process now (an interpreter start-up and imports) so the first
        `run` does not wait for it."""
        self._ensure_started()

    def _ensure_started(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            env = dict(os.environ)
            env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-P",  # no cwd on sys.path: a `storage` there must not shadow this one
                    "-c",
                    f"from storage.compactor import worker_main; worker_main({self._niceness:d})",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
        return self._proc

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=30)
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self, timeout: float = 10.0) -> None:
        """Ask the worker to exit (EOF on its stdin); kill it if it does not."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        with contextlib.suppress(OSError):
            proc.stdout.close()


def install_outputs(
    spec: MergeSpec | FlushSpec | LogFlushSpec,
    outputs: list[FileMeta],
    new_number: Callable[[], int],
) -> list[FileMeta]:
    """Rename a worker's temporary outputs to numbered tables (the engine fsyncs the directory
    before the manifest names them)."""
    installed = []
    for i, meta in enumerate(outputs):
        number = new_number()
        os.rename(tmp_output_path(spec, i), table_path(spec.dirpath, number))
        installed.append(replace(meta, number=number))
    return installed


def remove_tmp_outputs(dirpath: str, prefix: str) -> None:
    for name in os.listdir(dirpath):
        if name.startswith(prefix) and name.endswith(".tmp"):
            _unlink_quietly(os.path.join(dirpath, name))
