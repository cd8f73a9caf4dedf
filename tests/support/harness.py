"""Real server processes for tests: respdyn nodes and the reference redis-server, on free
loopback ports, waited for by polling PING (bounded), always stopped by PID."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT = 20.0


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_handed_out: set[int] = set()


def _worker_range() -> tuple[int, int]:
    """This test process' own slice of the ports below the ephemeral range: pytest-xdist
    workers (gw0, gw1, ...) draw from disjoint slices, so two workers never pick one port."""
    high = _ephemeral_low() - 1
    low = max(1025, high - 16000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    slices = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    span = (high - low) // max(1, slices)
    start = low + span * (index % max(1, slices))
    return start, start + span - 1


def quiet_port(host: str = "127.0.0.1") -> int:
    """A free port BELOW the kernel's ephemeral range: nodes open many outgoing connections
    while their peers start, and one of those must not take a port a peer is about to bind."""
    low, high = _worker_range()
    for _ in range(200):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port below the ephemeral range")


def free_port(host: str = "127.0.0.1") -> int:
    """A free port outside the ephemeral range (see `quiet_port`)."""
    return quiet_port(host)


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def wait_until_serving(proc: subprocess.Popen, host: str, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if ping(host, port):
            return
        time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"server on {host}:{port} did not answer PING in {STARTUP_TIMEOUT}s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
    """Stop by PID: `sig` first, SIGKILL if it does not exit in time. Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


class RespdynProcess:
    """One `respdyn serve` process; `restart()` keeps the port and the data directory."""

    def __init__(self, data_dir: Path, *extra: str, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.data_dir = data_dir
        self.extra = list(extra)
        self.log = data_dir.parent / f"respdyn-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "respdyn", "serve", "--host", self.host,
            "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra,
        ]

    def start(self) -> RespdynProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESPDYN_")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, env=env)
        wait_until_serving(self.proc, self.host, self.port, self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        return stop(self.proc, sig)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> RespdynProcess:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        return self.start()

    def wait_exit(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)


@contextmanager
def respdyn(data_dir: Path, *extra: str) -> Iterator[RespdynProcess]:
    node = RespdynProcess(data_dir, *extra).start()
    try:
        yield node
    finally:
        if node.proc is not None:
            stop(node.proc)


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """The reference: Debian's redis-server, no persistence, on a free port."""
    binary = redis_server_path()
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/install-redis installs it)")
    port = free_port()
    log = workdir / f"redis-{port}.log"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(proc, "127.0.0.1", port, log)
        yield "127.0.0.1", port
    finally:
        stop(proc)
