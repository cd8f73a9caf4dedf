"""The coordinator: any node serves any key by talking to the key's N replicas.

Sources: the Dynamo paper (DeCandia et al., SOSP 2007) §4.5 (get/put with R and W out of the
preference list's N), §5 (read repair); Riak KV's get/put FSMs (a put is forwarded to a
"coordinating vnode" on the preference list, which issues the version and replicates).

Writes. The client's node forwards the put to the first reachable node of the key's preference
list — itself when it is on the list, which saves a hop. That node (`_coordinate`) issues the
dot and stores the new clock (`Replica.coordinate`), sends it to the other N-1 replicas (STORE;
each merges with `dvv.sync`) and answers once W replicas in all have stored it. The rest finish
in the background: their acks arrive after the reply and are counted by nobody.

Reads. The client's node asks all N replicas (its own engine directly, the others with GET),
answers once R replied (a missing key or a tombstone is a reply), merges the replies with
`dvv.sync`, and sends the merged clock to every replica whose reply differed (read repair, in
the background; late replies are checked against the merged clock too).

Quorum counting is `quorum.Tally`'s job; this module only sends, waits and merges. Fewer than W
(R) successes, including peers that are down or time out, raise `NoQuorum` — after at most
`timeout` seconds (plus the deadline sweep's 20 ms), usually at once (a down peer answers
"failed" immediately).

Scans (KEYS, SCAN, DBSIZE) read each partition from one live replica (this node first when it
holds the partition); the caller splits its key range by partition, since only the keyspace
knows how raw keys map to slots. FLUSHDB/FLUSHALL delete the range on every member.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import gevent
from gevent.event import AsyncResult, Event
from gevent.hub import Waiter

from respdyn import errors
from respdyn.cluster import dvv, quorum
from respdyn.cluster import messages as m
from respdyn.cluster.hints import HINT, MSTORE, Handoff, HintStore, clock_of, parse_mstore
from respdyn.cluster.membership import Membership
from respdyn.cluster.replica import LWW, Replica
from respdyn.cluster.transfer import Transfers
from respdyn.cluster.transport import RemoteError, Transport

log = logging.getLogger(__name__)


class KeyMap(Protocol):
    """How raw keys map to hash slots and partitions to key ranges: the keyspace's layout,
    which the cluster layer must not import; the store above hands it down."""

    def slot_of(self, raw_key: bytes) -> int: ...

    def partition_ranges(self, ring: Any, partition: int) -> list[tuple[bytes, bytes]]: ...


#: (raw key, encoded clock) pairs per SCAN message
SCAN_PAGE = 512


def _ignore(_reply: m.Reply | None) -> None:
    pass


@dataclass
class Stats:
    """INFO cluster counters (this node as the client-facing coordinator)."""

    reads: int = 0
    writes: int = 0
    forwarded_writes: int = 0  #: puts sent to another node of the preference list
    read_repairs: int = 0  #: repair messages sent
    reads_with_siblings: int = 0  #: reads whose merged clock held more than one value
    max_siblings: int = 0  #: most values seen in one merged clock
    noquorum_reads: int = 0
    noquorum_writes: int = 0
    failed_local_repairs: int = 0  #: read repairs of this node's own copy that failed
    hints_sent: int = 0  #: replica copies given to a stand-in (sloppy quorum)
    hints_kept: int = 0  #: hints this node kept itself (no stand-in left)
    sibling_histogram: dict[int, int] = field(default_factory=dict)


class Pending:
    """Something a client's greenlet waits for (a quorum read or write), finished once: by the
    answer that decides it, or by the deadline sweep. A gevent `Waiter` is switched to from a
    loop callback (the answers arrive in a link's reader greenlet, not the hub); an Event cost
    its link list and notifier on every request. The Waiter is safe if the greenlet stopped
    waiting meanwhile (killed with its connection): the switch then only stores the value."""

    __slots__ = ("decided", "waiter")

    def __init__(self) -> None:
        self.decided = False
        self.waiter: Waiter | None = None

    def finish(self) -> None:
        if self.decided:
            return
        self.decided = True
        waiter = self.waiter
        if waiter is not None:
            waiter.hub.loop.run_callback(waiter.switch, None)


class Deadlines:
    """Quorum waits in flight, expired by one sweeper greenlet. They all last `timeout`, so the
    order they start in is their deadline order and a deque is the whole schedule. A gevent
    Timeout per wait (a libev timer started and stopped on every request) was ~3 µs of each
    coordinated read and write; here a wait costs an append. Finished waits at the head of the
    queue are dropped on the next append: left to age out for the whole timeout, the entries
    of a second's requests outlived the young GC generations and made the collector run full
    collections of the heap every few thousand requests.
    Until `start`, waits carry their own Timeout (a coordinator driven without its background
    work, as some tests do, must not wait forever)."""

    INTERVAL = 0.02  #: seconds between sweeps: how late past its deadline a wait may end

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._queue: deque[tuple[float, Pending]] = deque()
        self._sweeper: Any = None

    def wait(self, op: Pending) -> None:
        """Until `op` is finished, by an answer or by the sweep at the deadline."""
        if op.decided:
            return
        waiter = op.waiter = Waiter()
        if self._sweeper is None:
            with gevent.Timeout(self.timeout, False):
                waiter.get()
            return
        queue = self._queue
        while queue and queue[0][1].decided:  # finished already: let them go young
            queue.popleft()
        queue.append((time.monotonic() + self.timeout, op))
        waiter.get()

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = gevent.spawn(self._sweep)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.kill(block=False)
            self._sweeper = None
        while self._queue:  # nobody may be left waiting for a sweep that will not come
            self._queue.popleft()[1].finish()

    def _sweep(self) -> None:
        queue = self._queue
        while True:
            gevent.sleep(self.INTERVAL)
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                queue.popleft()[1].finish()


class _Read(Pending):
    """One get in flight: the tally, the raw replies, and read repair once merged."""

    __slots__ = ("coordinator", "merged", "merged_raw", "raw_key", "tally")

    def __init__(self, coordinator: Coordinator, raw_key: bytes, n: int, r: int) -> None:
        super().__init__()
        self.coordinator = coordinator
        self.raw_key = raw_key
        self.tally = quorum.Tally(n, r)
        self.merged: dvv.Clock | None = None
        self.merged_raw: bytes | None = None  # set once the client has its answer

    def add(self, node: str, ok: bool, raw: bytes | None = None) -> None:
        if self.merged_raw is not None:  # answered already: a late reply, only repair it
            if ok and raw != self.merged_raw:
                self.coordinator.repair(node, self.raw_key, self.merged, self.merged_raw, raw)
            return
        tally = self.tally
        if node in tally.answers:
            return
        outcome = tally.add(node, ok, raw)
        if outcome is not quorum.Outcome.PENDING or tally.pending == 0:
            self.finish()

    def callback(self, node: str) -> Any:
        def on_reply(reply: m.Reply | None) -> None:
            if reply is None or not reply.ok or len(reply.payload) != 1:
                self.add(node, False)
            else:
                self.add(node, True, reply.payload[0] or None)

        return on_reply


class _Write(Pending):
    """One coordinated write in flight: each other replica's STORE, or a hint for it.

    A replica known to be down, or whose STORE fails, is replaced by a stand-in holding a hint
    (the next healthy node past the preference list); the hint counts toward W, as in the
    paper, because it is a copy on another machine. When no node outside the preference list
    is left (three nodes, N = 3), this node keeps the hint itself, which does not count: one
    machine never acknowledges twice. Every node of the preference list is counted exactly
    once (its STORE's answer, or its hint's), so `quorum.Acks` counts without naming nodes."""

    __slots__ = ("acks", "base", "coordinator", "encoded", "prefs", "put", "taken")

    def __init__(self, coordinator: Coordinator, put: m.Put, encoded: bytes,
                 prefs: list[str], base: bytes | None = None) -> None:
        super().__init__()
        self.coordinator = coordinator
        self.put = put
        self.encoded = encoded
        self.base = base  #: digest of the version replaced (Replica.merge's fast path)
        self.prefs = prefs
        self.taken: set[str] | None = None  # nodes holding or asked for a copy, once hinting
        self.acks = quorum.Acks(len(prefs), put.w)
        if self.acks.add(True):  # this node stored it
            self.decided = True

    def send(self) -> None:
        c = self.coordinator
        store, is_down = c.transport.store, c.membership.is_down
        item = m.store_item(self.put.raw_key, self.encoded, self.base or b"")  # once for all
        for node in self.prefs:
            if node == c.node_id:
                continue
            if is_down(node):
                self.hint(node)
            else:  # batched with the other writes' STOREs to that peer (transport.Link.store)
                store(node, item, partial(self._stored, node))

    def _record(self, ok: bool) -> None:
        if self.acks.add(ok):
            self.finish()

    def _stored(self, node: str, reply: m.Reply | None) -> None:
        """`node`'s answer to its STORE (bound per node with functools.partial)."""
        if reply is not None and reply.ok:
            if self.acks.add(True):  # _record, inlined: every replica's answer runs this
                self.finish()
        else:
            self.hint(node)

    def hint(self, intended: str) -> None:
        """Give `intended`'s copy to a stand-in; failing that, keep the hint here."""
        c = self.coordinator
        if self.taken is None:
            self.taken = set(self.prefs)
        stand_in = c.stand_in(self.put.slot, self.taken)
        if stand_in is None:
            c.hints.add(intended, self.put.raw_key, self.encoded)
            c.stats.hints_kept += 1
            self._record(False)
            return
        self.taken.add(stand_in)
        c.stats.hints_sent += 1

        def on_reply(reply: m.Reply | None) -> None:
            if reply is not None and reply.ok:
                self._record(True)
            else:
                self.hint(intended)  # the next stand-in

        c.transport.call(stand_in, HINT, [intended.encode(), self.put.raw_key, self.encoded],
                         on_reply)


class Coordinator:
    """Fan-out, quorum waits, read repair and forwarding for one node."""

    def __init__(
        self,
        replica: Replica,
        transport: Transport,
        membership: Membership,
        n: int = 3,
        r: int = 2,
        w: int = 2,
        timeout: float = 1.0,
    ) -> None:
        if not (1 <= r <= n and 1 <= w <= n):
            raise ValueError("need 1 <= R <= N and 1 <= W <= N")
        self.node_id = replica.node_id
        self.replica = replica
        self.transport = transport
        self.membership = membership
        self.n, self.r, self.w = n, r, w
        self.timeout = timeout  #: seconds a quorum wait lasts at most
        self.deadlines = Deadlines(timeout)
        self.stats = Stats()
        self._cached_ring: Any = None
        self._prefs: dict[int, list[str]] = {}
        #: op -> handler(peer, args) of the cluster modules (gossip, hints, anti-entropy, ...)
        self.handlers: dict[bytes, Callable[[str, list[bytes]], list[bytes]]] = {}
        self.keymap: KeyMap | None = None  #: set by the store above (ReplicatedStore)
        self.hints = HintStore(replica.engine)
        self.handoff = Handoff(self.hints, self.call, lambda node: not membership.is_down(node))
        membership.on_change.append(self.handoff.wake)
        self.transfers = Transfers(self)
        self.serve(HINT, self._take_hint)
        self.serve(MSTORE, self._mstore)
        transport.handler = self.handle

    # -- placement -----------------------------------------------------------------------------

    def preference(self, slot: int) -> list[str]:
        ring = self.membership.ring
        return self.partition_preference(ring.partition_of_slot(slot))

    def partition_preference(self, partition: int) -> list[str]:
        """The partition's N nodes, cached per ring (rings are immutable; a new one, after a
        membership change, starts a new cache). Callers must not modify the list."""
        ring = self.membership.ring
        if ring is not self._cached_ring:
            self._cached_ring, self._prefs = ring, {}
        prefs = self._prefs.get(partition)
        if prefs is None:
            prefs = self._prefs[partition] = ring.preference_list(partition, self.n)
        return prefs

    # -- reads ---------------------------------------------------------------------------------

    def get(self, raw_key: bytes, slot: int, r: int | None = None) -> dvv.Clock | None:
        """The merged clock of R replicas (None if none holds the key); NoQuorum otherwise."""
        r = r or self.r
        self.stats.reads += 1
        prefs = self.preference(slot)
        op = _Read(self, raw_key, len(prefs), r)
        local = self.node_id in prefs
        calls = [(node, op.callback(node)) for node in prefs if node != self.node_id]
        if calls:
            self.transport.call_many(calls, m.GET, [raw_key])
        if local:
            op.add(self.node_id, True, self.replica.read_raw(raw_key))
        self.deadlines.wait(op)
        tally = op.tally
        if not tally.enough():
            self.stats.noquorum_reads += 1
            raise errors.NoQuorum(tally.successes(), r, "replied")
        merged, merged_raw = self._merge(tally.replies())
        if merged is not None and self.replica.policy == LWW and dvv.size(merged) > 1:
            merged = dvv.lww(merged)  # replicas that missed each other's writes, merged here
            merged_raw = dvv.encode(merged)
        op.merged = merged
        op.merged_raw = merged_raw
        if merged is not None:
            self._count_siblings(merged)
            for answer in list(tally.answers.values()):
                if answer.ok and answer.reply != op.merged_raw:
                    self.repair(answer.node, raw_key, merged, op.merged_raw, answer.reply)
        return merged

    def _merge(self, replies: list[bytes | None]) -> tuple[dvv.Clock | None, bytes]:
        """The merged clock of the replies and its encoding (b"" if no replica had one).
        Replies are compared encoded first: when they agree, one decode is all it costs.
        A tombstone past its grace period counts as no reply (replica.py, Tombstones)."""
        distinct = {raw for raw in replies if raw is not None}
        if not distinct:
            return None, b""
        live = self.replica.live
        if len(distinct) == 1:
            raw = distinct.pop()
            clock = live(dvv.decode(raw))
            return (clock, raw) if clock is not None else (None, b"")
        merged: dvv.Clock | None = None
        for raw in distinct:
            clock = live(dvv.decode(raw))
            if clock is not None:
                merged = clock if merged is None else dvv.sync(merged, clock)
        if merged is None:
            return None, b""
        return merged, dvv.encode(merged)

    def _count_siblings(self, merged: dvv.Clock) -> None:
        count = dvv.size(merged)
        if count > 1:
            stats = self.stats
            stats.reads_with_siblings += 1
            stats.max_siblings = max(stats.max_siblings, count)
            stats.sibling_histogram[count] = stats.sibling_histogram.get(count, 0) + 1

    def repair(
        self,
        node: str,
        raw_key: bytes,
        merged: dvv.Clock | None,
        merged_raw: bytes,
        stale: bytes | None,
    ) -> None:
        """Send the merged clock to a replica whose reply differed (in the background)."""
        if merged is None or stale == merged_raw:
            return
        self.stats.read_repairs += 1
        if node == self.node_id:
            gevent.spawn(self._repair_here, raw_key, merged)
        else:
            self.transport.call(node, m.STORE, [raw_key, merged_raw], _ignore)

    def _repair_here(self, raw_key: bytes, merged: dvv.Clock) -> None:
        """Read repair of this node's own copy, in the background: a failure (the disk
        refusing writes after a failed fsync) is counted, logged once, never raised into
        the hub (a traceback per read otherwise)."""
        try:
            self.replica.merge(raw_key, merged)
        except Exception as exc:
            if not self.stats.failed_local_repairs:
                log.warning("read repair of this node's copy failed: %s", exc)
            self.stats.failed_local_repairs += 1

    # -- writes --------------------------------------------------------------------------------

    def put(
        self,
        raw_key: bytes,
        slot: int,
        value: dvv.Sibling,
        context: dvv.Context | None,
        w: int | None = None,
    ) -> None:
        """Store `value` over `context` (None = blind) on W of the key's N replicas."""
        put = m.Put(raw_key, slot, value, context, w or self.w)
        self.stats.writes += 1
        prefs = self.preference(slot)
        try:
            if self.node_id in prefs:
                self._coordinate(put, prefs)
            else:
                self._forward(put, prefs)
        except errors.NoQuorum:
            self.stats.noquorum_writes += 1
            raise

    def _coordinate(self, put: m.Put, prefs: list[str]) -> None:
        """Store on this replica, then on the others; a replica that is down or fails gets a
        hinted stand-in instead (sloppy quorum, Dynamo §4.6)."""
        if self.replica.recovering and self.replica.read_raw(put.raw_key) is None:
            self._catch_up(put.raw_key, prefs)
        written = self.replica.coordinate(put.raw_key, put.sibling, put.context)
        write = _Write(self, put, written.encoded, prefs, written.base)
        write.send()
        self.deadlines.wait(write)
        if not write.acks.enough():
            raise errors.NoQuorum(write.acks.ok, put.w)

    def _catch_up(self, raw_key: bytes, prefs: list[str]) -> None:
        """Merge every other live replica's clock of `raw_key` here before issuing a dot: a
        node whose data was wiped would otherwise issue dots it issued before the wipe, and
        replicas remembering them would drop the new value as already seen (dvv.py)."""
        others = [node for node in prefs if node != self.node_id]
        replies: list[bytes] = []
        done = Event()
        pending = len(others)

        def on_reply(reply: m.Reply | None) -> None:
            nonlocal pending
            pending -= 1
            if reply is not None and reply.ok and reply.payload and reply.payload[0]:
                replies.append(reply.payload[0])
            if pending == 0:
                done.set()

        if others:
            self.transport.call_many([(node, on_reply) for node in others], m.GET, [raw_key])
            done.wait(self.timeout)
        for raw in replies:
            self.replica.merge(raw_key, raw)

    def stand_in(self, slot: int, skip: set[str]) -> str | None:
        """The next healthy node clockwise past `skip` for the partition of `slot`: where a
        hint for a down replica goes (None: every other node is taken or down)."""
        ring = self.membership.ring
        owners, q = ring.owners, ring.q
        start = ring.partition_of_slot(slot)
        for i in range(q):
            node = owners[(start + i) % q]
            if node not in skip and node != self.node_id and not self.membership.is_down(node):
                return node
        return None

    def _forward(self, put: m.Put, prefs: list[str]) -> None:
        """Hand the put to the first reachable replica; it coordinates and answers. The whole
        hand-off waits at most twice the timeout (docs/cluster-protocol.md): a dead replica
        fails at once and the next is tried, but silent ones share one deadline."""
        self.stats.forwarded_writes += 1
        args = m.put_args(put)
        deadline = time.monotonic() + 2 * self.timeout
        for node in prefs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            reply = self.call(node, m.PUT, args, timeout=remaining)
            if reply is None:
                continue
            if reply.ok:
                return
            _raise_remote(reply)
        raise errors.NoQuorum(0, put.w)

    def call(
        self, node: str, op: bytes, args: list[bytes], timeout: float | None = None
    ) -> m.Reply | None:
        """One request, waited for (None = failed or timed out)."""
        result: AsyncResult = AsyncResult()
        self.transport.call(node, op, args, result.set, timeout)
        return result.get()  # the transport always answers: reply, failure or deadline

    # -- whole ranges --------------------------------------------------------------------------

    def scan_partition(
        self, partition: int, start: bytes, end: bytes
    ) -> Iterator[tuple[bytes, dvv.Clock]]:
        """Every (raw key, clock) in [start, end) of `partition`, from one live replica."""
        prefs = self.partition_preference(partition)
        if self.node_id in prefs:
            for key, raw in self.replica.engine.scan(start=start, end=end):
                yield key, dvv.decode(raw)
            return
        cursor: bytes | None = start
        for node in prefs:
            while cursor is not None:
                reply = self.call(node, m.SCAN, [cursor, end, b"%d" % SCAN_PAGE])
                if reply is None or not reply.ok:
                    break  # next replica, from where this one stopped
                cursor, items = m.parse_scan(reply.payload)
                for key, raw in items:
                    yield key, dvv.decode(raw)
            if cursor is None:
                return
        raise errors.NoQuorum(0, 1, "replied")

    def delete_range(self, start: bytes, end: bytes) -> None:
        """FLUSHDB/FLUSHALL: delete on every member; NoQuorum if one did not confirm.

        Refused up front (nothing deleted) while a member is down: a member that missed the
        flush keeps clocks whose counters are above the restarted ones, and would outvote the
        writes made after it when it returns (docs/cluster-protocol.md)."""
        members = sorted(self.membership.members)
        down = [node for node in members if self.membership.is_down(node)]
        if down:
            raise errors.NoQuorum(len(members) - len(down), len(members))
        tally = quorum.Tally(len(members), len(members))
        done = Event()
        self.replica.delete_range(start, end)
        tally.add(self.node_id, True)

        def callback(node: str) -> Any:
            def on_reply(reply: m.Reply | None) -> None:
                tally.add(node, reply is not None and reply.ok)
                if tally.done():
                    done.set()

            return on_reply

        for node in members:
            if node != self.node_id:
                self.transport.call(node, m.DELRANGE, [start, end], callback(node))
        if not tally.done():
            done.wait(self.timeout)
        if not tally.enough():
            raise errors.NoQuorum(tally.successes(), len(members))

    # -- serving peers -------------------------------------------------------------------------

    def serve(
        self, op: bytes, handler: Callable[[str, list[bytes]], list[bytes]], inline: bool = False
    ) -> None:
        """Answer `op` (declared with `messages.register`) with `handler`. Inline handlers run
        in the connection's reader: they must not wait on other nodes or on the disk."""
        if op in (m.GET, m.STORE, m.PUT, m.SCAN, m.DELRANGE):
            raise ValueError(f"{op!r} is a built-in op")
        self.handlers[op] = handler
        if inline:
            self.transport.inline_ops = frozenset(self.transport.inline_ops | {op})

    def _take_hint(self, peer: str, args: list[bytes]) -> list[bytes]:
        target, raw_key, clock = args
        name = target.decode("utf-8", "replace")
        if name == self.node_id:  # meant for us after all (the sender's ring is older)
            self.replica.merge(raw_key, clock)
        elif not self.hints.add(name, raw_key, clock):
            raise RemoteError(b"ERR", b"hint budget for " + target + b" is full")
        return []

    def _mstore(self, peer: str, args: list[bytes]) -> list[bytes]:
        for raw_key, clock in parse_mstore(args):
            self.replica.merge(raw_key, clock)
        return []

    def handle(self, peer: str, request: m.Request) -> list[bytes]:
        """A peer's request (the transport's handler). The built-in ops come first: STORE and
        GET are nearly every request, and the modules' ops (`serve`) never reuse their names."""
        op, args = request.op, request.args
        if op == m.STORE:
            try:
                items = m.store_items(args)
            except m.MessageError as exc:
                raise RemoteError(b"ERR", str(exc).encode()) from None
            self.replica.merge_many(items)
            return []
        if op == m.GET:
            return [self.replica.read_raw(args[0]) or b""]
        extension = self.handlers.get(op)
        if extension is not None:
            return extension(peer, args)
        if op == m.PUT:
            put = m.parse_put(args)
            try:
                self._coordinate(put, self.preference(put.slot))
            except errors.NoQuorum as exc:
                raise RemoteError(m.NOQUORUM, *_noquorum_detail(exc)) from None
            return []
        if op == m.SCAN:
            start, end, limit = args
            cursor, items = self.replica.scan(start, end, max(1, int(limit)))
            return m.scan_payload(cursor, items)
        if op == m.DELRANGE:
            self.replica.delete_range(args[0], args[1])
            return []
        raise RemoteError(b"ERR", b"unsupported op " + op)

    # -- membership changes --------------------------------------------------------------------

    def start(self) -> None:
        """The background work: gossip, hint delivery, partition transfers."""
        self.deadlines.start()
        self.membership.start()
        self.handoff.start()
        self.transfers.start()

    def leave(self, then: Callable[[], None]) -> None:
        """DYNAMO LEAVE: out of the ring now, `then()` once every partition is handed over and
        the members have heard that this node left."""
        self.membership.leave()

        def settled() -> None:
            if self.node_id not in self.membership.ring.members:
                self.membership.left()
                gevent.spawn(self._announce, then)

        self.transfers.on_settled.append(settled)

    def _announce(self, then: Callable[[], None], rounds: int = 3) -> None:
        for _ in range(rounds):
            self.membership.round()
            gevent.sleep(self.membership.interval)
        then()

    def reroute_hints(self, target: str) -> int:
        """Hints for a member that is gone for good: deliver them to each key's current
        replicas instead (all must acknowledge, or the hint stays for the next attempt)."""
        moved = 0
        assert self.keymap is not None
        while batch := self.hints.pending(target, 100):
            for key, raw_key, value in batch:
                clock = clock_of(value)
                prefs = self.preference(self.keymap.slot_of(raw_key))
                ok = True
                for node in prefs:
                    if node == self.node_id:
                        self.replica.merge(raw_key, clock)
                    else:
                        reply = self.call(node, m.STORE, [raw_key, clock])
                        ok = ok and reply is not None and reply.ok
                if not ok:
                    return moved
                self.hints.delivered(target, key, value)
                moved += 1
        return moved

    def close(self) -> None:
        self.deadlines.stop()
        self.transfers.stop()
        self.handoff.stop()
        self.transport.close()
        self.membership.stop()


def _noquorum_detail(exc: errors.NoQuorum) -> list[bytes]:
    got, _, rest = exc.message.partition(" of ")
    needed, _, what = rest.partition(" required replicas ")
    return m.noquorum_detail(int(got), int(needed), what)


def _raise_remote(reply: m.Reply) -> None:
    if reply.payload and reply.payload[0] == m.NOQUORUM:
        got, needed, what = m.parse_noquorum(reply.payload[1:])
        raise errors.NoQuorum(got, needed, what)
    detail = b" ".join(reply.payload[1:]).decode("utf-8", "replace")
    raise errors.ReplyError(f"remote replica failed: {detail}")
