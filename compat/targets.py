"""The servers a compat run compares: the reference (Debian's redis-server) and respdyn targets.

A target is a context manager yielding `Target(name, host, port)`. Adding a respdyn topology
(the three-node cluster) is one more entry in `RESPDYN_TARGETS`; every compat test is
parametrised over the available ones through the `respdyn` fixture in conftest.py.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness import RespdynProcess, free_port, redis_server, redis_server_path, respdyn

from compat.resp import RawConnection


@dataclass(frozen=True)
class Target:
    name: str  #: "redis", "respdyn", "respdyn-cluster3"
    host: str
    port: int


@contextlib.contextmanager
def reference(workdir: Path) -> Iterator[Target]:
    with redis_server(workdir) as (host, port):
        yield Target("redis", host, port)


@contextlib.contextmanager
def single_node(workdir: Path) -> Iterator[Target]:
    """One `respdyn serve` process on a free port (fsync no: compat checks replies, not disks)."""
    with respdyn(workdir / "data", "--fsync", "no") as node:
        yield Target("respdyn", node.host, node.port)


def cluster_available() -> bool:
    """`respdyn serve --seeds` landed with the cluster issue; older trees skip the target."""
    out = subprocess.run(
        [sys.executable, "-m", "respdyn", "serve", "--help"],
        capture_output=True, text=True, timeout=30,
    )
    return "--seeds" in out.stdout


@contextlib.contextmanager
def cluster3(workdir: Path) -> Iterator[Target]:
    """Three nodes (N=3, R=W=2) on 127.0.0.1, each seeded with all three cluster addresses as
    `respdyn cluster` does; clients talk to the first node, which coordinates."""
    cluster_ports = [free_port() for _ in range(3)]
    seeds = ",".join(f"node{k}@127.0.0.1:{p}" for k, p in enumerate(cluster_ports, 1))
    nodes = [
        RespdynProcess(workdir / f"node{k}", "--fsync", "no", "--cluster-port", str(port),
                       "--node-id", f"node{k}", "--seeds", seeds)
        for k, port in enumerate(cluster_ports, 1)
    ]
    started: list[RespdynProcess] = []
    try:
        for node in nodes:
            started.append(node.start())
        wait_for_members(nodes[0].host, nodes[0].port, len(nodes))
        yield Target("respdyn-cluster3", nodes[0].host, nodes[0].port)
    finally:
        for node in reversed(started):
            node.stop()


def wait_for_members(host: str, port: int, count: int, timeout: float = 20.0) -> None:
    """Until DYNAMO MEMBERS on the node shows `count` members, all up: before that, replica
    writes could still be on their way and the first comparisons would race the gossip. A
    write per poll makes the node contact its peers (connections are opened on demand)."""
    conn = RawConnection(host, port)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conn.call([b"DEL", b"compat:ready"])
            members, _ = conn.call([b"DYNAMO", b"MEMBERS"])
            states = [m[3] for m in members] if isinstance(members, list) else []
            if len(states) == count and all(s in (b"self", b"up") for s in states):
                return
            time.sleep(0.05)  # polling the membership, not waiting for a result
    finally:
        conn.close()
    raise TimeoutError(f"cluster at {host}:{port} did not show {count} members up")


#: respdyn topologies: name -> (available?, context manager factory)
RESPDYN_TARGETS: dict[str, tuple[Callable[[], bool], Callable[[Path], contextlib.AbstractContextManager[Target]]]] = {  # noqa: E501
    "respdyn": (lambda: True, single_node),
    "respdyn-cluster3": (cluster_available, cluster3),
}


def have_redis() -> bool:
    return redis_server_path() is not None
