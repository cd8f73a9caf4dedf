"""`respdyn cluster --nodes 3`: starts the nodes, prints their ports, stops them all on SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time

import psutil
import redis
from harness import ping


def _free_block(count: int) -> int:
    """A base port such that base..base+count-1 and the same +10000 are all free."""
    for _ in range(100):
        base = random.randint(12000, 22000)
        ports = [base + k for k in range(count)] + [base + 10000 + k for k in range(count)]
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


def test_local_cluster_command(tmp_path):
    base = _free_block(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPDYN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "respdyn", "cluster", "--nodes", "3", "--base-port", str(base),
         "--data-root", str(tmp_path / "data"), "--", "--fsync", "no"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not all(ping("127.0.0.1", base + k) for k in range(3)):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the nodes did not start"
            time.sleep(0.1)
        c1 = redis.Redis(port=base, socket_timeout=10)
        c3 = redis.Redis(port=base + 2, socket_timeout=10)
        c1.set("via-cli", "yes")
        assert c3.get("via-cli") == b"yes"
        assert sorted(os.listdir(tmp_path / "data")) == ["node1", "node2", "node3"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert f"node1: redis-cli -h 127.0.0.1 -p {base}" in out
        assert not any(ping("127.0.0.1", base + k, timeout=0.2) for k in range(3))
    finally:
        if proc.poll() is None:  # failed midway: stop the nodes by PID, then the parent
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait(10)
