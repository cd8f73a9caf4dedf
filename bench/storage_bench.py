"""Storage engine benchmark: respdyn's storage vs LevelDB (through plyvel), same workload.

    .venv/bin/python bench/storage_bench.py                   # 1,000,000 keys, both engines
    .venv/bin/python bench/storage_bench.py --keys 200000     # quicker
    .venv/bin/python bench/storage_bench.py --engines respdyn # without plyvel

Workload (LevelDB's db_bench shapes): 16-byte keys, 100-byte values that compress to about half
(a random 50-byte half, repeated once). Each engine runs in its own child process, so peak
RSS is per engine. Phases: sequential put and random put (fsync off: Options(fsync="no") vs
plyvel's default sync=False), random get of present keys and of absent keys, one full scan and
short scans of 100 keys, bytes on disk after background compaction settles vs raw key+value
bytes, and 50 writer threads doing durable writes (fsync="always" vs put(sync=True)), where
both engines group-commit. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
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

    def __init__(self, path: str, sync: bool) -> None:
        import storage

        self.db = storage.open(path, storage.Options(fsync="always" if sync else "no"))
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
        )
        return {k: s[k] for k in keep}

    def close(self) -> None:
        self.db.close()


class LevelDBAdapter:
    name = "leveldb"

    def __init__(self, path: str, sync: bool) -> None:
        import plyvel

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


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def run_engine(
    engine: str, n: int, value_size: int, reads: int, sync_writes: int, threads: int, workdir: str
) -> dict:
    w = Workload(n, value_size)
    make = ADAPTERS[engine]
    out: dict = {}

    db = make(os.path.join(workdir, "seq"), sync=False)
    put = db.put
    t = timed(lambda: [put(w.seq_key(i), w.value(i)) for i in range(n)])
    out["seq_put_per_s"] = n / t
    db.close()
    shutil.rmtree(os.path.join(workdir, "seq"))

    path = os.path.join(workdir, "rand")
    db = make(path, sync=False)
    put = db.put
    t = timed(lambda: [put(w.rand_key(i), w.value(i)) for i in range(n)])
    out["random_put_per_s"] = n / t
    out["settle_s"] = timed(db.settle)

    rng = random.Random(1)
    hits = [w.seq_key(rng.randrange(n)) for _ in range(reads)]
    get = db.get
    t = timed(lambda: [get(k) for k in hits])
    assert all(get(k) is not None for k in hits[:1000])
    out["random_get_hit_per_s"] = reads / t
    misses = [b"%015dx" % rng.randrange(n) for _ in range(reads)]
    t = timed(lambda: [get(k) for k in misses])
    out["random_get_miss_per_s"] = reads / t

    count = 0

    def full():
        nonlocal count
        count = db.scan(None, None)

    t = timed(full)
    assert count == n, (count, n)
    out["full_scan_keys_per_s"] = n / t
    starts = [w.seq_key(rng.randrange(n)) for _ in range(2000)]
    t = timed(lambda: [db.scan(s, 100) for s in starts])
    out["scan100_per_s"] = len(starts) / t
    out["disk_bytes"] = dir_bytes(path)
    out["raw_bytes"] = n * (16 + value_size)
    out.update(db.extra())
    db.close()
    shutil.rmtree(path)

    path = os.path.join(workdir, "sync")
    db = make(path, sync=True)
    per_thread = sync_writes // threads

    def writer(t_id: int) -> None:
        for i in range(per_thread):
            db.put(b"t%03d-%011d" % (t_id, i), w.value(i))

    ts = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    out["sync_put_50_threads_per_s"] = per_thread * threads / (time.perf_counter() - t0)
    db.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


ROWS = [
    ("seq_put_per_s", "sequential put/s (fsync off)", True),
    ("random_put_per_s", "random put/s (fsync off)", True),
    ("settle_s", "compaction settle after load (s)", False),
    ("random_get_hit_per_s", "random get/s, present", True),
    ("random_get_miss_per_s", "random get/s, absent", True),
    ("full_scan_keys_per_s", "full scan keys/s", True),
    ("scan100_per_s", "100-key scans/s", True),
    ("sync_put_50_threads_per_s", "durable put/s, 50 threads", True),
    ("disk_bytes", "bytes on disk", False),
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
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    workdir = args.dir or tempfile.mkdtemp(prefix="storage-bench-")
    if args.child:
        res = run_engine(
            args.child,
            args.keys,
            args.value_size,
            args.reads,
            args.sync_writes,
            args.threads,
            os.path.join(workdir, args.child),
        )
        print(json.dumps(res))
        return
    results = {}
    for engine in args.engines.split(","):
        os.makedirs(os.path.join(workdir, engine), exist_ok=True)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            engine,
            "--keys",
            str(args.keys),
            "--value-size",
            str(args.value_size),
            "--reads",
            str(args.reads),
            "--sync-writes",
            str(args.sync_writes),
            "--threads",
            str(args.threads),
            "--dir",
            workdir,
        ]
        print(f"running {engine} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not args.dir:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, args)


def print_table(results: dict, args) -> None:
    engines = list(results)
    print(f"\n{args.keys:,} keys x {args.value_size}-byte values, {os.cpu_count()} CPUs\n")
    header = f"| {'metric':36} | " + " | ".join(f"{e:>12}" for e in engines)
    if len(engines) == 2:
        header += " | respdyn/LevelDB |"
    print(header)
    print(
        "|"
        + "-" * 38
        + "|"
        + "|".join("-" * 14 for _ in engines)
        + ("|" + "-" * 17 + "|" if len(engines) == 2 else "")
    )
    for key, label, _ in ROWS:
        vals = [results[e].get(key) for e in engines]
        line = f"| {label:36} | " + " | ".join(
            f"{v:>12,.0f}" if v is not None and v >= 100 else f"{v:>12.2f}" for v in vals
        )
        if len(engines) == 2 and all(vals):
            line += f" | {vals[0] / vals[1]:>15.2f} |"
        print(line)
    raw = results[engines[0]]["raw_bytes"]
    for e in engines:
        print(f"\n{e}: raw/disk = {raw / results[e]['disk_bytes']:.2f}")
        extra = {k: v for k, v in results[e].items() if k not in dict((r[0], 0) for r in ROWS)}
        print("   ", extra)


if __name__ == "__main__":
    main()
