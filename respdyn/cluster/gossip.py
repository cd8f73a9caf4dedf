"""Gossip state: what members tell each other about the cluster, and how two views merge.

Sources: Cassandra's gossiper (each node's state carries a heartbeat ``(generation, version)``:
the generation is the process start time, the version grows every round, and the greater pair
wins; a node gossips with one random peer per second); Riak's ring gossip (the ring travels
with the state and the higher version wins).

Pure: no sockets, no clocks (the caller passes times in). `Membership` runs the rounds.

State of one member (`MemberState`): ids and addresses, a status, the heartbeat, and the ring
epoch the member itself has adopted (transfers wait for every member to be on the new ring
before old owners drop data). Status:

    valid    serving; owns partitions once it is in the ring
    leaving  handing its partitions to the new owners (DYNAMO LEAVE); not in the ring any more
    left     done; gone for good
    removed  declared dead for good by an operator (DYNAMO REMOVE)

``left`` and ``removed`` are final: they win over any heartbeat, so a stale copy of the member
cannot bring it back into the ring (a node id is never reused; a new node takes a new id).

Wire form: the GOSSIP op carries ``cluster name, state``, and the reply the peer's state::

    state := JSON {"members": [[node_id, client_addr, cluster_addr, status, generation,
                                version, ring_epoch, born], ...],
                   "ring": base64(Ring.encode())}
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace

from respdyn.cluster.ring import Ring

VALID, LEAVING, LEFT, REMOVED = "valid", "leaving", "left", "removed"
STATUSES = (VALID, LEAVING, LEFT, REMOVED)
FINAL = frozenset({LEFT, REMOVED})


class StateError(ValueError):
    """A peer's gossip that is not a state of this protocol."""


@dataclass(frozen=True, slots=True)
class MemberState:
    node_id: str
    client_addr: str
    cluster_addr: str
    status: str = VALID
    generation: int = 0  #: the member's process start (ms); 0 = only heard of, never heard
    version: int = 0  #: heartbeat: grows every gossip round of that member
    ring_epoch: int = 0  #: the ring epoch the member has adopted
    born: int = 0  #: when the member's data directory was created (ms); 0 = not known. A
    #: member heard of with an older `born` than its own had its data wiped (see membership)

    @property
    def heartbeat(self) -> tuple[int, int]:
        return self.generation, self.version

    def beat(self, **changes: object) -> MemberState:
        """This member's next heartbeat, with `changes` (only the member itself beats)."""
        return replace(self, version=self.version + 1, **changes)  # type: ignore[arg-type]


def newer(a: MemberState, b: MemberState) -> bool:
    """Whether `a` supersedes `b` (same member): a final status first, then the heartbeat."""
    if (a.status in FINAL) != (b.status in FINAL):
        return a.status in FINAL
    return a.heartbeat > b.heartbeat


def merge_members(
    mine: dict[str, MemberState], theirs: list[MemberState]
) -> tuple[dict[str, MemberState], list[str]]:
    """The merged table and the ids whose state advanced (their heartbeats were heard).
    A member's cluster address is local knowledge: the one this node was given or dialed is
    kept; a gossiped one is used only for a member this node knew no address of."""
    merged = dict(mine)
    advanced = []
    for state in theirs:
        known = merged.get(state.node_id)
        if known is None or newer(state, known):
            if known is not None:  # where *we* reach it stays ours (a seed may be a proxy)
                state = replace(state, cluster_addr=known.cluster_addr or state.cluster_addr,
                                client_addr=state.client_addr or known.client_addr)
            merged[state.node_id] = state
            advanced.append(state.node_id)
    return merged, advanced


def encode_state(members: dict[str, MemberState], ring: Ring) -> bytes:
    rows = [
        [s.node_id, s.client_addr, s.cluster_addr, s.status, s.generation, s.version,
         s.ring_epoch, s.born]
        for s in members.values()
    ]
    ring_b64 = base64.b64encode(ring.encode()).decode()
    return json.dumps({"members": rows, "ring": ring_b64}, separators=(",", ":")).encode()


def decode_state(raw: bytes) -> tuple[list[MemberState], Ring]:
    try:
        doc = json.loads(raw)
        ring = Ring.decode(base64.b64decode(doc["ring"], validate=True))
        members = [_member(row) for row in doc["members"]]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise StateError(f"bad gossip state: {exc}") from None
    return members, ring


def _member(row: list) -> MemberState:
    if not isinstance(row, list) or len(row) not in (7, 8):
        raise StateError("bad member row")
    node_id, client_addr, cluster_addr, status, generation, version, epoch = row[:7]
    born = row[7] if len(row) == 8 else 0
    texts = (node_id, client_addr, cluster_addr, status)
    if not all(isinstance(t, str) for t in texts) or not node_id or status not in STATUSES:
        raise StateError("bad member row")
    counters = (generation, version, epoch, born)
    if not all(type(i) is int and i >= 0 for i in counters):
        raise StateError("bad member counters")
    return MemberState(node_id, client_addr, cluster_addr, status, generation, version, epoch,
                       born)
