"""respdyn vs redis-server under redis-benchmark, side by side. Not a test: a documented command.

    .venv/bin/python bench/redis_benchmark.py                 # defaults: -n 100000 -c 50, 3 rounds
    .venv/bin/python bench/redis_benchmark.py -n 200000 --rounds 5 --tests set,get
    .venv/bin/python bench/redis_benchmark.py --respdyn-cmd 'python standin.py --port {port}'

Starts a real `redis-server` (no persistence) and respdyn (`python -m respdyn serve --port P
--data-dir D --fsync everysec`, or `--respdyn-cmd` with `{port}`/`{data_dir}` placeholders) on
free ports, then runs `redis-benchmark -t TESTS -c 50 -n N --csv` against each, without
pipelining and with `-P 16`, alternating which server goes first in each round (the machine is
shared: alternation spreads the noise evenly). Prints requests/s, p50 and p99 (medians over the
rounds), the ratio respdyn/redis, and the server process's CPU time per request (user + system,
from psutil around each redis-benchmark run, divided by the run's requests: the steadier figure
on a shared machine, where throughput swings with everyone else's load). Each test runs as its
own redis-benchmark invocation so that the CPU time is per test. Both servers are killed at the
end, whatever happens.
"""

from __future__ import annotations

import argparse
import csv
import io
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

Row = dict[str, float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until the server answers PING (or its process dies: then fail with its output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


@contextmanager
def running(cmd: list[str], port: int, log: Path) -> Iterator[subprocess.Popen]:
    """A server process that is terminated (then killed) on exit, whatever happens."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU time the server process has used so far (all its threads)."""
    times = proc.cpu_times()
    return times.user + times.system


def run_benchmark(
    port: int, server: psutil.Process, args: argparse.Namespace, pipeline: int
) -> dict[str, Row]:
    """One redis-benchmark run per test, so that the server's CPU time is charged per test."""
    rows = {}
    for test in args.tests.split(","):
        cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test]
        cmd += ["-c", str(args.clients), "-n", str(args.requests), "-P", str(pipeline), "--csv"]
        cpu_before = cpu_seconds(server)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=True)
        cpu_us = (cpu_seconds(server) - cpu_before) * 1e6 / args.requests
        for rec in csv.DictReader(io.StringIO(out.stdout)):
            rows[rec["test"]] = {
                "rps": float(rec["rps"]),
                "p50": float(rec["p50_latency_ms"]),
                "p99": float(rec["p99_latency_ms"]),
                "cpu_us": cpu_us,
            }
    return rows


def report(results: dict[tuple[str, int, str], list[Row]], pipelines: list[int]) -> None:
    def med(rows: list[Row], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    head = f"{'test':<16}{'P':>3} {'redis rps':>11} {'p50':>6} {'p99':>6} {'cpu/req':>8}"
    head += f" {'respdyn rps':>12} {'p50':>6} {'p99':>6} {'cpu/req':>8} {'ratio':>6}"
    head += f" {'ratios/round':>18}"
    print(head)
    print("-" * len(head))
    order = list(results)
    first = pipelines[0]
    tests = sorted({t for (t, _, _) in results}, key=lambda t: order.index((t, first, "redis")))
    for pipeline in pipelines:
        for test in tests:
            r, d = results[(test, pipeline, "redis")], results[(test, pipeline, "respdyn")]
            ratio = med(d, "rps") / med(r, "rps")
            per_round = " ".join(f"{x['rps'] / y['rps']:.2f}" for x, y in zip(d, r, strict=True))
            print(
                f"{test:<16}{pipeline:>3} {med(r, 'rps'):>11.0f} {med(r, 'p50'):>6.2f}"
                f" {med(r, 'p99'):>6.2f} {med(r, 'cpu_us'):>6.1f}us"
                f" {med(d, 'rps'):>12.0f} {med(d, 'p50'):>6.2f}"
                f" {med(d, 'p99'):>6.2f} {med(d, 'cpu_us'):>6.1f}us {ratio:>6.2f} {per_round:>18}"
            )
    print("cpu/req: server process CPU time (user+sys) per request, median over the rounds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=100_000)
    parser.add_argument("-c", "--clients", type=int, default=50)
    parser.add_argument("-t", "--tests", default="set,get,incr,mset")
    parser.add_argument("--pipelines", default="1,16", help="comma-separated -P values")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="per redis-benchmark run")
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("--respdyn-cmd", help="command template with {port} and {data_dir}")
    args = parser.parse_args(argv)
    for tool in (args.redis_server, "redis-benchmark"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} not found on PATH")
    pipelines = [int(p) for p in args.pipelines.split(",")]

    with tempfile.TemporaryDirectory(prefix="respdyn-bench-") as tmp:
        work = Path(tmp)
        redis_port, respdyn_port = free_port(), free_port()
        data_dir = work / "respdyn-data"
        data_dir.mkdir()
        redis_cmd = [args.redis_server, "--port", str(redis_port), "--save", "", "--appendonly"]
        redis_cmd += ["no", "--daemonize", "no", "--dir", str(work)]
        if args.respdyn_cmd:
            fmt = {"port": respdyn_port, "data_dir": data_dir}
            respdyn_cmd = [part.format(**fmt) for part in shlex.split(args.respdyn_cmd)]
        else:
            respdyn_cmd = [sys.executable, "-m", "respdyn", "serve", "--port", str(respdyn_port)]
            respdyn_cmd += ["--data-dir", str(data_dir), "--fsync", "everysec"]
        results: dict[tuple[str, int, str], list[Row]] = defaultdict(list)
        with (
            running(redis_cmd, redis_port, work / "redis.log") as redis_proc,
            running(respdyn_cmd, respdyn_port, work / "respdyn.log") as respdyn_proc,
        ):
            servers = [
                ("redis", redis_port, psutil.Process(redis_proc.pid)),
                ("respdyn", respdyn_port, psutil.Process(respdyn_proc.pid)),
            ]
            for round_no in range(args.rounds):
                order = servers if round_no % 2 == 0 else servers[::-1]
                for pipeline in pipelines:
                    for name, port, server in order:
                        rows = run_benchmark(port, server, args, pipeline)
                        for test, row in rows.items():
                            results[(test, pipeline, name)].append(row)
                        summary = " ".join(f"{t}={r['rps']:.0f}" for t, r in rows.items())
                        print(f"# round {round_no + 1} -P {pipeline} {name}: {summary}")
        report(results, pipelines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
