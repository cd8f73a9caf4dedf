"""Hinted handoff: writes kept for a replica that is down, delivered when it is back.

Sources: the Dynamo paper §4.6 (sloppy quorum: a write meant for a down node goes to the next
healthy node on the ring with a hint naming the intended owner, and is handed back when the
owner recovers); Cassandra's hints (a maximum hint window, 3 hours by default, and a throttle on
delivery so a returning node is not flooded); Riak's fallback vnodes (hints live apart from the
stand-in's own data, so they never pollute its primaries).

Storage. Hints live in the node's engine under their own prefix, so they survive a restart and
never show up in the data ranges (KEYS, SCAN, partition scans and Merkle trees see only "k")::

    hint key   := "h" target_length: u8, target: utf-8, raw_key      (do not change the prefix)
    hint value := created_ms: u64be, encoded clock (dvv)

A second hint for the same (target, key) merges into the first (`dvv.sync`), so a key written a
thousand times while its replica was down is one hint. Bounds: a hint older than `max_age_ms`
(default 3 h, as Cassandra) is dropped instead of delivered — past that, anti-entropy is the way
back; a target's backlog is capped at `budget_bytes` (a refused hint is a failed replica write,
which the coordinator counts against W).

Delivery. `Handoff` wakes every `period` s; for each target with a backlog that the failure
detector thinks is up, it sends the hints in batches (MSTORE: the replica merges each clock,
idempotent), deletes each delivered hint unless it changed meanwhile, and sleeps between
batches so that at most `rate` keys per second reach the target.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import Event

from respdyn.clock import now_ms as wall_ms
from respdyn.cluster import dvv
from respdyn.cluster import messages as m

log = logging.getLogger(__name__)

#: inter-node ops of this module
HINT = m.register(b"HINT", 3)  #: target, raw_key, clock -> -      (keep a hint for `target`)
MSTORE = m.register(b"MSTORE", -2)  #: (raw_key, clock)... -> -   (merge each, like STORE)

PREFIX = b"h"
_END = b"i"  # PREFIX + 1: the end of every hint
_CREATED = struct.Struct(">Q")
DEFAULT_MAX_AGE_MS = 3 * 3600 * 1000
DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024
DEFAULT_RATE = 2000  #: keys per second delivered to one target
BATCH = 100  #: hints per MSTORE


def hint_key(target: str, raw_key: bytes) -> bytes:
    name = target.encode()
    return PREFIX + bytes([len(name)]) + name + raw_key


def split_hint_key(key: bytes) -> tuple[str, bytes]:
    length = key[1]
    return key[2 : 2 + length].decode(), key[2 + length :]


def target_range(target: str) -> tuple[bytes, bytes]:
    start = hint_key(target, b"")
    return start, start[:-1] + bytes([start[-1] + 1])


@dataclass
class Backlog:
    """One target's waiting hints (INFO, DYNAMO HINTS)."""

    keys: int = 0
    bytes: int = 0
    delivered: int = 0
    expired: int = 0
    refused: int = 0  #: hints not taken because the budget was full


class HintStore:
    """The durable hints this node holds for others."""

    def __init__(
        self,
        engine: Any,
        max_age_ms: int = DEFAULT_MAX_AGE_MS,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.engine = engine
        self.max_age_ms = max_age_ms
        self.budget_bytes = budget_bytes
        self.now_ms = now_ms
        self.backlogs: dict[str, Backlog] = {}
        self._load()

    def _load(self) -> None:
        """Count what a previous run left (hints are few: one per key and target)."""
        for key, value in self.engine.scan(start=PREFIX, end=_END):
            target, _ = split_hint_key(key)
            backlog = self._backlog(target)
            backlog.keys += 1
            backlog.bytes += len(key) + len(value)

    def _backlog(self, target: str) -> Backlog:
        backlog = self.backlogs.get(target)
        if backlog is None:
            backlog = self.backlogs[target] = Backlog()
        return backlog

    def add(self, target: str, raw_key: bytes, clock: bytes) -> bool:
        """Keep `clock` for `target` (merged with a hint already held); False if the target's
        budget is spent. No yield between the read and the write: hints of one key cannot
        interleave (engine calls are direct here, never offloaded)."""
        key = hint_key(target, raw_key)
        backlog = self._backlog(target)
        old = self.engine.get(key)
        if old is not None:
            clock = dvv.encode(dvv.sync(dvv.decode(old[_CREATED.size :]), dvv.decode(clock)))
        value = _CREATED.pack(self.now_ms()) + clock
        grown = len(value) - (len(old) if old is not None else -len(key))
        if backlog.bytes + grown > self.budget_bytes and grown > 0:
            backlog.refused += 1
            return False
        self.engine.put(key, value)
        backlog.bytes += grown
        backlog.keys += old is None
        return True

    def pending(self, target: str, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        """Up to `limit` (hint key, raw key, value) for `target`; expired ones are dropped."""
        start, end = target_range(target)
        out: list[tuple[bytes, bytes, bytes]] = []
        oldest = self.now_ms() - self.max_age_ms
        for key, value in self.engine.scan(start=start, end=end):
            if _CREATED.unpack_from(value, 0)[0] < oldest:
                self._forget(target, key, value)
                self._backlog(target).expired += 1
                continue
            out.append((key, split_hint_key(key)[1], value))
            if len(out) >= limit:
                break
        return out

    def delivered(self, target: str, key: bytes, value: bytes) -> None:
        """The target acknowledged `value`: drop the hint unless a newer one replaced it."""
        if self.engine.get(key) == value:
            self._forget(target, key, value)
            self._backlog(target).delivered += 1

    def _forget(self, target: str, key: bytes, value: bytes) -> None:
        self.engine.delete(key)
        backlog = self._backlog(target)
        backlog.keys -= 1
        backlog.bytes -= len(key) + len(value)

    def oldest_ms(self, target: str) -> int | None:
        """Creation time of the target's first hint in key order (an age estimate)."""
        start, end = target_range(target)
        for _, value in self.engine.scan(start=start, end=end):
            return _CREATED.unpack_from(value, 0)[0]
        return None

    def total(self) -> tuple[int, int]:
        return (sum(b.keys for b in self.backlogs.values()),
                sum(b.bytes for b in self.backlogs.values()))


def clock_of(value: bytes) -> bytes:
    """The encoded clock inside a hint value."""
    return value[_CREATED.size :]


def mstore_args(items: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [part for pair in items for part in pair]


def parse_mstore(args: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
    if len(args) % 2:
        raise m.MessageError("MSTORE takes key, clock pairs")
    return zip(args[::2], args[1::2], strict=True)


class Handoff:
    """The delivery loop: hints to their targets once they are up, throttled."""

    def __init__(
        self,
        store: HintStore,
        call: Callable[[str, bytes, list[bytes]], m.Reply | None],
        is_up: Callable[[str], bool],
        rate: int = DEFAULT_RATE,
        period: float = 1.0,
    ) -> None:
        self.store = store
        self.call = call
        self.is_up = is_up
        self.rate = max(1, rate)
        self.period = period
        self._greenlet: gevent.Greenlet | None = None
        self._wake = Event()

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def wake(self) -> None:
        """A member came back: deliver now rather than at the next period."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.period)
            self._wake.clear()
            try:
                self.deliver_all()
            except Exception:
                log.exception("hinted handoff round failed")

    def deliver_all(self) -> int:
        """One round over every target with a backlog; the number of hints delivered."""
        sent = 0
        for target, backlog in list(self.store.backlogs.items()):
            if backlog.keys > 0 and self.is_up(target):
                sent += self.deliver(target)
        return sent

    def deliver(self, target: str) -> int:
        """Send `target` its hints until none are left or it stops answering."""
        sent = 0
        while True:
            batch = self.store.pending(target, BATCH)
            if not batch:
                return sent
            started = time.monotonic()
            reply = self.call(target, MSTORE,
                              mstore_args([(raw, clock_of(v)) for _, raw, v in batch]))
            if reply is None or not reply.ok:
                return sent  # down again, or refusing: the next round retries
            for key, _, value in batch:
                self.store.delivered(target, key, value)
            sent += len(batch)
            pause = len(batch) / self.rate - (time.monotonic() - started)
            if pause > 0:
                gevent.sleep(pause)
