"""Active anti-entropy: replicas of a partition compare Merkle trees and repair what differs.

Sources: the Dynamo paper (DeCandia et al., SOSP 2007) §4.7, one hash tree per key range,
compared top-down; Riak KV's active anti-entropy (one tree per partition, kept current on
write, an exchange per (partition, peer) pair on a timer, repair by read-repairing the keys).

Trees. This node keeps one `merkle.MerkleTree` per partition whose preference list includes it.
Each is built once per process start by scanning the partition's local data in the background
(`Trees`); cost: one full scan of the local data per start, about 6 µs of CPU per key plus the
reads (trees are in memory only, never persisted; about 45 KB of Python objects per tree,
whatever the data). From then on the replica's observers keep it current: every stored clock
XORs the key's old version hash out and the new one in (five 8-byte blake2b hashes, about 10 µs
per write on a loaded 2-core machine). A deleted range (FLUSHDB, a handed-off partition) makes
the affected partitions rebuild. A tree being built receives the observed writes as well as the
scan, and the scan is a snapshot taken at the same instant, so the result is exact (XOR is
order-free). With `--fsync always` the engine writes in a thread: a write racing the snapshot
can count twice, leaving that leaf wrong until the next build; an exchange then compares that
segment's keys needlessly, but never misses a difference.

Exchange of one partition with one peer (`exchange`): walk both trees top-down
(`merkle.Exchange`: one hash when equal, at most 1 + 32 + 32k for k differing segments, 3 round
trips), list the differing segments' (key, version hash) pairs on both sides (a scan of the
partition on each side, keeping the keys of those segments: the tree holds no keys), and for
each key whose versions differ: fetch the peer's clock, merge it here (`Replica.merge`, dvv.sync),
and send the merged clock back with STORE if the peer's differed. Deletions are tombstone clocks,
so they are repaired like values: a replica that missed a DEL receives the tombstone.

Schedule. A background loop exchanges one (partition, peer) pair every `aae_interval_ms`
(0 = off), round robin over the partitions this node replicates and the other members of their
preference lists, skipping peers known to be down. `DYNAMO REPAIR` (`AntiEntropy.repair`)
exchanges every such pair now and answers the number of distinct keys repaired.

Wire operations (registered here; docs/cluster-protocol.md):

    op       args                                     ok payload
    MTREE    partition, level, index...               8-byte hash per index
             (error NOTREADY: no built tree for the partition here)
    MSEGS    partition, start, limit, segment...      next_start ("" = done), (key, hash)...
    MCLOCKS  raw_key...                               clock per key ("" = none)
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import gevent
from gevent.event import Event

from respdyn.cluster import merkle
from respdyn.cluster import messages as m
from respdyn.cluster.transport import RemoteError

log = logging.getLogger(__name__)

MTREE = m.register(b"MTREE", -3)
MSEGS = m.register(b"MSEGS", -4)
MCLOCKS = m.register(b"MCLOCKS", -1)
NOT_READY = b"NOTREADY"

#: (key, hash) pairs per MSEGS reply (a page: one wiped peer must not need one huge frame)
SEGMENT_PAGE = 4096
#: keys per MCLOCKS request and per batch of STOREs
CLOCK_BATCH = 256
#: keys scanned between yields to the other greenlets (a scan must not stall the node)
SCAN_YIELD = 512
#: seconds DYNAMO REPAIR waits for trees (its own or a peer's) that are still being built
READY_WAIT = 30.0
#: shape of every tree (peers must agree): 1024 segments of fanout 32
SHAPE = merkle.MerkleTree()


class ExchangeFailed(Exception):
    """The peer did not answer, or has no tree for the partition yet (`not_ready`)."""

    def __init__(self, reason: str, not_ready: bool = False) -> None:
        super().__init__(reason)
        self.not_ready = not_ready


@dataclass
class Stats:
    """INFO cluster's aae_* fields."""

    exchanges: int = 0  #: (partition, peer) exchanges completed
    exchanges_failed: int = 0
    keys_repaired: int = 0  #: keys merged here or sent to a peer by an exchange
    last_repair_ms: int = 0  #: how long the last DYNAMO REPAIR took
    last_repair_keys: int = 0
    builds: int = 0  #: tree builds (one per held partition at start, more after range deletes)
    build_ms: int = 0  #: time spent building trees, in all


def _int(raw: bytes) -> int:
    if not raw.isdigit():
        raise RemoteError(b"ERR", b"bad integer " + raw[:20])
    return int(raw)


def _paced(items: Iterable[Any]) -> Iterator[Any]:
    """`items`, yielding to other greenlets every SCAN_YIELD of them."""
    for count, item in enumerate(items, 1):
        yield item
        if count % SCAN_YIELD == 0:
            gevent.sleep(0)


# ---- the trees --------------------------------------------------------------------------------


class Trees:
    """One tree per held partition, built by scanning and kept current by the observers."""

    def __init__(self, coordinator: Any) -> None:
        self.coordinator = coordinator
        self.replica = coordinator.replica
        self.node_id = coordinator.node_id
        self.trees: dict[int, merkle.MerkleTree] = {}  #: built or being built
        self.ready: set[int] = set()  #: partitions whose tree is complete
        self.stats = Stats()
        self._queue: dict[int, None] = {}  # partitions to (re)build, in order
        self._wake = Event()

    # -- which partitions ----------------------------------------------------------------------

    def held(self) -> list[int]:
        """Partitions whose preference list includes this node."""
        coordinator = self.coordinator
        ring = coordinator.membership.ring
        return [p for p in range(ring.q) if self.node_id in coordinator.partition_preference(p)]

    def refresh(self) -> None:
        """Follow the ring: queue builds of newly held partitions, drop the others' trees."""
        held = set(self.held())
        for p in sorted(held - self.trees.keys() - self._queue.keys()):
            self._enqueue(p)
        for p in list(self.trees.keys() - held):
            del self.trees[p]
            self.ready.discard(p)

    def partition_of(self, raw_key: bytes) -> int | None:
        keymap = self.coordinator.keymap
        if keymap is None:
            return None
        return self.coordinator.membership.ring.partition_of_slot(keymap.slot_of(raw_key))

    def ranges(self, partition: int) -> list[tuple[bytes, bytes]]:
        keymap = self.coordinator.keymap
        if keymap is None:
            return []
        return keymap.partition_ranges(self.coordinator.membership.ring, partition)

    # -- following the replica -----------------------------------------------------------------

    def observe(self, raw_key: bytes, old: bytes | None, new: bytes) -> None:
        """Replica observer: a stored clock replaced `old` (None = first) under `raw_key`."""
        trees = self.trees
        if not trees:
            return
        keymap = self.coordinator.keymap  # partition_of, inlined: every replica write pays it
        if keymap is None:
            return
        p = self.coordinator.membership.ring.partition_of_slot(keymap.slot_of(raw_key))
        tree = trees.get(p)
        if tree is not None:
            tree.update(raw_key, old, new)  # the encoded clocks are the versions

    def range_deleted(self, start: bytes, end: bytes) -> None:
        """Replica range observer: the partitions overlapping [start, end) rebuild."""
        for p in list(self.trees):
            if any(lo < end and start < hi for lo, hi in self.ranges(p)):
                self.ready.discard(p)
                self._enqueue(p)

    # -- building ------------------------------------------------------------------------------

    def _enqueue(self, partition: int) -> None:
        self._queue[partition] = None
        self._wake.set()

    def run_builds(self) -> None:
        """The builder greenlet: build queued partitions one at a time, forever."""
        while True:
            self._wake.wait()
            self._wake.clear()
            self.build_queued()

    def build_queued(self) -> None:
        """Build every queued partition (tests call this directly)."""
        while self._queue:
            p = next(iter(self._queue))
            del self._queue[p]
            if p not in self.held():
                continue
            started = time.monotonic()
            self.build(p)
            self.stats.builds += 1
            self.stats.build_ms += round((time.monotonic() - started) * 1000)
            if p not in self._queue:  # not invalidated meanwhile
                self.ready.add(p)

    def build(self, partition: int) -> merkle.MerkleTree:
        """A fresh tree of the partition's local data. The scans are opened (each a snapshot)
        in the same step as the tree starts receiving observed writes, so together they count
        every version exactly once."""
        tree = merkle.MerkleTree()
        engine = self.replica.engine
        scans = [engine.scan(start=lo, end=hi) for lo, hi in self.ranges(partition)]
        self.trees[partition] = tree
        for scan in scans:
            for key, raw in _paced(scan):
                tree.add(key, raw)
        return tree

    def wait_ready(self, partition: int, deadline: float) -> bool:
        """Poll until the partition's tree is built (or the deadline passes)."""
        while partition not in self.ready and time.monotonic() < deadline:
            if partition not in self._queue and partition not in self.trees:
                self.refresh()
            gevent.sleep(0.02)
        return partition in self.ready

    # -- listing keys --------------------------------------------------------------------------

    def segment_items(
        self, partition: int, segments: Iterable[int], start: bytes = b""
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, version hash) of the local keys in `segments` of the partition, in key order
        from `start`: a scan of the partition keeping those segments' keys."""
        wanted = set(segments)
        engine = self.replica.engine
        for lo, hi in self.ranges(partition):
            if hi <= start:
                continue
            for key, raw in _paced(engine.scan(start=max(lo, start), end=hi)):
                if SHAPE.segment_of(key) in wanted:
                    yield key, merkle.version_hash(raw)

    # -- serving peers -------------------------------------------------------------------------

    def serve_tree(self, peer: str, args: list[bytes]) -> list[bytes]:
        """MTREE: hashes of some nodes of one level of a partition's tree."""
        partition, level = _int(args[0]), _int(args[1])
        if partition not in self.ready:
            raise RemoteError(NOT_READY, b"%d" % partition)
        try:
            return self.trees[partition].hashes(level, [_int(i) for i in args[2:]])
        except ValueError as exc:
            raise RemoteError(b"ERR", str(exc).encode()) from None

    def serve_segments(self, peer: str, args: list[bytes]) -> list[bytes]:
        """MSEGS: one page of the (key, version hash) pairs of some segments."""
        partition, start, limit = _int(args[0]), args[1], _int(args[2])
        segments = [_int(s) for s in args[3:]]
        limit = max(1, min(limit, SEGMENT_PAGE))
        items: list[tuple[bytes, bytes]] = []
        for key, version_hash in self.segment_items(partition, segments, start):
            if len(items) == limit:
                return m.scan_payload(key, items)
            items.append((key, version_hash))
        return m.scan_payload(None, items)

    def serve_clocks(self, peer: str, args: list[bytes]) -> list[bytes]:
        """MCLOCKS: the stored clocks of some keys."""
        read = self.replica.read_raw
        return [read(key) or b"" for key in args]


# ---- peers ------------------------------------------------------------------------------------


class Peer(Protocol):
    """The other side of an exchange; None (or ExchangeFailed from `segment_items`'s stream)
    if the peer failed."""

    node_id: str

    def hashes(self, partition: int, level: int, indices: list[int]) -> list[bytes] | None: ...

    def segment_items(
        self, partition: int, segments: list[int]
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def clocks(self, keys: list[bytes]) -> list[bytes | None] | None: ...

    def store(self, items: list[tuple[bytes, bytes]]) -> list[bytes]: ...


class RemotePeer:
    """A peer over the inter-node protocol."""

    def __init__(self, coordinator: Any, node_id: str) -> None:
        self.coordinator = coordinator
        self.node_id = node_id
        self.timeout = max(coordinator.timeout, 5.0)  # pages of a scan: allow the disk time

    def _call(self, op: bytes, args: list[bytes]) -> list[bytes] | None:
        reply = self.coordinator.call(self.node_id, op, args, self.timeout)
        if reply is None:
            return None
        if not reply.ok:
            if reply.payload[:1] == [NOT_READY]:
                raise ExchangeFailed(f"{self.node_id} has no tree yet", not_ready=True)
            return None
        return reply.payload

    def hashes(self, partition: int, level: int, indices: list[int]) -> list[bytes] | None:
        return self._call(MTREE, [b"%d" % partition, b"%d" % level, *(b"%d" % i for i in indices)])

    def segment_items(self, partition: int, segments: list[int]) -> Iterator[tuple[bytes, bytes]]:
        """The peer's (key, version hash) pairs of `segments`, a page at a time."""
        start = b""
        segs = [b"%d" % s for s in segments]
        while True:
            payload = self._call(MSEGS, [b"%d" % partition, start, b"%d" % SEGMENT_PAGE, *segs])
            if payload is None:
                raise ExchangeFailed(f"{self.node_id} did not list its keys")
            cursor, items = m.parse_scan(payload)
            yield from items
            if cursor is None:
                return
            start = cursor

    def clocks(self, keys: list[bytes]) -> list[bytes | None] | None:
        payload = self._call(MCLOCKS, keys)
        if payload is None or len(payload) != len(keys):
            return None
        return [raw or None for raw in payload]

    def store(self, items: list[tuple[bytes, bytes]]) -> list[bytes]:
        """STORE each (key, clock), pipelined; the keys the peer acknowledged."""
        acked: list[bytes] = []
        pending = len(items)
        done = Event()

        def callback(key: bytes) -> Callable[[m.Reply | None], None]:
            def on_reply(reply: m.Reply | None) -> None:
                nonlocal pending
                if reply is not None and reply.ok:
                    acked.append(key)
                pending -= 1
                if pending == 0:
                    done.set()

            return on_reply

        transport = self.coordinator.transport
        for key, clock in items:
            transport.call(self.node_id, m.STORE, [key, clock], callback(key), self.timeout)
        if items:
            done.wait(self.timeout + 1)  # the transport answers every call by its deadline
        return acked


# ---- one exchange -----------------------------------------------------------------------------


def exchange(trees: Trees, partition: int, peer: Peer) -> set[bytes]:
    """Compare this node's tree of `partition` with `peer`'s and repair both ways; the keys
    repaired (merged here, or sent to the peer). Raises ExchangeFailed."""
    tree = trees.trees.get(partition)
    if tree is None or partition not in trees.ready:
        raise ExchangeFailed(f"no tree of partition {partition} here yet", not_ready=True)
    walk = merkle.Exchange(tree)
    while (step := walk.request()) is not None:
        remote = peer.hashes(partition, *step)
        if remote is None:
            raise ExchangeFailed(f"{peer.node_id} did not send its hashes")
        walk.receive(remote)
    if not walk.differing:
        return set()
    mine = trees.segment_items(partition, walk.differing)
    theirs = peer.segment_items(partition, walk.differing)
    repaired: set[bytes] = set()
    batch: list[bytes] = []
    for key in merkle.differing_sorted(mine, theirs):  # both in key order: merged as they come
        batch.append(key)
        if len(batch) == CLOCK_BATCH:
            repaired |= _repair_keys(trees.replica, peer, batch)
            batch = []
    if batch:
        repaired |= _repair_keys(trees.replica, peer, batch)
    return repaired


def _repair_keys(replica: Any, peer: Peer, keys: list[bytes]) -> set[bytes]:
    """Merge the peer's clocks of `keys` here; send ours where theirs differs."""
    clocks = peer.clocks(keys)
    if clocks is None:
        raise ExchangeFailed(f"{peer.node_id} did not send its clocks")
    repaired: set[bytes] = set()
    sends: list[tuple[bytes, bytes]] = []
    for key, theirs in zip(keys, clocks, strict=True):
        if theirs is not None and replica.merge(key, theirs):
            repaired.add(key)
        mine = replica.read_raw(key)
        if mine is not None and mine != theirs:
            sends.append((key, mine))
    repaired.update(peer.store(sends))
    return repaired


# ---- the service ------------------------------------------------------------------------------


class AntiEntropy:
    """This node's trees, the handlers of the wire ops, the background loop and REPAIR."""

    def __init__(self, coordinator: Any, interval: Callable[[], float]) -> None:
        self.coordinator = coordinator
        self.trees = Trees(coordinator)
        self.stats = self.trees.stats
        self.interval = interval  #: seconds between background exchanges (0 = off)
        self._pairs: list[tuple[int, str]] = []
        self.greenlets: list[gevent.Greenlet] = []

    def start(self) -> list[gevent.Greenlet]:
        """Build the trees and run the loop in the background; the greenlets, to stop."""
        self.trees.refresh()
        self.greenlets = [gevent.spawn(self.trees.run_builds), gevent.spawn(self._loop)]
        return self.greenlets

    def stop(self) -> None:
        gevent.killall(self.greenlets, block=False)

    def peer(self, node_id: str) -> Peer:
        return RemotePeer(self.coordinator, node_id)

    def is_down(self, node_id: str) -> bool:
        """The membership's failure detector (phi, or a refused connection in its backoff)."""
        return bool(self.coordinator.membership.is_down(node_id))

    def pairs(self) -> list[tuple[int, str]]:
        """(partition, peer) for every held partition and the other nodes of its list."""
        me = self.coordinator.node_id
        return [
            (p, node)
            for p in self.trees.held()
            for node in self.coordinator.partition_preference(p)
            if node != me
        ]

    def exchange(self, partition: int, node_id: str) -> set[bytes]:
        """One exchange, counted in the stats. Raises ExchangeFailed."""
        try:
            repaired = exchange(self.trees, partition, self.peer(node_id))
        except ExchangeFailed:
            self.stats.exchanges_failed += 1
            raise
        self.stats.exchanges += 1
        self.stats.keys_repaired += len(repaired)
        if repaired:
            log.info(
                "anti-entropy: partition %d with %s: %d keys repaired",
                partition,
                node_id,
                len(repaired),
            )
        return repaired

    # -- the background loop -------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            interval = self.interval()
            gevent.sleep(interval if interval > 0 else 1.0)
            self.trees.refresh()
            if interval > 0:
                self.step()

    def step(self) -> bool:
        """Exchange the next (partition, peer) pair whose tree is ready and peer is not down;
        False if there was none."""
        for _ in range(2):  # the rest of this round, then one fresh round
            while self._pairs:
                partition, node_id = self._pairs.pop()
                if partition in self.trees.ready and not self.is_down(node_id):
                    try:
                        self.exchange(partition, node_id)
                    except ExchangeFailed as exc:
                        log.debug("anti-entropy exchange skipped: %s", exc)
                    return True
            self._pairs = list(reversed(self.pairs()))
        return False

    # -- DYNAMO REPAIR -------------------------------------------------------------------------

    def repair(self) -> int:
        """A full repair now: every held partition with every other live replica of it. The
        number of distinct keys repaired. Trees still being built (here or at a peer) are
        waited for, at most READY_WAIT seconds in all."""
        started = time.monotonic()
        deadline = started + READY_WAIT
        self.trees.refresh()
        total = skipped = 0
        by_partition: dict[int, list[str]] = {}
        for partition, node_id in self.pairs():
            by_partition.setdefault(partition, []).append(node_id)
        for partition, peers in by_partition.items():
            if not self.trees.wait_ready(partition, deadline):
                log.warning("DYNAMO REPAIR: partition %d has no tree yet; skipped", partition)
                skipped += 1
                continue
            keys: set[bytes] = set()
            for node_id in peers:
                if self.is_down(node_id):
                    skipped += 1
                    continue
                failed = self.stats.exchanges_failed
                keys |= self._exchange_waiting(partition, node_id, deadline)
                skipped += self.stats.exchanges_failed != failed
            total += len(keys)
        if not skipped:  # every replica compared: every version of ours is back
            self.coordinator.replica.recovering = False
        self.stats.last_repair_ms = round((time.monotonic() - started) * 1000)
        self.stats.last_repair_keys = total
        log.info("DYNAMO REPAIR: %d keys repaired in %d ms", total, self.stats.last_repair_ms)
        return total

    def _exchange_waiting(self, partition: int, node_id: str, deadline: float) -> set[bytes]:
        while True:
            try:
                return self.exchange(partition, node_id)
            except ExchangeFailed as exc:
                if not exc.not_ready or time.monotonic() >= deadline:
                    log.warning("DYNAMO REPAIR: partition %d with %s: %s", partition, node_id, exc)
                    return set()
            gevent.sleep(0.05)  # the peer is still building its tree


# ---- wiring -------------------------------------------------------------------------------------

_SERVICES: weakref.WeakKeyDictionary[Any, AntiEntropy] = weakref.WeakKeyDictionary()


def attach(coordinator: Any, interval: Callable[[], float]) -> AntiEntropy:
    """Serve the anti-entropy ops on this node and follow its replica's writes; `start()` the
    returned service once the node runs. `interval()` is read before every background step."""
    service = AntiEntropy(coordinator, interval)
    trees = service.trees
    coordinator.replica.observers.append(trees.observe)
    coordinator.replica.range_observers.append(trees.range_deleted)
    coordinator.serve(MTREE, trees.serve_tree, inline=True)  # memory only
    coordinator.serve(MSEGS, trees.serve_segments)
    coordinator.serve(MCLOCKS, trees.serve_clocks)
    coordinator.membership.on_change.append(trees.refresh)
    _SERVICES[coordinator] = service
    return service


def of(coordinator: Any) -> AntiEntropy | None:
    """The node's anti-entropy service, if `attach` gave it one."""
    return _SERVICES.get(coordinator)


def info_fields(coordinator: Any) -> dict[str, int]:
    """INFO cluster's anti-entropy fields (none if the node has no service)."""
    service = of(coordinator)
    if service is None:
        return {}
    stats, trees = service.stats, service.trees
    return {
        "aae_exchanges": stats.exchanges,
        "aae_exchanges_failed": stats.exchanges_failed,
        "aae_keys_repaired": stats.keys_repaired,
        "aae_last_repair_ms": stats.last_repair_ms,
        "aae_last_repair_keys": stats.last_repair_keys,
        "aae_trees_ready": len(trees.ready),
        "aae_tree_builds": stats.builds,
        "aae_tree_build_ms": stats.build_ms,
    }
