"""Fault schedules: what happens to the cluster, and when, during a run.

A schedule turns (seed-driven rng, node ids, duration) into timed steps. Faults alternate with
healed intervals (Jepsen's nemesis cycle) so that writes are made both during and between
faults; the runner heals everything at the end whatever the schedule did.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.cluster import FaultCluster

Action = Callable[[FaultCluster], None]
Rules = dict[tuple[str, str], dict]


@dataclass
class Step:
    at: float  #: seconds after the workload started
    label: str
    action: Action


def cut_between(groups: list[list[str]]) -> Rules:
    """Every link between different groups cut, both ways."""
    rules: Rules = {}
    for i, a_group in enumerate(groups):
        for j, b_group in enumerate(groups):
            if i != j:
                rules.update({(a, b): {"cut": True} for a in a_group for b in b_group})
    return rules


def ring_rules(ids: list[str]) -> Rules:
    """Each node reaches only its two neighbours in a ring."""
    k = len(ids)
    near = {(ids[i], ids[(i + d) % k]) for i in range(k) for d in (1, -1)}
    return {(a, b): {"cut": True} for a in ids for b in ids if a != b and (a, b) not in near}


def bridge_rules(ids: list[str]) -> Rules:
    """Two halves that only one node (the bridge) reaches both of."""
    left, bridge, right = ids[:2], ids[2], ids[3:]
    del bridge
    return cut_between([left, right])


def _net(rules: Rules) -> Action:
    return lambda c: c.set_rules(rules)


def _heal(c: FaultCluster) -> None:
    c.set_rules({})


def _cycle(duration: float, fault: Callable[[int], tuple[str, Action, Action]]) -> list[Step]:
    """Fault on for a quarter of the run, off for a quarter, twice."""
    quarter = duration / 4
    steps = []
    for k in range(2):
        label, on, off = fault(k)
        steps.append(Step(0.5 + 2 * k * quarter, label, on))
        steps.append(Step(0.5 + (2 * k + 1) * quarter, "heal", off))
    return steps


def _shuffled(rng: random.Random, ids: list[str]) -> list[str]:
    out = list(ids)
    rng.shuffle(out)
    return out


def none(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    return []


def isolate_one(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    def fault(_k: int) -> tuple[str, Action, Action]:
        x = rng.choice(ids)
        return f"isolate {x}", _net(cut_between([[x], [i for i in ids if i != x]])), _heal
    return _cycle(d, fault)


def majority_minority(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    def fault(_k: int) -> tuple[str, Action, Action]:
        order = _shuffled(rng, ids)
        minority, majority = order[:2], order[2:]
        return (f"split {minority}|{majority}", _net(cut_between([minority, majority])), _heal)
    return _cycle(d, fault)


def bridge(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    def fault(_k: int) -> tuple[str, Action, Action]:
        order = _shuffled(rng, ids)
        return f"bridge via {order[2]}", _net(bridge_rules(order)), _heal
    return _cycle(d, fault)


def ring(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    def fault(_k: int) -> tuple[str, Action, Action]:
        order = _shuffled(rng, ids)
        return f"ring {order}", _net(ring_rules(order)), _heal
    return _cycle(d, fault)


def one_way(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    """Directed cuts: a node hears the others but cannot be heard (and the reverse)."""
    def fault(k: int) -> tuple[str, Action, Action]:
        x = rng.choice(ids)
        if k % 2 == 0:
            rules = {(x, o): {"cut": True} for o in ids if o != x}
            return f"{x} mute", _net(rules), _heal
        rules = {(o, x): {"cut": True} for o in ids if o != x}
        return f"{x} deaf", _net(rules), _heal
    return _cycle(d, fault)


def flaky(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    """Every link delays 20-400 ms and loses 3% of frames (each loss resets the connection)."""
    def fault(_k: int) -> tuple[str, Action, Action]:
        rules = {(a, b): {"delay": [20, 400], "drop": 0.03} for a in ids for b in ids if a != b}
        return "delay 20-400ms, drop 3%", _net(rules), _heal
    return _cycle(d, fault)


def kill_restart(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    """SIGKILL a node, restart it later (its unsynced WAL tail is lost); the second restart
    ends the run, so the workload's final round of writes is the restarted node's first
    (where a reissued dot shows)."""
    x, y = rng.choice(ids), rng.choice(ids)
    return [
        Step(0.5, f"kill -9 {x}", lambda c: c.kill(x)),
        Step(0.25 * d, f"restart {x}", lambda c: c.restart(x)),
        Step(0.6 * d, f"kill -9 {y}", lambda c: c.kill(y)),
        Step(d - 0.5, f"restart {y}", lambda c: c.restart(y)),
    ]


def pause(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    def fault(_k: int) -> tuple[str, Action, Action]:
        x = rng.choice(ids)
        return f"SIGSTOP {x}", lambda c: c.pause(x), lambda c: c.resume(x)
    return _cycle(d, fault)


def skew_partition(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    """Clocks off by +-10 s..2 min on two nodes, with the cluster split between them."""
    def fault(_k: int) -> tuple[str, Action, Action]:
        order = _shuffled(rng, ids)
        fast, slow = order[0], order[1]
        ahead, behind = rng.randint(10, 120) * 1000, -rng.randint(10, 120) * 1000
        groups = [[fast, order[2]], [slow, *order[3:]]]

        def on(c: FaultCluster) -> None:
            c.skew(fast, ahead)
            c.skew(slow, behind)
            c.set_rules(cut_between(groups))

        def off(c: FaultCluster) -> None:
            c.set_rules({})  # the skew stays until the end of the run

        return f"skew {fast}+{ahead}ms {slow}{behind}ms, split {groups}", on, off
    return _cycle(d, fault)


def disk(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    """A node whose fsync fails (EIO), then another whose disk is full (ENOSPC). The engine
    refuses every write after a failed sync until it is reopened (by design, as Redis'
    MISCONF), so the heal is what an operator does: fix the disk, restart the node."""
    def fault(k: int) -> tuple[str, Action, Action]:
        x, mode = rng.choice(ids), ("eio", "enospc")[k % 2]

        def heal(c: FaultCluster) -> None:
            c.disk(x, "")
            c.restart(x)

        return f"disk {mode} on {x}", lambda c: c.disk(x, mode), heal
    return _cycle(d, fault)


def mixed(rng: random.Random, ids: list[str], d: float) -> list[Step]:
    """Random faults from every family above, one after another."""
    families = [isolate_one, majority_minority, bridge, ring, one_way, flaky, kill_restart,
                pause, skew_partition]
    steps: list[Step] = []
    for k, family in enumerate(rng.sample(families, 2)):
        part = family(rng, ids, d / 2)[:2]
        steps += [Step(s.at + k * d / 2, s.label, s.action) for s in part]
    return steps


SCHEDULES: dict[str, Callable[[random.Random, list[str], float], list[Step]]] = {
    "none": none,
    "isolate-one": isolate_one,
    "majority-minority": majority_minority,
    "bridge": bridge,
    "ring": ring,
    "one-way": one_way,
    "flaky-links": flaky,
    "kill-restart": kill_restart,
    "pause": pause,
    "skew+partition": skew_partition,
    "disk": disk,
    "mixed": mixed,
}
