"""Who is in the cluster: static membership from `--seeds` plus the HELLO handshake.

This is deliberately the smallest thing that works, and replaceable: the next issue brings
gossip, a failure detector and join/leave. For now the members are this node plus every node
that introduced itself (each seed answers HELLO with its node id, client address and cluster
address; a node that lists us as a seed introduces itself when it connects), and the ring is
``Ring.initial(sorted member ids)`` — the same on every node once they know the same members.

A seed may be given as ``node_id@host:port`` so that the node is a member (and its partitions
are placed) even when it is down at start-up; a plain ``host:port`` seed becomes a member when it
first answers. Until every seed has answered, `complete` is False (DYNAMO MEMBERS shows it and
the test fixtures wait for it); requests are served meanwhile with the ring known so far.

Member state ("self", "up", "down", "unknown") comes from the transport: a member is up while
its connection is open, down after a failed attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import gevent

from respdyn.cluster.ring import DEFAULT_Q, Ring
from respdyn.cluster.transport import Addr, Transport, parse_addr

log = logging.getLogger(__name__)


@dataclass
class Member:
    node_id: str
    client_addr: str  #: "host:port" clients use
    cluster_addr: str  #: "host:port" of the inter-node listener


def parse_seed(text: str) -> tuple[str | None, Addr]:
    """``[node_id@]host:port`` -> (node id or None, address)."""
    node_id, _, addr = text.rpartition("@")
    return (node_id or None), parse_addr(addr)


class Membership:
    """The member table and the ring computed from it."""

    RETRY = 0.2  #: seconds between HELLO attempts to seeds that have not answered
    NAMED_ROUNDS = 50  #: attempts to greet a `node_id@host:port` seed before leaving it to links

    def __init__(
        self, me: Member, transport: Transport, seeds: list[str], q: int = DEFAULT_Q
    ) -> None:
        self.me = me
        self.transport = transport
        self.q = q
        self.members: dict[str, Member] = {me.node_id: me}
        self.waiting: list[Addr] = []  #: seed addresses not yet heard from
        self.on_change: list[Callable[[], None]] = []
        own = parse_addr(me.cluster_addr)
        for text in seeds:
            node_id, addr = parse_seed(text)
            if addr == own or node_id == me.node_id:
                continue
            if node_id is not None:
                self._add(Member(node_id, "", f"{addr[0]}:{addr[1]}"))  # greeted in start()
            else:
                self.waiting.append(addr)
        self.ring = Ring.initial(self.members, q)
        transport.on_peer_hello = self.learn
        self._greenlet: gevent.Greenlet | None = None

    @property
    def complete(self) -> bool:
        return not self.waiting

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._bootstrap)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def learn(
        self, node_id: str, client_addr: str, cluster_addr: str, dialed: str | None = None
    ) -> None:
        """A HELLO from or to `node_id`: add it, or fill in its client address.

        The cluster address we reach a member at is the one we were given or dialed (a seed
        may point at a proxy or a NAT address); the address a node reports about itself is
        used only for a member nobody told us about (it connected to us first)."""
        if node_id == self.me.node_id:
            return
        known = self.members.get(node_id)
        address = known.cluster_addr if known is not None else dialed or cluster_addr
        if known is not None and known.client_addr == client_addr:
            return
        self._add(Member(node_id, client_addr, address))
        if known is None:
            log.info("member %s joined (%s, cluster %s)", node_id, client_addr, cluster_addr)
            self.ring = Ring.initial(self.members, self.q)
            for callback in self.on_change:
                callback()

    def _add(self, member: Member) -> None:
        self.members[member.node_id] = member
        self.transport.addresses[member.node_id] = parse_addr(member.cluster_addr)

    def _bootstrap(self) -> None:
        """HELLO every seed until it answered; named seeds too (for their client addresses,
        shown by DYNAMO MEMBERS), but those do not hold `complete` back and are given up on
        after a while (their links introduce them when they come up)."""
        named = [parse_addr(m.cluster_addr) for m in self.members.values() if not m.client_addr]
        rounds = 0
        while self.waiting or (named and rounds < self.NAMED_ROUNDS):
            for addr in [*self.waiting, *named]:
                answer = self.transport.hello(addr, timeout=self.RETRY * 5)
                if answer is None:
                    continue
                self.learn(*answer, dialed=f"{addr[0]}:{addr[1]}")
                for pending in (self.waiting, named):
                    if addr in pending:
                        pending.remove(addr)
            rounds += 1
            if self.waiting or named:
                gevent.sleep(self.RETRY)
        log.info("membership: %s", ", ".join(sorted(self.members)))

    def state(self, node_id: str) -> str:
        if node_id == self.me.node_id:
            return "self"
        up = self.transport.is_up(node_id)
        return {True: "up", False: "down", None: "unknown"}[up]
