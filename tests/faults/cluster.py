"""Five (or k) real node processes on 127.0.0.x with the proxy mesh between them, and the
faults: SIGKILL + restart, SIGSTOP/SIGCONT, clock skew (the nodes' test-only
`--debug-clock-skew-file`, respdyn/clock.py), disk faults (tests/faults/disk/sitecustomize.py:
respdyn has no storage fault option), directed link cuts, delay and loss.

Every process started here is stopped by PID in `stop()`; use `FaultCluster` as a context
manager so a failing run still cleans up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

SUPPORT = Path(__file__).resolve().parents[1] / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

from harness import quiet_port, wait_until_serving  # noqa: E402
from harness import stop as stop_proc  # noqa: E402

HERE = Path(__file__).resolve().parent
PROXY_HOST = "127.0.0.1"


class Node:
    """One `respdyn serve` on its own loopback address, seeded with proxy addresses."""

    def __init__(self, root: Path, index: int, extra: list[str]) -> None:
        self.index = index
        self.node_id = f"n{index}"
        self.host = f"127.0.0.{10 + index}"
        self.port = quiet_port(self.host)
        self.cluster_port = quiet_port(self.host)
        self.dir = root / self.node_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.skew_file = self.dir / "skew_ms"
        self.skew_file.write_text("0")
        self.disk_file = self.dir / "disk_fault"
        self.disk_file.write_text("")
        self.log = self.dir / "node.log"
        self.extra = extra
        self.seeds = ""
        self.proc: subprocess.Popen | None = None
        self.paused = False

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "respdyn", "serve", "--host", self.host, "--port",
            str(self.port), "--data-dir", str(self.dir / "data"), "--node-id", self.node_id,
            "--cluster-port", str(self.cluster_port), "--seeds", self.seeds,
            "--enable-debug-commands", "--debug-clock-skew-file", str(self.skew_file),
            *self.extra,
        ]

    def spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESPDYN_")}
        env["FAULTS_DISK_FILE"] = str(self.disk_file)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE / "disk"), env.get("PYTHONPATH", "")])
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, env=env)
        self.paused = False

    def wait(self) -> None:
        assert self.proc is not None
        wait_until_serving(self.proc, self.host, self.port, self.log)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            if self.paused:
                self.signal(signal.SIGCONT)
            stop_proc(self.proc, timeout=5)

    def client(self, timeout: float = 4.0) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout)


def _replace_text(path: Path, text: str) -> None:
    """Atomically: a node re-reading the file never sees it truncated."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class FaultCluster:
    """`size` nodes, every inter-node link through the proxy process."""

    def __init__(self, root: Path, size: int = 5, extra: list[str] | None = None) -> None:
        self.root = root
        self.nodes = [Node(root, k + 1, list(extra or [])) for k in range(size)]
        self.links = {
            (a.node_id, b.node_id): quiet_port(PROXY_HOST)
            for a in self.nodes for b in self.nodes if a is not b
        }
        for node in self.nodes:
            seeds = [f"{node.node_id}@{node.host}:{node.cluster_port}"]
            seeds += [f"{o.node_id}@{PROXY_HOST}:{self.links[(node.node_id, o.node_id)]}"
                      for o in self.nodes if o is not node]
            node.seeds = ",".join(seeds)
        self.proxy: subprocess.Popen | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultCluster:
        self.proxy = subprocess.Popen(
            [sys.executable, str(HERE / "proxy.py"), PROXY_HOST],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        by_id = {n.node_id: n for n in self.nodes}
        self._proxy({"op": "links", "links": [
            [a, b, port, by_id[b].cluster_port, by_id[b].host]
            for (a, b), port in self.links.items()
        ]})
        for node in self.nodes:
            node.spawn()
        for node in self.nodes:
            node.wait()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGCONT)
            node.signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()
        if self.proxy is not None and self.proxy.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self._proxy({"op": "quit"})
            stop_proc(self.proxy, timeout=5)

    def __enter__(self) -> FaultCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _proxy(self, cmd: dict) -> dict:
        assert self.proxy is not None and self.proxy.stdin and self.proxy.stdout
        self.proxy.stdin.write(json.dumps(cmd) + "\n")
        self.proxy.stdin.flush()
        line = self.proxy.stdout.readline()
        if not line.startswith("ok"):
            raise RuntimeError(f"proxy did not answer {cmd}: {line!r}")
        return json.loads(line[3:] or "{}")

    # -- faults --------------------------------------------------------------------------------

    def set_rules(self, rules: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Replace every link rule ({} heals the network)."""
        self._proxy({"op": "rules", "rules": {f"{a}>{b}": r for (a, b), r in rules.items()}})

    def seed(self, seed: int) -> None:
        self._proxy({"op": "seed", "seed": seed})

    def proxy_stats(self) -> dict:
        return self._proxy({"op": "stats"})

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def kill(self, node_id: str) -> None:
        self.node(node_id).kill()

    def restart(self, node_id: str) -> None:
        node = self.node(node_id)
        node.kill()
        node.spawn()
        node.wait()

    def pause(self, node_id: str) -> None:
        node = self.node(node_id)
        node.signal(signal.SIGSTOP)
        node.paused = True

    def resume(self, node_id: str) -> None:
        node = self.node(node_id)
        node.signal(signal.SIGCONT)
        node.paused = False

    def skew(self, node_id: str, ms: int) -> None:
        """The node's time of day off by `ms` (it re-reads the file every 0.2 s)."""
        _replace_text(self.node(node_id).skew_file, str(ms))

    def disk(self, node_id: str, mode: str) -> None:
        """"" healthy, "eio" failing fsync, "enospc" a full disk (disk/sitecustomize.py)."""
        _replace_text(self.node(node_id).disk_file, mode)

    def heal_all(self) -> None:
        """Network healed, every node running and unskewed (dead nodes restarted)."""
        self.set_rules({})
        for node in self.nodes:
            self.skew(node.node_id, 0)
            self.disk(node.node_id, "")
            if node.paused:
                self.resume(node.node_id)
            if not node.alive():
                node.spawn()
        for node in self.nodes:
            node.wait()

    @property
    def ids(self) -> list[str]:
        return [n.node_id for n in self.nodes]
