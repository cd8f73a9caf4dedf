"""redis-benchmark against a 3-node respdyn cluster (N=3, R=2, W=2), a single respdyn node and
a real redis-server, side by side in one run; prints throughput, p50/p99 and ratios.

    .venv/bin/python bench/cluster_bench.py [--requests 50000] [--clients 50] [--pipeline 1]

Not a test. Goal (2-core machine, no pipelining): cluster SET/GET >= 30% of single-node respdyn.
Every server runs on 127.0.0.1, on the same cores as redis-benchmark; the cluster's three
processes share them too, so the ratio measures CPU per request more than network latency.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from cluster_harness import Cluster
from harness import redis_server, respdyn

TESTS = "set,get"
CLUSTER = "respdyn 3 nodes via node1"
SPREAD = "respdyn 3 nodes via all 3"


def _argv(port: int, test: str, requests: int, clients: int, args: argparse.Namespace) -> list:
    return [
        "redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test,
        "-n", str(requests), "-c", str(clients), "-P", str(args.pipeline),
        "-r", "100000", "-d", str(args.size), "--csv",
    ]


def _parse(out: str) -> dict[str, dict[str, float]]:
    rows = {}
    for row in csv.DictReader(io.StringIO(out)):
        rows[row["test"]] = {
            "rps": float(row["rps"]),
            "p50": float(row["p50_latency_ms"]),
            "p99": float(row["p99_latency_ms"]),
        }
    return rows


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by the server processes."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def listening_pid(port: int) -> int:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return conn.pid
    raise RuntimeError(f"nothing listens on port {port}")


def measure(
    ports: list[int], pids: list[int], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """{test: {rps, p50, p99, cpu_us}}: one redis-benchmark per port at once (clients and
    requests split between them), the best of `--repeat` runs (a shared machine's stalls only
    ever make a run slower). cpu_us is the servers' CPU time per request (all their processes),
    which the machine's other load hardly changes: the fairer basis for a ratio."""
    rows: dict[str, dict[str, float]] = {}
    for test in TESTS.split(",") * args.repeat:
        before = _cpu_seconds(pids)
        procs = [
            subprocess.Popen(
                _argv(port, test, args.requests // len(ports), args.clients // len(ports), args),
                stdout=subprocess.PIPE, text=True,
            )
            for port in ports
        ]
        parts = [_parse(proc.communicate(timeout=600)[0]) for proc in procs]
        cpu_us = (_cpu_seconds(pids) - before) / args.requests * 1e6
        name = test.upper()
        row = {
            "rps": sum(p[name]["rps"] for p in parts),
            "p50": max(p[name]["p50"] for p in parts),
            "p99": max(p[name]["p99"] for p in parts),
            "cpu_us": cpu_us,
        }
        if name not in rows or row["rps"] > rows[name]["rps"]:
            row["cpu_us"] = min(cpu_us, rows.get(name, row)["cpu_us"])
            rows[name] = row
        else:
            rows[name]["cpu_us"] = min(cpu_us, rows[name]["cpu_us"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--size", type=int, default=3, help="value size in bytes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server; best kept")
    parser.add_argument("--timeout-ms", type=int, default=5000,
                        help="the cluster's quorum timeout (generous: a loaded machine can stall "
                        "a process for a second, and redis-benchmark stops at the first error)")
    args = parser.parse_args()
    if shutil.which("redis-benchmark") is None:
        sys.exit("redis-benchmark is missing (scripts/install-redis installs it)")
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        _, redis_port = stack.enter_context(redis_server(root))
        results["redis-server"] = measure([redis_port], [listening_pid(redis_port)], args)
        (root / "single").mkdir()
        single = stack.enter_context(respdyn(root / "single" / "data", "--fsync", "everysec"))
        results["respdyn 1 node"] = measure([single.port], [single.proc.pid], args)
        single.stop()
        cluster = Cluster(root / "cluster", 3, "--n", "3", "--r", "2", "--w", "2",
                          "--fsync", "everysec", debug=False, timeout_ms=args.timeout_ms)
        stack.callback(cluster.stop)
        cluster.start()
        pids = [node.proc.pid for node in cluster.nodes]
        results[CLUSTER] = measure([cluster.nodes[0].port], pids, args)
        results[SPREAD] = measure([node.port for node in cluster.nodes], pids, args)
    print_table(results, args)


def print_table(results: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace) -> None:
    print(f"\nbest of {args.repeat}: redis-benchmark -t {TESTS} -n {args.requests} "
          f"-c {args.clients} -P {args.pipeline} -d {args.size} -r 100000; cluster N=3 R=2 W=2, "
          "entered through node1 only, then through all three at once (clients split)\n")
    single = results["respdyn 1 node"]
    header = (f"{'server':28} {'test':5} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'vs 1 node':>9} {'CPU us/op':>10} {'CPU vs 1 node':>14}")
    print(header)
    print("-" * len(header))
    for name, rows in results.items():
        for test, row in rows.items():
            ratio = row["rps"] / single[test]["rps"]
            cpu_ratio = single[test]["cpu_us"] / row["cpu_us"]
            print(f"{name:28} {test:5} {row['rps']:9.0f} {row['p50']:8.3f} {row['p99']:8.3f} "
                  f"{ratio:9.0%} {row['cpu_us']:10.1f} {cpu_ratio:14.0%}")
    print("\n(CPU vs 1 node = the single node's CPU per request / this server's, all its "
          "processes together; other load on the machine hardly changes it)")
    for name in (CLUSTER, SPREAD):
        for test, row in results[name].items():
            ratio = row["rps"] / single[test]["rps"]
            verdict = "meets" if ratio >= 0.30 else "BELOW"
            print(f"{name} {test}: {ratio:.0%} of single-node respdyn ({verdict} the 30% goal)")


if __name__ == "__main__":
    main()
