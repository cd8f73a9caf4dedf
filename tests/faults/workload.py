"""Concurrent clients with unique values, every operation recorded with its outcome.

Each client is a thread with redis-py connections to every node (no retries: a retried write
would hide its outcome). Before each operation it picks a node at random (a node that is down
or paused simply fails or times out that operation). Outcomes: "ok" (acknowledged), "fail"
(refused: NOQUORUM, connection refused before sending) or "unknown" (timeout, connection lost
mid-request: the write may or may not have happened, now or later).
"""

from __future__ import annotations

import errno
import random
import threading
import time
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.faults.checker import FAIL, OK, UNKNOWN, Op, cart_elements

#: a forwarded write may try 3 replicas for 2 x cluster timeout each: wait longer than that
CLIENT_TIMEOUT_S = 8.0


@dataclass
class Mix:
    carts: int = 6  #: shared cart keys
    registers: int = 12  #: register keys per client (few writes each: a last write is often
    #: the only one after a fault)
    deletes: int = 2  #: SET/DEL keys per client
    p_cart: float = 0.4
    p_register: float = 0.35  #: the rest go to the SET/DEL keys
    pause_s: float = 0.01  #: think time between a client's operations


def connect(host: str, port: int) -> redis.Redis:
    return redis.Redis(host=host, port=port, socket_timeout=CLIENT_TIMEOUT_S,
                       socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0))


def _refused(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, ConnectionRefusedError) or (
        isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
    ) or "Connection refused" in str(exc)


class Client(threading.Thread):
    def __init__(self, index: int, nodes: list[tuple[str, str, int]], mix: Mix, seed: int,
                 stop: threading.Event, history: list[Op], lock: threading.Lock) -> None:
        super().__init__(name=f"faults-client-{index}", daemon=True)
        self.index = index
        self.nodes = nodes
        self.mix = mix
        self.rng = random.Random(seed * 1000 + index)
        self.stop_event = stop
        self.history = history
        self.lock = lock
        self.conns: dict[str, redis.Redis] = {}
        self.seq = 0

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.step()
                time.sleep(self.mix.pause_s)
            self.final_round()
        finally:
            for conn in self.conns.values():
                conn.close()

    def fresh(self) -> str:
        self.seq += 1
        return f"c{self.index}.{self.seq}"

    def step(self) -> None:
        node_id, host, port = self.rng.choice(self.nodes)
        conn = self.conns.get(node_id)
        if conn is None:
            conn = self.conns[node_id] = connect(host, port)
        roll, mix = self.rng.random(), self.mix
        if roll < mix.p_cart:
            self.cart_add(conn, node_id, f"cart:{self.rng.randrange(mix.carts)}")
        elif roll < mix.p_cart + mix.p_register:
            key = f"reg:{self.index}.{self.rng.randrange(mix.registers)}"
            op = Op(self.index, "set", key, self.fresh(), 0.0, node=node_id)
            self.record(op, lambda op: conn.set(op.key, op.value))
            if op.outcome == OK:
                self.read_back(conn, op)
        else:
            key = f"del:{self.index}.{self.rng.randrange(mix.deletes)}"
            if self.rng.random() < 0.5:
                self.record(Op(self.index, "set", key, self.fresh(), 0.0, node=node_id),
                            lambda op: conn.set(op.key, op.value))
            else:
                self.record(Op(self.index, "del", key, "", 0.0, node=node_id),
                            lambda op: conn.delete(op.key))

    def read_back(self, conn: redis.Redis, op: Op) -> None:
        """Read an acknowledged write back at once (R = 2), and if that misses it, with R = N.
        A sloppy quorum breaks W + R > N: W may count a stand-in's hint, so a quorum read can
        miss an acknowledged write that is safe (found by skew+partition, seed 2). The write's
        coordinating replica is always in the preference list and stored it, so only a read of
        every replica that misses it is evidence (`seen`); a failed read proves nothing."""
        try:
            _, siblings = conn.execute_command("SIBLINGS", op.key)
            if op.value.encode() in siblings:
                op.seen = True
                return
            op.quorum_missed = True
            conn.execute_command("CONSISTENCY", "ALL")
            try:
                _, siblings = conn.execute_command("SIBLINGS", op.key)
            finally:
                conn.execute_command("CONSISTENCY", "DEFAULT")
        except redis.RedisError:
            self.conns.pop(op.node, None)
            return
        op.seen = op.value.encode() in siblings

    def final_round(self) -> None:
        """One last SET of each of this client's keys, right after the schedule's last step:
        a write lost just after a fault is then the key's last write, which the checker can
        hold to account (earlier ones may be superseded)."""
        keys = [f"reg:{self.index}.{k}" for k in range(self.mix.registers)]
        keys += [f"del:{self.index}.{k}" for k in range(self.mix.deletes)]
        for key in keys:
            node_id, host, port = self.rng.choice(self.nodes)
            conn = self.conns.get(node_id) or self.conns.setdefault(node_id, connect(host, port))
            self.record(Op(self.index, "set", key, self.fresh(), 0.0, node=node_id),
                        lambda op, conn=conn: conn.set(op.key, op.value))

    def cart_add(self, conn: redis.Redis, node_id: str, key: str) -> None:
        """Read every sibling, merge (union), add a fresh element, write with the context."""
        op = Op(self.index, "add", key, self.fresh(), 0.0, node=node_id)

        def apply(op: Op) -> None:
            token, siblings = conn.execute_command("SIBLINGS", op.key)
            op.kind = "add"  # the read succeeded: from here the outcome is the RESOLVE's
            elements = cart_elements(siblings) | {op.value}
            conn.execute_command("RESOLVE", op.key, token, ",".join(sorted(elements)))

        op.kind = "read"  # a failed read writes nothing
        self.record(op, apply)
        if op.kind == "read":
            op.kind = "noread"  # nothing was written: not part of the history

    def record(self, op: Op, apply) -> None:
        op.start = time.monotonic()
        try:
            apply(op)
            op.outcome = OK
        except redis.ResponseError as exc:
            op.outcome, op.error = FAIL, str(exc)[:80]
        except (redis.TimeoutError, redis.ConnectionError) as exc:
            op.outcome = FAIL if _refused(exc) else UNKNOWN
            op.error = type(exc).__name__
            self.conns.pop(op.node, None)
        op.end = time.monotonic()
        if op.outcome == UNKNOWN:
            op.end = float("inf") if op.kind != "read" else op.end
        with self.lock:
            self.history.append(op)


class Workload:
    """Start `clients` threads; `stop()` joins them and returns the history."""

    def __init__(self, nodes: list[tuple[str, str, int]], clients: int, seed: int,
                 mix: Mix | None = None) -> None:
        self.stop_event = threading.Event()
        self.history: list[Op] = []
        self.lock = threading.Lock()
        self.threads = [
            Client(k, nodes, mix or Mix(), seed, self.stop_event, self.history, self.lock)
            for k in range(clients)
        ]

    def start(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> list[Op]:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT_S + 5)
        with self.lock:
            return [op for op in self.history if op.kind in ("add", "set", "del")]


__all__ = ["FAIL", "OK", "UNKNOWN", "Mix", "Workload"]
