"""Partition transfers: after a ring change, the data goes where the new ring says it lives.

Sources: Riak core's handoff (ownership handoff streams a partition from the old owner to the
new one while the vnode keeps serving; the old owner deletes its copy only once the receiver
acknowledged everything) and the Dynamo paper §4.9 (adding/removing nodes moves only the key
ranges that change hands).

Plan. The node compares the ring its data was last placed under (`settled`) with the current
one. For each partition whose preference list (N nodes) held this node before, every node that
joins that list is sent this node's copy of the partition (`push`); a partition whose list no
longer holds this node is dropped afterwards. Every old holder pushes (not only one): the
receiver merges clocks (`dvv.sync`, idempotent), so duplicates cost bandwidth, never data, and
a holder that is down does not stall the handoff.

Order. 1) push every partition (MSTORE batches, throttled to `rate` keys/s per node); 2) wait
until every live member has adopted the new ring (their gossiped ``ring_epoch``), so no
coordinator still sends writes by the old one; 3) push again (catch-up: writes that reached this
node by the old ring during step 1); 4) only then drop the partitions this node no longer holds.
A ring change during any step restarts the plan from `settled`; a receiver that does not answer
is retried every second, and nothing is dropped until it has acknowledged.

Reads and writes go on meanwhile with the new ring: a new replica that has not received its
partition yet answers "no version", which the merge of R replies outvotes (one ring change
adds at most one new node to a preference list). A node that restarts mid-transfer resumes
from its saved ring, so what it had not pushed is left to anti-entropy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import Event

from respdyn.cluster import hints
from respdyn.cluster.gossip import VALID
from respdyn.cluster.ring import Ring

log = logging.getLogger(__name__)

BATCH = 200  #: keys per MSTORE
DEFAULT_RATE = 20000  #: keys per second pushed at most
EPOCH_WAIT_S = 30.0  #: longest wait for the members to adopt a new ring before the catch-up


@dataclass
class Item:
    """One partition going from this node to another (DYNAMO TRANSFERS)."""

    partition: int
    target: str
    state: str = "pending"  #: pending, sending, sent, done, failed
    keys: int = 0


class Transfers:
    """Runs the plan of each ring change in the background."""

    def __init__(self, coordinator: Any, rate: int = DEFAULT_RATE) -> None:
        self.c = coordinator
        self.rate = max(1, rate)
        self.settled: Ring = coordinator.membership.ring
        self.items: list[Item] = []
        self.drops: list[int] = []
        self.dropped = 0  #: partitions dropped since start
        self.completed = 0  #: ring changes settled since start
        self.on_settled: list[Callable[[], None]] = []
        self._wake = Event()
        self._greenlet: gevent.Greenlet | None = None
        coordinator.membership.on_change.append(self._wake.set)

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    @property
    def busy(self) -> bool:
        return self.c.membership.ring != self.settled

    def _run(self) -> None:
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            if not self.busy:
                continue
            try:
                self.settle(self.c.membership.ring)
            except Exception:
                log.exception("partition transfer failed; retrying")

    # -- the plan ------------------------------------------------------------------------------

    def plan(self, old: Ring, new: Ring) -> tuple[list[Item], list[int]]:
        """(pushes, drops) of this node between two rings."""
        me, n = self.c.node_id, self.c.n
        pushes, drops = [], []
        for p in range(new.q):
            before = old.preference_list(p, n)
            if me not in before:
                continue
            after = new.preference_list(p, n)
            pushes += [Item(p, node) for node in after if node not in before and node != me]
            if me not in after:
                drops.append(p)
        return pushes, drops

    def settle(self, ring: Ring) -> bool:
        """Carry out the plan from `settled` to `ring`; False if it must be retried."""
        self.items, self.drops = self.plan(self.settled, ring)
        if self.items:
            log.info("ring epoch %d: pushing %d partition copies, dropping %d partitions",
                     ring.epoch, len(self.items), len(self.drops))
        if not self._push_all(ring):
            return False
        if self.items or self.drops:
            self._await_epoch(ring.epoch)
            if not self._push_all(ring):  # the catch-up
                return False
        if self.c.membership.ring != ring:
            return False
        for partition in self.drops:
            self._drop(ring, partition)
        self._reroute_hints()
        self.settled = ring
        self.completed += 1
        for item in self.items:
            item.state = "done"
        for callback in self.on_settled:
            callback()
        return True

    def _push_all(self, ring: Ring) -> bool:
        for item in self.items:
            if self.c.membership.ring != ring:
                return False  # changed again: start over from `settled`
            if not self.push(ring, item):
                item.state = "failed"
                return False
        return True

    def push(self, ring: Ring, item: Item) -> bool:
        """Send this node's copy of one partition to `item.target`, throttled."""
        item.state, item.keys = "sending", 0
        batch: list[tuple[bytes, bytes]] = []
        for start, end in self.c.keymap.partition_ranges(ring, item.partition):
            for key, clock in self.c.replica.engine.scan(start=start, end=end):
                batch.append((key, clock))
                if len(batch) >= BATCH and not self._send(item, batch):
                    return False
        if batch and not self._send(item, batch):
            return False
        item.state = "sent"
        return True

    def _send(self, item: Item, batch: list[tuple[bytes, bytes]]) -> bool:
        started = time.monotonic()
        reply = self.c.call(item.target, hints.MSTORE, hints.mstore_args(batch))
        if reply is None or not reply.ok:
            log.info("transfer of partition %d to %s interrupted", item.partition, item.target)
            return False
        item.keys += len(batch)
        pause = len(batch) / self.rate - (time.monotonic() - started)
        batch.clear()
        if pause > 0:
            gevent.sleep(pause)
        return True

    def _await_epoch(self, epoch: int) -> None:
        """Until every live member says it runs ring `epoch` (or newer), bounded."""
        membership = self.c.membership
        deadline = time.monotonic() + EPOCH_WAIT_S
        while time.monotonic() < deadline:
            behind = [
                s.node_id for s in membership.members.values()
                if s.status == VALID and s.ring_epoch < epoch and not membership.is_down(s.node_id)
                and s.node_id != self.c.node_id
            ]
            if not behind:
                return
            gevent.sleep(membership.interval / 2)
        log.warning("members still behind ring epoch %d after %.0f s", epoch, EPOCH_WAIT_S)

    def _drop(self, ring: Ring, partition: int) -> None:
        """Delete this node's copy of `partition`: only the ranges that hold keys (a joining
        node drops every partition of its placeholder ring, all empty, and a range deletion is
        a record in the log and a rebuild of the partition's Merkle tree)."""
        engine = self.c.replica.engine
        for start, end in self.c.keymap.partition_ranges(ring, partition):
            if next(iter(engine.scan(start=start, end=end)), None) is not None:
                self.c.replica.delete_range(start, end)
        self.dropped += 1

    def _reroute_hints(self) -> None:
        """Hints for members that left or were removed go to the keys' current replicas."""
        gone = [t for t in self.c.hints.backlogs if t not in self.c.membership.members]
        for target in gone:
            self.c.reroute_hints(target)
