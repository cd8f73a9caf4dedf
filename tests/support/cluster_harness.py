"""Real respdyn clusters for tests and benchmarks: node processes on 127.0.0.1, started in
parallel, each seeded with every member as `node_id@host:port` (so every node knows the whole
ring from the start), always stopped by PID."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import redis
from harness import RespdynProcess, quiet_port, stop, wait_until_serving


class Cluster:
    """`size` nodes named node1..nodeK; `extra` goes to every `respdyn serve`."""

    def __init__(
        self, root: Path, size: int, *extra: str, debug: bool = True, timeout_ms: int = 3000,
        secret: str | None = None,
    ) -> None:
        """`timeout_ms` is the quorum wait: generous, because a loaded test machine can stall a
        process for a second; a dead peer fails at once whatever it is. `secret`: the cluster
        secret every node proves on connect (None: none, the port stays on loopback)."""
        self.secret = secret
        self.root = root
        self.common = [
            "--fsync", "no", "--cluster-timeout-ms", str(timeout_ms),
            *(["--enable-debug-commands"] if debug else []),
            *(["--cluster-secret", secret] if secret is not None else []), *extra,
        ]
        cluster_ports = [quiet_port() for _ in range(size)]
        self.cluster_ports = cluster_ports
        seeds = ",".join(f"node{k + 1}@127.0.0.1:{p}" for k, p in enumerate(cluster_ports))
        self.nodes = [
            RespdynProcess(
                root / f"node{k + 1}" / "data",
                "--node-id", f"node{k + 1}", "--cluster-port", str(cluster_ports[k]),
                "--seeds", seeds, *self.common,
            )
            for k in range(size)
        ]
        for node in self.nodes:
            node.port = quiet_port()
            node.data_dir.parent.mkdir(parents=True, exist_ok=True)

    def start(self) -> Cluster:
        """Spawn every node, then wait for each (startup overlaps)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESPDYN_")}
        for node in self.nodes:
            with open(node.log, "ab") as log:
                node.proc = subprocess.Popen(node.argv, stdout=log, stderr=log, env=env)
        for node in self.nodes:
            wait_until_serving(node.proc, node.host, node.port, node.log)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is not None:
                stop(node.proc)

    def client(self, k: int, **kw) -> redis.Redis:
        """A redis-py client of node k (1-based, as the node ids)."""
        node = self.nodes[k - 1]
        return redis.Redis(host=node.host, port=node.port, socket_timeout=10, **kw)

    def kill(self, k: int) -> None:
        self.nodes[k - 1].kill()

    def restart(self, k: int) -> None:
        """Start node k again (same ports, same data directory) after a kill or a stop."""
        self.nodes[k - 1].restart()

    def add_node(self, seed: int = 1, *extra: str) -> int:
        """Start one more node that joins through node `seed`'s cluster address, given as a
        plain host:port seed as an operator would; returns its number."""
        k = len(self.nodes) + 1
        port = quiet_port()
        node = RespdynProcess(
            self.root / f"node{k}" / "data", "--node-id", f"node{k}", "--cluster-port",
            str(port), "--seeds", f"127.0.0.1:{self.cluster_ports[seed - 1]}", *self.common,
            *extra,
        )
        node.port = quiet_port()
        node.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.nodes.append(node)
        self.cluster_ports.append(port)
        node.start()
        return k

    def __len__(self) -> int:
        return len(self.nodes)
