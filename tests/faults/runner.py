"""One fault run: a fresh 5-node cluster (N=3, R=2, W=2) behind the proxy mesh, the workload
under a schedule, heal, convergence (bounded, pluggable), then the history check.

Convergence is whatever the cluster offers (`CONVERGE`): `repair` asks every node for
`DYNAMO REPAIR` (Merkle anti-entropy against every live replica), `read-repair` reads every key
with CONSISTENCY ALL (the coordinator sends the merge to each replica that differed), `both`
does one then the other; hints drain on their own meanwhile. Agreement is exact: each replica
of each key (`DYNAMO PREFLIST`) is asked for its own stored clock (`DYNAMO CLOCK`), and the
replicas agree when the encoded clocks are equal bytes: values, timestamps, coordinators, the
dots of tombstones and value-less entries alike. A transient difference (a read repair or a
hint still in flight) is retried until the bound; the time from the heal to agreement is the
convergence figure.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.faults.checker import Final, Op, check
from tests.faults.cluster import FaultCluster, Node
from tests.faults.schedules import SCHEDULES, Step
from tests.faults.workload import Mix, Workload, connect

CONVERGENCE_LIMIT_S = 60.0
Converge = Callable[[FaultCluster, list[str]], None]


@dataclass
class Result:
    schedule: str
    seed: int
    policy: str
    how: str = "repair"  #: convergence method (CONVERGE)
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
    hints_left: int = 0  #: hinted keys still held on all nodes once the replicas agreed
    quorum_misses: int = 0  #: acknowledged SETs an R = 2 read right after missed (R = N saw)
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


def _admin(node: Node) -> redis.Redis:
    """A client for the slow admin commands (a REPAIR waits up to 30 s for Merkle trees)."""
    return redis.Redis(host=node.host, port=node.port, socket_timeout=CONVERGENCE_LIMIT_S,
                       socket_connect_timeout=2.0)


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
    """Anti-entropy: DYNAMO REPAIR on every node at once (each exchanges all its partitions
    with every live replica); `keys` is not needed, the Merkle trees find the differences."""
    def repair(node: Node) -> None:
        c = _admin(node)
        try:
            with contextlib.suppress(redis.RedisError):  # the agreement check counts it
                c.execute_command("DYNAMO", "REPAIR")
        finally:
            c.close()

    threads = [threading.Thread(target=repair, args=(n,)) for n in cluster.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def repair_then_read(cluster: FaultCluster, keys: list[str]) -> None:
    dynamo_repair(cluster, keys)
    read_repair_all(cluster, keys)


CONVERGE: dict[str, Converge] = {
    "repair": dynamo_repair, "read-repair": read_repair_all, "both": repair_then_read,
}


def replica_clocks(cluster: FaultCluster, keys: list[str]) -> dict[str, dict[str, object]]:
    """Each key's replicas (DYNAMO PREFLIST) -> that replica's own stored clock (DYNAMO CLOCK,
    encoded bytes or None), asked of the replica itself; an error in place of a clock if the
    replica could not answer."""
    first = _admin(cluster.nodes[0])
    try:
        pipe = first.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("DYNAMO", "PREFLIST", key)
        prefs = {key: [p.decode() for p in pl] for key, pl in zip(keys, pipe.execute(),
                                                                      strict=True)}
    finally:
        first.close()
    views: dict[str, dict[str, object]] = {key: {} for key in keys}
    for node in cluster.nodes:
        mine = [key for key in keys if node.node_id in prefs[key]]
        c = _admin(node)
        try:
            pipe = c.pipeline(transaction=False)
            for key in mine:
                pipe.execute_command("DYNAMO", "CLOCK", key)
            answers: list[object] = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            answers = [exc] * len(mine)
        finally:
            c.close()
        for key, answer in zip(mine, answers, strict=True):
            views[key][node.node_id] = (
                f"error: {answer}" if isinstance(answer, Exception) else answer)
    return views


def diverged_keys(cluster: FaultCluster, keys: list[str]) -> list[str]:
    """Keys whose replicas do not hold byte-identical clocks (or did not all answer)."""
    try:
        views = replica_clocks(cluster, keys)
    except redis.RedisError:
        return list(keys)
    return [key for key, view in views.items()
            if len(set(map(repr, view.values()))) > 1
            or any(isinstance(v, str) for v in view.values())]


def converge(cluster: FaultCluster, keys: list[str], how: Converge) -> tuple[bool, float,
                                                                             list[str]]:
    """Repair with `how` until every replica of every key holds the same clock, at most
    CONVERGENCE_LIMIT_S: (agreed, seconds, keys still diverged)."""
    started = time.monotonic()
    pending = list(keys)
    while True:
        how(cluster, pending)
        pending = diverged_keys(cluster, pending)
        elapsed = time.monotonic() - started
        if not pending or elapsed > CONVERGENCE_LIMIT_S:
            return not pending, elapsed, pending
        time.sleep(0.2)


def hint_keys(cluster: FaultCluster) -> int:
    """Hinted keys the nodes still hold (INFO cluster: cluster_hints_keys), -1 if unknown."""
    total = 0
    for node in cluster.nodes:
        c = connect(node.host, node.port)
        try:
            total += int(c.info("cluster").get("cluster_hints_keys", 0))
        except redis.RedisError:
            return -1
        finally:
            c.close()
    return total


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
        clients: int = 5, root: Path | None = None, how: str = "repair",
        extra: tuple[str, ...] = ()) -> Result:
    """One schedule with one seed; returns the figures (and the evidence in the lists).
    `how`: the convergence method, a key of CONVERGE."""
    root = root or Path(tempfile.mkdtemp(prefix="faults-"))
    result = Result(schedule, seed, policy, how)
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
        result.converged, result.convergence_s, result.diverged = converge(
            cluster, keys, CONVERGE[how])
        result.hints_left = hint_keys(cluster)
        _judge(result, history, final_state(cluster, keys))
    return result


def _judge(result: Result, history: list[Op], finals: dict[str, Final]) -> None:
    verdict = check(history, finals)
    result.history, result.finals = history, finals
    result.cart_acked = sum(op.kind == "add" and op.outcome == "ok" for op in history)
    result.quorum_misses = sum(op.quorum_missed and op.seen is True for op in history)
    result.ops, result.acked = verdict.ops, verdict.acked
    result.lost, result.phantom = verdict.lost, verdict.phantom
    result.resurrected = verdict.resurrected
