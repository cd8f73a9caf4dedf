"""Storage engine benchmark: respdyn's storage vs LevelDB (through plyvel), same workload.

    .venv/bin/python bench/storage_bench.py                   # 1,000,000 keys, both engines
    .venv/bin/python bench/storage_bench.py --keys 200000     # quicker
    .venv/bin/python bench/storage_bench.py --engines respdyn # without plyvel

Workload (LevelDB's db_bench shapes): 16-byte keys, 100-byte values that compress to about half
(a random 50-byte half, repeated once). Each engine runs in its own child process, so peak
RSS is per engine, and the parent drives both children phase by phase (respdyn's phase, then
LevelDB's, the order alternating per phase and round), so on a shared machine both engines
meet the same load; --repeat N runs N rounds and prints the median and range, and the ratio
is taken within each round. Every rate also shows CPU microseconds per operation.

respdyn's flush and merge worker processes are not in its "CPU us/op" (LevelDB's compaction
thread is in LevelDB's); the CPU they used during a phase is shown on a row of its own (needs
psutil; a worker's CPU for a phase counts only while it is alive, i.e. not at a close).

Phases: sequential put and random put (fsync off: Options(fsync="no") vs plyvel's default
sync=False), random get of present keys and of absent keys, one full scan and short scans of
100 keys, bytes on disk after background compaction settles vs raw key+value bytes, a reopen
of that store (~28x the memtable at 1M keys) with 10,000 values checked, and 50 writer threads
doing durable writes (fsync="always" vs put(sync=True)), where both engines group-commit.
Not a test: numbers depend on the machine and its load.

respdyn runs with its row cache OFF (Options(row_cache_bytes=0)): LevelDB has none, so the
comparison stays one of the engines proper. One extra respdyn-only row, "random get/s, present,
row cache on", reopens the store with the default row cache, reads the present-key phase's keys
once to fill it and times a second pass over them in another order (its hit rate is printed
with the extra stats as row_cache_hit_rate); the store is then reopened with the cache off.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KEY_MULT = 2654435761  # odd, not a multiple of 5: i -> i*KEY_MULT % N permutes range(N)


def make_pool(value_size: int, size: int = 1 << 20) -> bytes:
    """Values of `value_size` bytes, each a random half repeated once: ~50% compressible, like
    db_bench's default (--compression_ratio=0.5)."""
    rng = random.Random(42)
    half = value_size // 2
    chunks = []
    for _ in range(size // value_size):
        c = rng.randbytes(half)
        chunks.append((c + c + b"\0")[:value_size])
    return b"".join(chunks)


class Workload:
    def __init__(self, n: int, value_size: int) -> None:
        self.n = n
        self.value_size = value_size
        self.pool = make_pool(value_size)
        self.slots = len(self.pool) // value_size

    def seq_key(self, i: int) -> bytes:
        return b"%016d" % i

    def rand_key(self, i: int) -> bytes:
        return b"%016d" % (i * KEY_MULT % self.n)

    def value(self, i: int) -> bytes:
        off = (i * 101) % self.slots * self.value_size
        return self.pool[off : off + self.value_size]


class RespdynAdapter:
    name = "respdyn"

    def __init__(self, path: str, sync: bool, row_cache: bool = False) -> None:
        import storage

        options = storage.Options(fsync="always" if sync else "no")
        if not row_cache:
            options.row_cache_bytes = 0  # LevelDB has no row cache: compare like with like
        self.db = storage.open(path, options)
        self.put = self.db.put
        self.get = self.db.get

    def scan(self, start: bytes | None, limit: int | None):
        it = self.db.scan(start)
        n = 0
        for _ in it:
            n += 1
            if limit is not None and n >= limit:
                break
        it.close()
        return n

    def settle(self) -> None:
        self.db.wait_idle(600)

    def extra(self) -> dict:
        s = self.db.stats()
        keep = (
            "files_per_level",
            "compression_ratio",
            "flushes",
            "compactions",
            "trivial_moves",
            "write_stalls",
            "stall_seconds",
            "bloom_false_positives",
            "block_cache_hits",
            "block_cache_misses",
            "row_cache_hits",
            "row_cache_misses",
        )
        return {k: s[k] for k in keep}

    def close(self) -> None:
        self.db.close()


class LevelDBAdapter:
    name = "leveldb"

    def __init__(self, path: str, sync: bool, row_cache: bool = False) -> None:
        import plyvel

        del row_cache  # LevelDB has none
        self.db = plyvel.DB(path, create_if_missing=True)
        self.get = self.db.get
        db = self.db
        self.put = (lambda k, v: db.put(k, v, sync=True)) if sync else db.put

    def scan(self, start: bytes | None, limit: int | None):
        n = 0
        with self.db.iterator(start=start) as it:
            for _ in it:
                n += 1
                if limit is not None and n >= limit:
                    break
        return n

    def settle(self) -> None:
        pass  # LevelDB compacts on its own thread; nothing to wait for in its API

    def extra(self) -> dict:
        return {}

    def close(self) -> None:
        self.db.close()


ADAPTERS = {"respdyn": RespdynAdapter, "leveldb": LevelDBAdapter}


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: all its threads, not its children)."""
    c, t = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def children_cpu() -> float:
    """CPU seconds used so far by this process's live children (respdyn's flush and merge
    worker processes; LevelDB has none). 0 without psutil."""
    try:
        import psutil
    except ImportError:
        return 0.0
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


class Phases:
    """One engine's side of the benchmark, run one phase at a time on the parent's command, so
    the parent can alternate engines phase by phase and both see the same machine load.

    Each phase returns {metric: value}; a rate metric also gets `<metric>_cpu_us` (CPU
    microseconds per operation in this process). respdyn's merge worker processes are not
    counted in its CPU time; LevelDB's compaction thread is (it lives in this process)."""

    def __init__(
        self,
        engine: str,
        n: int,
        value_size: int,
        reads: int,
        sync_writes: int,
        threads: int,
        workdir: str,
    ) -> None:
        self.w = Workload(n, value_size)
        self.make = ADAPTERS[engine]
        self.n, self.reads, self.sync_writes, self.threads = n, reads, sync_writes, threads
        self.workdir = workdir
        self.rand_path = os.path.join(workdir, "rand")
        self.db = None
        self.rng = random.Random(1)

    def _rate(self, name: str, ops: int, fn) -> dict:
        before = children_cpu()
        wall, cpu = timed(fn)
        out = {name: ops / wall, name + "_cpu_us": cpu * 1e6 / ops}
        workers = children_cpu() - before
        if workers > 0:
            out[name + "_workers_cpu_us"] = workers * 1e6 / ops
        return out

    def seq_put(self) -> dict:
        w, path = self.w, os.path.join(self.workdir, "seq")
        db = self.make(path, sync=False)
        put = db.put
        out = self._rate(
            "seq_put_per_s", self.n, lambda: [put(w.seq_key(i), w.value(i)) for i in range(self.n)]
        )
        db.close()
        shutil.rmtree(path)
        return out

    def random_put(self) -> dict:
        w = self.w
        self.db = db = self.make(self.rand_path, sync=False)
        put = db.put
        out = self._rate(
            "random_put_per_s",
            self.n,
            lambda: [put(w.rand_key(i), w.value(i)) for i in range(self.n)],
        )
        out["settle_s"] = timed(db.settle)[0]
        return out

    def get_hit(self) -> dict:
        hits = [self.w.seq_key(self.rng.randrange(self.n)) for _ in range(self.reads)]
        get = self.db.get
        out = self._rate("random_get_hit_per_s", self.reads, lambda: [get(k) for k in hits])
        assert all(get(k) is not None for k in hits[:1000])
        self.hit_keys = hits
        return out

    def get_hit_row_cache(self) -> dict:
        """respdyn only: the present-key gets again, with the row cache on (filled by one
        untimed pass over the same keys; the timed pass reads them in another order)."""
        if self.make is not RespdynAdapter:
            return {}
        self.db.close()
        self.db = db = self.make(self.rand_path, sync=False, row_cache=True)
        get = db.get
        hits = self.hit_keys
        for key in hits:
            get(key)
        before = db.db.stats()
        again = random.Random(3).sample(hits, len(hits))
        out = self._rate("random_get_hit_rc_per_s", self.reads, lambda: [get(k) for k in again])
        after = db.db.stats()
        h = after["row_cache_hits"] - before["row_cache_hits"]
        m = after["row_cache_misses"] - before["row_cache_misses"]
        out["row_cache_hit_rate"] = round(h / (h + m), 3) if h + m else 0.0
        db.close()
        self.db = self.make(self.rand_path, sync=False)
        return out

    def get_miss(self) -> dict:
        misses = [b"%015dx" % self.rng.randrange(self.n) for _ in range(self.reads)]
        get = self.db.get
        return self._rate("random_get_miss_per_s", self.reads, lambda: [get(k) for k in misses])

    def full_scan(self) -> dict:
        count = 0

        def full():
            nonlocal count
            count = self.db.scan(None, None)

        out = self._rate("full_scan_keys_per_s", self.n, full)
        assert count == self.n, (count, self.n)
        return out

    def scan100(self) -> dict:
        starts = [self.w.seq_key(self.rng.randrange(self.n)) for _ in range(2000)]
        db = self.db
        return self._rate("scan100_per_s", len(starts), lambda: [db.scan(s, 100) for s in starts])

    def reopen(self) -> dict:
        """Close, reopen (recovery: the data is ~28x the memtable), check 10k values."""
        out = {
            "disk_bytes": dir_bytes(self.rand_path),
            "raw_bytes": self.n * (16 + self.w.value_size),
        }
        out.update(self.db.extra())
        self.db.close()
        wall, _ = timed(lambda: setattr(self, "db", self.make(self.rand_path, sync=False)))
        out["reopen_s"] = wall
        w, get = self.w, self.db.get
        for i in random.Random(7).sample(range(self.n), min(self.n, 10_000)):
            assert get(w.rand_key(i)) == w.value(i), ("wrong value after reopen", i)
        out["reopen_ok"] = 1
        self.db.close()
        self.db = None
        shutil.rmtree(self.rand_path)
        return out

    def sync_put(self) -> dict:
        path, w = os.path.join(self.workdir, "sync"), self.w
        db = self.make(path, sync=True)
        per_thread = self.sync_writes // self.threads

        def writer(t_id: int) -> None:
            for i in range(per_thread):
                db.put(b"t%03d-%011d" % (t_id, i), w.value(i))

        def run() -> None:
            ts = [threading.Thread(target=writer, args=(i,)) for i in range(self.threads)]
            for th in ts:
                th.start()
            for th in ts:
                th.join()

        out = self._rate("sync_put_50_threads_per_s", per_thread * self.threads, run)
        db.close()
        shutil.rmtree(path)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out


PHASES = (
    "seq_put",
    "random_put",
    "get_hit",
    "get_hit_row_cache",
    "get_miss",
    "full_scan",
    "scan100",
    "reopen",
    "sync_put",
)


def child_main(args) -> None:
    """Serve phases named one per line on stdin; answer each with one JSON line."""
    workdir = os.path.join(args.dir, args.child)
    os.makedirs(workdir, exist_ok=True)
    phases = Phases(
        args.child, args.keys, args.value_size, args.reads, args.sync_writes, args.threads, workdir
    )
    for line in sys.stdin:
        res = getattr(phases, line.strip())()
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


def run_interleaved(args, workdir: str, first: int) -> dict:
    """One round: a child per engine; every phase runs on each engine in turn (the engine
    that goes first alternates with `first`), so both meet the same machine load."""
    engines = args.engines.split(",")
    procs = {}
    for engine in engines:
        cmd = [sys.executable, __file__, "--child", engine, "--dir", workdir]
        for opt in ("keys", "value_size", "reads", "sync_writes", "threads"):
            cmd += ["--" + opt.replace("_", "-"), str(getattr(args, opt))]
        procs[engine] = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    results: dict = {e: {} for e in engines}
    try:
        for k, phase in enumerate(PHASES):
            order = engines if (k + first) % 2 == 0 else engines[::-1]
            for engine in order:
                print(f"  {phase} on {engine} ...", file=sys.stderr, flush=True)
                p = procs[engine]
                p.stdin.write(phase + "\n")
                p.stdin.flush()
                line = p.stdout.readline()
                if not line:
                    raise RuntimeError(f"{engine} died in phase {phase}")
                results[engine].update(json.loads(line))
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait()
    return results


ROWS = [
    ("seq_put_per_s", "sequential put/s (fsync off)", True),
    ("random_put_per_s", "random put/s (fsync off)", True),
    ("settle_s", "compaction settle after load (s)", False),
    ("random_get_hit_per_s", "random get/s, present", True),
    ("random_get_hit_rc_per_s", "random get/s, present, row cache on (respdyn only)", True),
    ("random_get_miss_per_s", "random get/s, absent", True),
    ("full_scan_keys_per_s", "full scan keys/s", True),
    ("scan100_per_s", "100-key scans/s", True),
    ("sync_put_50_threads_per_s", "durable put/s, 50 threads", True),
    ("disk_bytes", "bytes on disk", False),
    ("reopen_s", "reopen + 10k checked gets (s)", False),
    ("peak_rss_mb", "peak RSS (MB)", False),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--reads", type=int, default=200_000)
    ap.add_argument("--sync-writes", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=50)
    ap.add_argument("--engines", default="respdyn,leveldb")
    ap.add_argument(
        "--repeat", type=int, default=1, help="rounds; the table shows median and range"
    )
    ap.add_argument("--json", default=None, help="also write every round's results here")
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args)
        return
    workdir = args.dir or tempfile.mkdtemp(prefix="storage-bench-")
    rounds = []
    try:
        for r in range(args.repeat):
            print(f"round {r + 1}/{args.repeat}", file=sys.stderr, flush=True)
            rounds.append(run_interleaved(args, os.path.join(workdir, f"r{r}"), r))
    finally:
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rounds, f, indent=1)
    print_table(rounds, args)


def _cell(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def _spread(values: list[float]) -> str:
    """median, and [min-max] when there are several rounds."""
    if not values:
        return "-"
    values = sorted(values)
    mid = _cell(statistics.median(values))
    return mid if len(values) == 1 else f"{mid} [{_cell(values[0])}-{_cell(values[-1])}]"


def print_table(rounds: list[dict], args) -> None:
    engines = list(rounds[0])
    both = len(engines) == 2
    print(
        f"\n{args.keys:,} keys x {args.value_size}-byte values, {os.cpu_count()} CPUs, "
        f"{len(rounds)} round(s), load {os.getloadavg()[0]:.1f}; median [min-max]\n"
    )
    cols = [*engines, "respdyn/LevelDB (per round)"] if both else engines
    print("| metric | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for key, label, _ in ROWS:
        for metric, name in (
            (key, label),
            (key + "_cpu_us", "  CPU us/op"),
            (key + "_workers_cpu_us", "  + worker processes' CPU us/op"),
        ):
            per = [[r[e].get(metric) for r in rounds] for e in engines]
            if all(v is None for vs in per for v in vs):
                continue
            cells = [_spread([v for v in vs if v is not None]) for vs in per]
            if both and key not in ("settle_s", "reopen_s"):
                ratios = [a / b for a, b in zip(*per, strict=True) if a and b]
                cells.append(_spread(ratios))
            elif both:
                cells.append("-")
            print(f"| {name} | " + " | ".join(cells) + " |")
    for e in engines:
        r = rounds[-1][e]
        print(
            f"\n{e}: raw/disk = {r['raw_bytes'] / r['disk_bytes']:.2f}, "
            f"reopen {r.get('reopen_s', 0):.2f}s, values correct after reopen: "
            f"{bool(r.get('reopen_ok'))}"
        )
        names = {
            k for row in ROWS for k in (row[0], row[0] + "_cpu_us", row[0] + "_workers_cpu_us")
        }
        print("   ", {k: v for k, v in r.items() if k not in names})


if __name__ == "__main__":
    main()
