"""Who is in the cluster: gossip, failure detection, and the ring they agree on.

Sources: Cassandra's gossiper and failure detector (one random peer per round, heartbeats as
``(generation, version)``, phi-accrual with threshold 8); Riak core's ring gossip and claim
(membership changes are ring changes, the greater ring wins, a node re-proposes a change that
lost a race). The pure parts are `gossip` (state and merge), `ring` (claim, merge) and `phi`.

Start. Seeds come from ``--seeds``. A seed given as ``node_id@host:port`` is a member from the
start: when this node is among the named seeds (how `respdyn cluster` and the test clusters start
a fixed cluster), everyone computes the same ``Ring.initial`` of them at epoch 1, so a fresh
cluster needs no round of agreement. A node not among them, or given plain ``host:port`` seeds,
is joining: it starts with a ring of its own at epoch 0 (which any cluster ring outranks), learns
the cluster's ring by gossip and proposes ``ring.with_node(itself)``; the winner of concurrent
proposals is `Ring.merge`'s, and a node that finds itself missing re-proposes. The last ring is
saved in the data directory (``RING``), so a restart resumes from it, not from the seeds.

Rounds. Every `interval` s a node beats (version + 1) and sends its whole state (members and
ring, `gossip.encode_state`) to one random other member, and merges the reply. A HELLO names a
new node only for addressing: rings change only by a node's own join, a DYNAMO LEAVE or a
DYNAMO REMOVE, all of which travel as rings.

Failure detection. Each member's heartbeat, when its version is seen to grow (directly or by
hearsay), feeds a phi-accrual detector; phi >= threshold (8) means down. A refused or broken
connection is certain evidence, so the transport's failed connect also counts as down while its
reconnect backoff lasts. Down only routes around a node (sloppy quorum, hints): ownership never
changes on a transient failure.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import replace

import gevent

from respdyn.clock import now_ms
from respdyn.cluster import gossip
from respdyn.cluster import messages as m
from respdyn.cluster.gossip import FINAL, LEAVING, LEFT, REMOVED, VALID, MemberState
from respdyn.cluster.phi import PhiDetector
from respdyn.cluster.ring import DEFAULT_Q, Ring
from respdyn.cluster.transport import Addr, RemoteError, Transport, parse_addr

log = logging.getLogger(__name__)

GOSSIP = m.register(b"GOSSIP", 2)  #: cluster name, state -> state

#: kept for callers that build the local member (node.py)
Member = MemberState

RING_FILE = "RING"
GENERATION_FILE = "GENERATION"


def parse_seed(text: str) -> tuple[str | None, Addr]:
    """``[node_id@]host:port`` -> (node id or None, address)."""
    node_id, _, addr = text.rpartition("@")
    return (node_id or None), parse_addr(addr)


def _now_ms() -> int:
    return now_ms()  # respdyn/clock.py: a test may skew it


class Membership:
    """The member table, the failure detectors and the ring, kept current by gossip."""

    RETRY = 0.2  #: seconds between HELLO attempts to plain seeds that have not answered

    def __init__(
        self,
        me: MemberState,
        transport: Transport,
        seeds: list[str],
        q: int = DEFAULT_Q,
        cluster_name: str = "respdyn",
        interval: float = 1.0,
        phi_threshold: float = 8.0,
        data_dir: str | None = None,
    ) -> None:
        self.transport = transport
        self.q = q
        self.cluster_name = cluster_name
        self.interval = interval
        self.phi_threshold = phi_threshold
        self.data_dir = data_dir
        self.table: dict[str, MemberState] = {}
        self._members: dict[str, MemberState] | None = None
        self.detectors: dict[str, PhiDetector] = {}
        self.waiting: list[Addr] = []  #: plain seed addresses not yet heard from
        self.on_change: list[Callable[[], None]] = []  #: called after the ring changed
        #: whether this node's data was wiped since the cluster last heard of it: None until
        #: the first gossip from a peer tells (a peer that knew us with an older `born`)
        self.wiped: bool | None = None
        self.on_verdict: list[Callable[[bool], None]] = []
        self._greenlets: list[gevent.Greenlet] = []
        self._down: dict[str, tuple[float, bool]] = {}  # node -> (valid until, verdict)
        self._set(replace(me, status=VALID, generation=self._next_generation(), version=1))
        named = self._read_seeds(seeds)
        self.ring = self._first_ring(named)
        self._set(replace(self.me, ring_epoch=self.ring.epoch))
        transport.on_peer_hello = self.learn

    # -- the table -----------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.transport.node_id

    @property
    def me(self) -> MemberState:
        return self.table[self.node_id]

    @property
    def members(self) -> dict[str, MemberState]:
        """Members that are neither gone nor removed (replicas, event targets). Cached until
        the table changes: every write asks (clock pruning)."""
        if self._members is None:
            self._members = {k: v for k, v in self.table.items() if v.status not in FINAL}
        return self._members

    @property
    def complete(self) -> bool:
        return not self.waiting

    def _set(self, state: MemberState) -> None:
        self.table[state.node_id] = state
        self._members = None
        if state.node_id != self.node_id and state.cluster_addr:
            self.transport.addresses[state.node_id] = parse_addr(state.cluster_addr)

    def _read_seeds(self, seeds: list[str]) -> list[str]:
        own = self.transport.cluster_addr
        named = []
        for text in seeds:
            node_id, addr = parse_seed(text)
            if node_id == self.node_id or (node_id is None and addr == own):
                named += [self.node_id] if node_id else []
                continue
            if node_id is None:
                self.waiting.append(addr)
            else:
                named.append(node_id)
                self._set(MemberState(node_id, "", f"{addr[0]}:{addr[1]}"))
        return named

    def _first_ring(self, named: list[str]) -> Ring:
        """The seeds' ring when this node is one of them; else a placeholder any cluster ring
        outranks (epoch 0), or, alone with no seeds at all, a one-node ring. A saved ring wins
        over both when newer."""
        if self.node_id in named:
            ring = Ring.initial(named, self.q)
        elif named:
            ring = replace(Ring.initial(named, self.q), epoch=0)
        elif self.waiting:
            ring = replace(Ring.initial([self.node_id], self.q), epoch=0)
        else:
            ring = Ring.initial([self.node_id], self.q)
        saved = self._load_ring()
        return ring if saved is None else Ring.merge(ring, saved)

    def _next_generation(self) -> int:
        """This process's generation: its start time, but above the last one (saved), as
        Cassandra's. Peers ignore heartbeats of a lower generation, so a node restarted with
        its clock behind its previous start was down for everyone until the clock caught up
        (found by the fault harness: restart with a skewed clock)."""
        generation = _now_ms()
        if self.data_dir is None:
            return generation
        path = os.path.join(self.data_dir, GENERATION_FILE)
        try:
            with open(path, encoding="ascii") as f:
                generation = max(generation, int(f.read().split()[0]) + 1)
        except (OSError, ValueError, IndexError):
            pass  # first start (or a damaged file: the clock is all we have)
        with open(path + ".tmp", "w", encoding="ascii") as f:
            f.write(f"{generation}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        return generation

    # -- the ring ------------------------------------------------------------------------------

    def _load_ring(self) -> Ring | None:
        if self.data_dir is None:
            return None
        try:
            with open(os.path.join(self.data_dir, RING_FILE), "rb") as f:
                ring = Ring.decode(f.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the saved ring: %s", exc)
            return None
        return ring if ring.q == self.q else None

    def _save_ring(self) -> None:
        if self.data_dir is None:
            return
        path = os.path.join(self.data_dir, RING_FILE)
        with open(path + ".tmp", "wb") as f:
            f.write(self.ring.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)

    def adopt(self, ring: Ring) -> None:
        """Take `ring` if it wins over ours; then re-propose what it lost for us."""
        merged = Ring.merge(self.ring, ring)
        merged = self._reproposed(merged)
        if merged == self.ring:
            return
        old, self.ring = self.ring, merged
        self._set(self.me.beat(ring_epoch=merged.epoch))
        self._save_ring()
        log.info("ring epoch %d -> %d: %s", old.epoch, merged.epoch, ", ".join(merged.members))
        for callback in self.on_change:
            callback()

    def _reproposed(self, ring: Ring) -> Ring:
        """A valid member missing from the ring is added; a leaving or removed one that is
        still in it is taken out (a concurrent change outranked ours)."""
        me = self.me
        if me.status == VALID and self.node_id not in ring.members:
            ring = ring.with_node(self.node_id)
        for state in self.table.values():
            if state.status != VALID and state.node_id in ring.members and len(ring.members) > 1:
                ring = ring.without_node(state.node_id)
        return ring

    # -- operator changes ----------------------------------------------------------------------

    def set_client_addr(self, client_addr: str) -> None:
        """The client port is known only once the listener is bound (port 0 in tests)."""
        self._set(replace(self.me, client_addr=client_addr))

    def leave(self) -> Ring:
        """DYNAMO LEAVE: out of the ring now; the transfers hand the data over."""
        if len(self.ring.members) == 1:
            raise ValueError("the last node of the ring cannot leave")
        self._set(self.me.beat(status=LEAVING))
        self.adopt(self.ring.without_node(self.node_id))
        return self.ring

    def left(self) -> None:
        self._set(self.me.beat(status=LEFT))

    def remove(self, node_id: str) -> Ring:
        """DYNAMO REMOVE: `node_id` is gone for good; its partitions get new owners."""
        if node_id == self.node_id:
            raise ValueError("a node cannot remove itself (use DYNAMO LEAVE)")
        state = self.table.get(node_id)
        if state is None or state.status in FINAL:
            raise KeyError(node_id)
        self._set(replace(state, status=REMOVED, version=state.version + 1))
        self.adopt(self.ring.without_node(node_id))
        return self.ring

    # -- gossip --------------------------------------------------------------------------------

    def start(self) -> None:
        self._greenlets = [gevent.spawn(self._bootstrap), gevent.spawn(self._rounds)]

    def stop(self) -> None:
        for greenlet in self._greenlets:
            greenlet.kill(block=False)

    def state_bytes(self) -> bytes:
        """Our state; without our own row while `wiped` is undecided, so that a peer's reply
        shows what it knew of us before it heard from this process."""
        table = self.table
        if self.wiped is None:
            table = {k: v for k, v in table.items() if k != self.node_id}
        return gossip.encode_state(table, self.ring)

    def handle_gossip(self, peer: str, args: list[bytes]) -> list[bytes]:
        """A peer's GOSSIP: merge its state, answer with ours (merged)."""
        name, raw = args
        if name.decode("utf-8", "replace") != self.cluster_name:
            raise RemoteError(b"ERR", b"cluster name mismatch")
        self.receive(raw)
        return [self.state_bytes()]

    def receive(self, raw: bytes) -> None:
        try:
            members, ring = gossip.decode_state(raw)
        except gossip.StateError as exc:
            log.warning("ignoring gossip: %s", exc)
            return
        if ring.q != self.q:
            log.warning("ignoring gossip with a ring of %d partitions (ours: %d)", ring.q, self.q)
            return
        self._judge([s for s in members if s.node_id == self.node_id])
        members = [s for s in members if s.node_id != self.node_id or s.status in FINAL]
        merged, advanced = gossip.merge_members(self.table, members)
        now = time.monotonic()
        for node_id in advanced:
            state = merged[node_id]
            if node_id == self.node_id:  # removed by an operator: accept it
                self._set(state)
                continue
            self._set(state)
            if state.generation:
                self._detector(node_id).heartbeat(now)
        self.adopt(ring)

    def _judge(self, about_me: list[MemberState]) -> None:
        """The first peer state decides `wiped`: a peer remembering this node with an older
        data directory means the dots issued before the wipe are still out there."""
        if self.wiped is True:
            return
        older = any(0 < s.born < self.me.born for s in about_me)
        if older or self.wiped is None:
            self.wiped = older
            if older:
                log.warning("this node's data directory is newer than the one the cluster "
                            "knew: it was wiped; writes read the other replicas' versions "
                            "first until DYNAMO REPAIR")
            for callback in self.on_verdict:
                callback(older)

    def _detector(self, node_id: str) -> PhiDetector:
        detector = self.detectors.get(node_id)
        if detector is None:
            detector = self.detectors[node_id] = PhiDetector(
                threshold=self.phi_threshold, first_interval=self.interval,
                min_std=self.interval / 4, acceptable_pause=self.interval,
                max_interval=30 * self.interval,
            )
        return detector

    def _rounds(self) -> None:
        while True:
            gevent.sleep(self.interval * random.uniform(0.8, 1.2))
            try:
                self.round()
            except Exception:
                log.exception("gossip round failed")

    def round(self) -> None:
        """Beat, then gossip with one random member (down ones too: that is how they are
        found again)."""
        self._set(self.me.beat())
        peers = [k for k in self.members if k != self.node_id]
        if not peers:
            return
        peer = random.choice(peers)
        args = [self.cluster_name.encode(), self.state_bytes()]
        self.transport.call(peer, GOSSIP, args, self._on_reply)

    def _on_reply(self, reply: m.Reply | None) -> None:
        if reply is not None and reply.ok and len(reply.payload) == 1:
            gevent.spawn(self.receive, reply.payload[0])  # callbacks must not block

    def learn(
        self, node_id: str, client_addr: str, cluster_addr: str, dialed: str | None = None
    ) -> None:
        """A HELLO from or to `node_id` (authenticated by the transport): note its addresses.
        The cluster address we were given or dialed wins over the one a node reports (a seed
        may point at a proxy); the ring is not touched."""
        if node_id == self.node_id:
            return
        known = self.table.get(node_id)
        if known is None:
            self._set(MemberState(node_id, client_addr, dialed or cluster_addr))
            log.info("heard of %s (%s, cluster %s)", node_id, client_addr, cluster_addr)
        elif known.client_addr != client_addr and known.status not in FINAL:
            self._set(replace(known, client_addr=client_addr))

    def _bootstrap(self) -> None:
        """HELLO every plain seed until it answered (then gossip takes over); named seeds once
        too, for their client addresses."""
        named = [parse_addr(s.cluster_addr) for s in self.table.values()
                 if not s.client_addr and s.node_id != self.node_id]
        for addr in named:
            self._greet(addr)
        while self.waiting:
            for addr in list(self.waiting):
                if self._greet(addr):
                    self.waiting.remove(addr)
            if self.waiting:
                gevent.sleep(self.RETRY)
        log.info("membership: %s", ", ".join(sorted(self.members)))

    def _greet(self, addr: Addr) -> bool:
        answer = self.transport.hello(addr, timeout=self.RETRY * 5)
        if answer is None:
            return False
        node_id = answer[0]
        self.learn(*answer, dialed=f"{addr[0]}:{addr[1]}")
        self.transport.call(node_id, GOSSIP, [self.cluster_name.encode(), self.state_bytes()],
                            self._on_reply)
        return True

    # -- health --------------------------------------------------------------------------------

    #: seconds a verdict of `is_down` is reused: every write asks for each replica, and phi
    #: costs a few microseconds to compute; a refused connection is noticed at once anyway
    #: (its call fails and the write takes a stand-in)
    DOWN_TTL = 0.05

    def is_down(self, node_id: str) -> bool:
        """Phi says so, or the last connection attempt failed and its backoff still runs."""
        now = time.monotonic()
        cached = self._down.get(node_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        down = self._judge_down(node_id, now)
        self._down[node_id] = (now + self.DOWN_TTL, down)
        return down

    def _judge_down(self, node_id: str, now: float) -> bool:
        if node_id == self.node_id:
            return False
        link = self.transport.links.get(node_id)
        if link is not None and not link.up and link.retry_at > now:
            return True
        detector = self.detectors.get(node_id)
        return detector is not None and not detector.available(now)

    def phi(self, node_id: str) -> float:
        detector = self.detectors.get(node_id)
        return 0.0 if detector is None else detector.phi(time.monotonic())

    def state(self, node_id: str) -> str:
        """DYNAMO MEMBERS' state word: self, up, down, unknown (no heartbeat heard yet), or a
        status past valid."""
        if node_id == self.node_id:
            return "self"
        status = self.table[node_id].status
        if status != VALID:
            return status
        if self.is_down(node_id):
            return "down"
        if node_id not in self.detectors:
            return "unknown"  # no heartbeat heard yet
        return "up"


__all__ = ["GOSSIP", "LEAVING", "LEFT", "REMOVED", "VALID", "Member", "Membership", "parse_seed"]
