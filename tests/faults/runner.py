"""One fault run: a fresh 5-node cluster (N=3, R=2, W=2) behind the proxy mesh, the workload
under a schedule, heal, convergence (bounded, pluggable), then the history check.

Convergence is whatever the cluster offers: today a read of every key with CONSISTENCY ALL
(read repair); `dynamo_repair` is ready for the next issue's `DYNAMO REPAIR`. Agreement of the
replicas is checked through a per-replica view: SIBLINGS WITHMETA asked of each replica with
R = 1, which the coordinator answers from its own engine (it adds its local read before any
peer can answer). The view shows the context (the join of the clock) and the live values with
timestamps and coordinators; two replicas agreeing on it hold the same versions as far as a
client can tell (a raw-clock admin command would make this exact: see docs/consistency.md).
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.faults.checker import Final, Op, check
from tests.faults.cluster import FaultCluster
from tests.faults.schedules import SCHEDULES, Step
from tests.faults.workload import Mix, Workload, connect

CONVERGENCE_LIMIT_S = 60.0
Converge = Callable[[FaultCluster, list[str]], None]


@dataclass
class Result:
    schedule: str
    seed: int
    policy: str
    ops: int = 0
    acked: int = 0
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)
    converged: bool = False
    convergence_s: float = 0.0
    diverged: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    cart_acked: int = 0  #: acknowledged cart adds (Jepsen's measure of loss is over these)
    history: list[Op] = field(default_factory=list, repr=False)
    finals: dict[str, Final] = field(default_factory=dict, repr=False)

    def row(self) -> str:
        conv = f"{self.convergence_s:.1f}" if self.converged else f">{self.convergence_s:.0f}!"
        return (f"| {self.schedule} | {self.seed} | {self.policy} | {self.ops} | {self.acked} | "
                f"{len(self.lost)} | {len(self.phantom)} | {len(self.resurrected)} | {conv} |")

    @property
    def cart_lost(self) -> int:
        return sum(item.startswith("cart:") for item in self.lost)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.phantom or self.resurrected) and self.converged


HEADER = ("| schedule | seed | policy | operations | acknowledged | lost | phantom | resurrected "
          "| convergence s |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def read_repair_all(cluster: FaultCluster, keys: list[str]) -> None:
    """Read every key with R = N through rotating nodes: differing replicas get repaired."""
    clients = [connect(n.host, n.port) for n in cluster.nodes]
    try:
        for c in clients:
            c.execute_command("CONSISTENCY", "ALL")
        for i, key in enumerate(keys):
            with contextlib.suppress(redis.RedisError):  # the agreement check counts it
                clients[i % len(clients)].execute_command("SIBLINGS", key)
    finally:
        for c in clients:
            c.close()


def dynamo_repair(cluster: FaultCluster, keys: list[str]) -> None:
    """For the next issue's anti-entropy: ask every node to repair, then read-repair."""
    for node in cluster.nodes:
        with contextlib.suppress(redis.RedisError):
            connect(node.host, node.port).execute_command("DYNAMO", "REPAIR")
    read_repair_all(cluster, keys)


def replica_views(cluster: FaultCluster, key: str) -> dict[str, object]:
    """What each replica of `key` holds, read with R = 1 from the replica itself."""
    first = cluster.nodes[0]
    prefs = [p.decode() for p in connect(first.host, first.port).execute_command(
        "DYNAMO", "PREFLIST", key)]
    views = {}
    for node_id in prefs:
        node = cluster.node(node_id)
        c = connect(node.host, node.port)
        try:
            c.execute_command("CONSISTENCY", "1", "1")
            token, siblings = c.execute_command("SIBLINGS", key, "WITHMETA")
            views[node_id] = (token, sorted(map(repr, siblings)))
        finally:
            c.close()
    return views


def diverged_keys(cluster: FaultCluster, keys: list[str]) -> list[str]:
    out = []
    for key in keys:
        try:
            views = replica_views(cluster, key)
        except redis.RedisError:
            out.append(key)
            continue
        if len(set(map(repr, views.values()))) > 1:
            out.append(key)
    return out


def converge(cluster: FaultCluster, keys: list[str], how: Converge) -> tuple[bool, float,
                                                                             list[str]]:
    started = time.monotonic()
    pending = list(keys)
    while True:
        how(cluster, pending)
        pending = diverged_keys(cluster, pending)
        elapsed = time.monotonic() - started
        if not pending or elapsed > CONVERGENCE_LIMIT_S:
            return not pending, elapsed, pending
        time.sleep(0.2)


def final_state(cluster: FaultCluster, keys: list[str]) -> dict[str, Final]:
    """Every key read with R = N (retried through other nodes; R = 2 as a last resort, for a
    key whose replicas did not all answer: the agreement check has already flagged it)."""
    clients = [connect(n.host, n.port) for n in cluster.nodes]
    try:
        finals = {}
        for i, key in enumerate(keys):
            finals[key] = _read_final(clients[i % len(clients):] + clients[:i % len(clients)],
                                      key)
        return finals
    finally:
        for c in clients:
            c.close()


def _read_final(clients: list[redis.Redis], key: str) -> Final:
    error: Exception | None = None
    for level in ("ALL", "ALL", "QUORUM"):
        for c in clients:
            try:
                c.execute_command("CONSISTENCY", level)
                _, siblings = c.execute_command("SIBLINGS", key)
                return Final(list(siblings), c.get(key))
            except redis.RedisError as exc:
                error = exc
    raise RuntimeError(f"cannot read {key} after convergence: {error}")


def _run_steps(cluster: FaultCluster, steps: list[Step], t0: float, log: list[str]) -> None:
    for step in sorted(steps, key=lambda s: s.at):
        wait = t0 + step.at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        step.action(cluster)
        log.append(f"{step.at:.1f}s {step.label}")


def run(schedule: str, seed: int, policy: str = "siblings", duration: float = 12.0,
        clients: int = 5, root: Path | None = None, how: Converge = read_repair_all,
        extra: tuple[str, ...] = ()) -> Result:
    """One schedule with one seed; returns the figures (and the evidence in the lists)."""
    root = root or Path(tempfile.mkdtemp(prefix="faults-"))
    result = Result(schedule, seed, policy)
    rng = random.Random(seed)
    args = ["--n", "3", "--r", "2", "--w", "2", "--cluster-timeout-ms", "1000",
            "--conflict-policy", policy, *extra]
    with FaultCluster(root / f"{schedule}-{seed}-{policy}", 5, args) as cluster:
        cluster.seed(seed)
        steps = SCHEDULES[schedule](rng, cluster.ids, duration)
        nodes = [(n.node_id, n.host, n.port) for n in cluster.nodes]
        workload = Workload(nodes, clients, seed, Mix()).start()
        t0 = time.monotonic()
        try:
            _run_steps(cluster, steps, t0, result.steps)
            time.sleep(max(0.0, t0 + duration - time.monotonic()))
        finally:
            history = workload.stop()
            cluster.heal_all()
        keys = sorted({op.key for op in history})
        result.converged, result.convergence_s, result.diverged = converge(cluster, keys, how)
        _judge(result, history, final_state(cluster, keys))
    return result


def _judge(result: Result, history: list[Op], finals: dict[str, Final]) -> None:
    verdict = check(history, finals)
    result.history, result.finals = history, finals
    result.cart_acked = sum(op.kind == "add" and op.outcome == "ok" for op in history)
    result.ops, result.acked = verdict.ops, verdict.acked
    result.lost, result.phantom = verdict.lost, verdict.phantom
    result.resurrected = verdict.resurrected
