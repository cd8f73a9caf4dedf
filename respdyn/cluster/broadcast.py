"""Cross-node events, fire and forget: "a push landed on this key" (wakes pops blocked on other
nodes) and "a message was published" (reaches every node's subscribers).

One inter-node operation, sent by the node where the event happened to every other member over
the existing links (batched and pipelined like the rest):

    op       args                                   ok payload
    EVENT    "pushed", db (decimal), key            -
    EVENT    "published", channel, message          -

Delivery is best effort, as Redis Cluster's pub/sub: a peer that is down or cut off misses the
event (a blocked pop there still re-checks its keys periodically; a subscriber misses the
message, as a disconnected Redis subscriber would). Events from one node reach another in the
order they were sent: the link keeps frame order and the receiver handles EVENT inline.

Cost: one small frame per other member for every push and every PUBLISH.

This module does not know the command layer: node.py hands it the callbacks that deliver an
incoming event locally (the notifier's `remote_key_changed` and `deliver`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from respdyn.cluster import messages as m

log = logging.getLogger(__name__)

EVENT = b"EVENT"
PUSHED, PUBLISHED = b"pushed", b"published"


def _ignore(reply: m.Reply | None) -> None:
    """Fire and forget: a lost event is the documented outcome."""


class Broadcast:
    def __init__(
        self,
        transport: Any,
        members: Callable[[], Iterable[str]],
        on_pushed: Callable[[int, bytes], Any],
        on_published: Callable[[bytes, bytes], Any],
    ) -> None:
        self.transport = transport
        self.members = members
        self.on_pushed = on_pushed
        self.on_published = on_published
        self.sent = 0
        self.received = 0

    def pushed(self, db: int, key: bytes) -> None:
        self._send([PUSHED, b"%d" % db, key])

    def published(self, channel: bytes, message: bytes) -> None:
        self._send([PUBLISHED, channel, message])

    def _send(self, args: list[bytes]) -> None:
        me = self.transport.node_id
        for node_id in self.members():
            if node_id != me:
                self.sent += 1
                self.transport.call(node_id, EVENT, args, _ignore)

    def handle(self, peer: str, args: list[bytes]) -> list[bytes]:
        """A peer's EVENT: deliver it to this node's clients; never fails the peer."""
        self.received += 1
        kind, a, b = args
        if kind == PUSHED and a.isdigit():
            self.on_pushed(int(a), b)
        elif kind == PUBLISHED:
            self.on_published(a, b)
        else:
            log.debug("ignoring unknown event %r from %s", kind[:20], peer)
        return []


def attach(
    coordinator: Any,
    on_pushed: Callable[[int, bytes], Any],
    on_published: Callable[[bytes, bytes], Any],
) -> Broadcast:
    """Serve EVENT on this node's transport; returns the broadcaster to send events with.
    Events are handled inline, so they keep their order per link."""
    transport = coordinator.transport
    broadcast = Broadcast(transport, lambda: list(coordinator.membership.members), on_pushed,
                          on_published)
    coordinator.serve(m.register(EVENT, 3), lambda peer, args: broadcast.handle(peer, args),
                      inline=True)
    return broadcast
