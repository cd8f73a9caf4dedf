"""The ring: which nodes hold which keys.

Sources: the Dynamo paper (DeCandia et al., SOSP 2007, §4.2-4.3 and §6.2 "strategy 3": the hash
space is cut into Q equal partitions and each of S nodes owns about Q/S of them, so a join or a
leave moves whole partitions and nothing else); Riak core's ring (``chash``, ``riak_core_claim``:
64 partitions by default, ``target_n_val`` spacing, claim that moves few partitions).

Layout. Redis Cluster's 16384 CRC16 slots (`hashing`) are the hash space, so a key's placement is
``partition = slot // (16384 // Q)`` and keys sharing a ``{hash tag}`` share a slot, hence a
partition and a replica set. Q is a power of two dividing 16384 (default 64, like Riak).

Claim (own algorithm, after the properties Riak's claim documents: spacing, balance, few moves):
- `Ring.initial` lays the nodes out in sequence (round robin, Riak's wrap-around fix), which is
  balanced to within one partition and keeps ``target_n`` spacing whenever S > target_n.
- a join moves exactly ``Q // (S+1)`` partitions to the new node (the fewest that balance it),
  taken from nodes above their balanced share, preferring positions at least ``target_n`` away
  from the new node's other partitions, then positions that fix a donor's spacing, then the
  position farthest from the new node's others. A leave hands each partition of the leaver to the
  least loaded node, preferring one that keeps its spacing.
- then a repair pass swaps owners of partition pairs while that removes spacing violations (a
  swap keeps the balance), moving at most ``Q // 16`` partitions more than the minimum.
- spacing: ``target_n`` (default 4, as Riak's ``target_n_val``) consecutive partitions have
  distinct owners once S > target_n (measured: 0 violations from 6 nodes up with Q = 64 or 256),
  so a preference list of N <= target_n is the next N partitions' owners. In smaller rings grown
  node by node some windows repeat a node: preference lists still hold N distinct nodes (they
  skip repeats), and replica load stays within about 6% (4 nodes: 45..50 preference lists of
  64 each, against 48 ideal), which Riak's fallback (a full re-layout moving ~3/4 of the data)
  would buy at far higher handoff cost.
- speed: a claim runs in the caller's process (a gevent server: it blocks the loop), so it is
  incremental: under 10 ms for Q = 64, under 0.5 s for Q = 1024.

Preference lists walk clockwise from the key's partition and take the first N *distinct* owners;
`fallbacks` continues the walk past down nodes (sloppy quorum, Dynamo §4.6) and says whose hint
each stand-in holds.

Versions. Every change makes a new `Ring` with ``epoch + 1``. Two rings are merged by
`Ring.merge`: the higher epoch wins; equal epochs with different contents (two nodes changed the
same ring at once) are ordered by their encodings, greatest wins. That is a max over a total
order, hence commutative, associative and idempotent, so gossip converges; the losing change is
not lost silently: a node that finds itself missing from (or still in) the merged ring re-proposes
its join (leave) on top of it.

Wire format (``encode``), all integers big-endian::

    ring   := magic "RDRG", version: u8 = 1, epoch: u64, q: u16, n_members: u16,
              member{n_members}, owner{q}
    member := length: u16, node id: utf-8[length]
    owner  := index into the members: u16
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from respdyn.cluster.hashing import SLOTS, key_slot

#: Default partition count (Riak's default ring size); a power of two dividing 16384.
DEFAULT_Q = 64
#: Consecutive partitions that should have distinct owners (Riak's target_n_val default).
TARGET_N = 4

_REPAIR_PASSES = 4  # passes of the spacing repair; later passes rarely find more

_MAGIC = b"RDRG"
_VERSION = 1
_HEAD = struct.Struct(">4sBQHH")
_U16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class Ring:
    """An immutable ring: ``owners[p]`` is the node owning partition p."""

    epoch: int
    members: tuple[str, ...]  # sorted, distinct
    owners: tuple[str, ...]  # one per partition

    def __post_init__(self) -> None:
        _check_q(len(self.owners))
        if not self.members or list(self.members) != sorted(set(self.members)):
            raise ValueError("ring members must be sorted, distinct, non-empty")
        if not set(self.owners) <= set(self.members):
            raise ValueError("every partition owner must be a ring member")

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def initial(cls, node_ids: Iterable[str], q: int = DEFAULT_Q, target_n: int = TARGET_N) -> Ring:
        """A ring over `node_ids` at epoch 1: the sequential layout (round robin, wrap fixed)."""
        _check_q(q)
        nodes = sorted(set(node_ids))
        if not nodes:
            raise ValueError("a ring needs at least one node")
        for node in nodes:
            _check_node(node)
        pattern = _sequential(q, len(nodes), min(target_n, len(nodes)))
        owners = [nodes[label] for label in pattern]
        return cls(1, tuple(nodes), tuple(owners))

    def with_node(self, node_id: str, target_n: int = TARGET_N) -> Ring:
        """The ring after `node_id` joins (no-op if it is a member)."""
        _check_node(node_id)
        if node_id in self.members:
            return self
        owners = _claim_join(list(self.owners), list(self.members), node_id, target_n)
        members = tuple(sorted((*self.members, node_id)))
        return Ring(self.epoch + 1, members, tuple(owners))

    def without_node(self, node_id: str, target_n: int = TARGET_N) -> Ring:
        """The ring after `node_id` leaves (no-op if it is not a member)."""
        if node_id not in self.members:
            return self
        if len(self.members) == 1:
            raise ValueError("the last node cannot leave the ring")
        rest = [m for m in self.members if m != node_id]
        owners = _claim_leave(list(self.owners), rest, node_id, target_n)
        return Ring(self.epoch + 1, tuple(rest), tuple(owners))

    # ---- placement ----------------------------------------------------------------------------

    @property
    def q(self) -> int:
        return len(self.owners)

    def owner(self, partition: int) -> str:
        return self.owners[partition]

    def partition_of_slot(self, slot: int) -> int:
        return slot // (SLOTS // len(self.owners))

    def partition_of_key(self, key: bytes) -> int:
        return key_slot(key) // (SLOTS // len(self.owners))

    def slots_of(self, partition: int) -> range:
        """The hash slots of `partition` (for CLUSTER SLOTS/SHARDS style answers)."""
        width = SLOTS // len(self.owners)
        return range(partition * width, (partition + 1) * width)

    def partitions_of(self, node_id: str) -> tuple[int, ...]:
        return tuple(p for p, owner in enumerate(self.owners) if owner == node_id)

    def preference_list(self, partition: int, n: int) -> list[str]:
        """The first `n` distinct owners walking clockwise from `partition` (fewer if S < n)."""
        return self._walk(partition, n, frozenset())

    def fallbacks(
        self, partition: int, n: int, down: set[str] | frozenset[str]
    ) -> list[tuple[str, str | None]]:
        """Sloppy-quorum targets: ``(node, None)`` for each healthy member of the preference list,
        ``(stand_in, intended)`` for each down one, the stand-ins being the next healthy distinct
        owners clockwise past the preference list (Dynamo §4.6). A down node with no healthy
        stand-in left is omitted, so the result may be shorter than `n`.
        """
        owners, q = self.owners, len(self.owners)
        seen: set[str] = set()
        result: list[tuple[str, str | None]] = []
        missing: list[str] = []  # down members of the preference list, in order
        i = 0
        while i < q and len(seen) < n:  # the preference list
            node = owners[(partition + i) % q]
            i += 1
            if node not in seen:
                seen.add(node)
                result.append((node, None))
                if node in down:
                    missing.append(node)
        if not missing:
            return result
        stand_ins: dict[str, str] = {}
        while i < q and len(stand_ins) < len(missing):  # continue clockwise past it
            node = owners[(partition + i) % q]
            i += 1
            if node not in seen and node not in down:
                seen.add(node)
                stand_ins[missing[len(stand_ins)]] = node
        return [
            (stand_ins[node], node) if node in down else (node, None)
            for node, _ in result
            if node not in down or node in stand_ins
        ]

    def _walk(self, partition: int, n: int, skip: frozenset[str]) -> list[str]:
        owners, q = self.owners, len(self.owners)
        seen: list[str] = []
        for i in range(q):
            node = owners[(partition + i) % q]
            if node not in skip and node not in seen:
                seen.append(node)
                if len(seen) == n:
                    break
        return seen

    def transfers(self, new: Ring) -> list[tuple[int, str, str]]:
        """``(partition, from_node, to_node)`` for each partition that changes owner between
        this ring and `new` (same Q): the handoffs a ring change implies."""
        if len(new.owners) != len(self.owners):
            raise ValueError("rings with different partition counts")
        return [
            (p, old, now)
            for p, (old, now) in enumerate(zip(self.owners, new.owners, strict=True))
            if old != now
        ]

    # ---- versions and wire form ---------------------------------------------------------------

    @staticmethod
    def merge(a: Ring, b: Ring) -> Ring:
        """Deterministic winner of two rings (see the module docstring)."""
        if a.epoch != b.epoch:
            return a if a.epoch > b.epoch else b
        if a == b:
            return a
        return a if a.encode() > b.encode() else b

    def encode(self) -> bytes:
        index = {node: i for i, node in enumerate(self.members)}
        parts = [_HEAD.pack(_MAGIC, _VERSION, self.epoch, len(self.owners), len(self.members))]
        for node in self.members:
            raw = node.encode()
            parts.append(_U16.pack(len(raw)) + raw)
        parts.append(struct.pack(f">{len(self.owners)}H", *(index[o] for o in self.owners)))
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> Ring:
        """Parse `encode`'s output; ValueError on anything malformed."""
        try:
            magic, version, epoch, q, n_members = _HEAD.unpack_from(data, 0)
            if magic != _MAGIC:
                raise ValueError("bad ring magic")
            if version != _VERSION:
                raise ValueError(f"unsupported ring version {version}")
            _check_q(q)
            pos = _HEAD.size
            members = []
            for _ in range(n_members):
                (length,) = _U16.unpack_from(data, pos)
                pos += 2
                if pos + length > len(data):
                    raise ValueError("truncated ring member")
                members.append(data[pos : pos + length].decode())
                pos += length
            indexes = struct.unpack_from(f">{q}H", data, pos)
            pos += 2 * q
        except (struct.error, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed ring: {exc}") from exc
        if pos != len(data):
            raise ValueError("trailing bytes after ring")
        if any(i >= n_members for i in indexes):
            raise ValueError("ring owner index out of range")
        return cls(epoch, tuple(members), tuple(members[i] for i in indexes))

    # ---- measures -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Partitions owned per member (members owning none included)."""
        result = dict.fromkeys(self.members, 0)
        for owner in self.owners:
            result[owner] += 1
        return result

    def spacing_violations(self, target_n: int = TARGET_N) -> int:
        """Partitions whose owner reappears within the next ``min(target_n, S) - 1`` ones."""
        return _violations(self.owners, min(target_n, len(self.members)))


# ---- claim ------------------------------------------------------------------------------------


def _claim_join(owners: list[str], members: list[str], new: str, target_n: int) -> list[str]:
    """Give `new` ``q // (S+1)`` partitions, taken from the most loaded owners (see module doc)."""
    q = len(owners)
    window = min(target_n, len(members) + 1)
    before = tuple(owners)
    counts = dict.fromkeys(members, 0)
    for owner in owners:
        counts[owner] += 1
    share = -(-q // (len(members) + 1))
    near = [q] * q  # cyclic distance from each partition to the nearest one `new` owns
    crowded = [_too_close(owners, p, owners[p], window) for p in range(q)]
    for taken in range(q // (len(members) + 1)):
        best: tuple[bool, bool, bool, int, int, int] | None = None
        for p in range(q):
            donor = owners[p]
            if donor == new or counts[donor] < taken + 2:
                continue  # taking from it would not improve the balance
            score = (
                counts[donor] > share,  # the donor holds more than its balanced share
                near[p] >= window,  # keeps new's spacing
                crowded[p],  # repairs the donor's spacing
                counts[donor],
                near[p],
                -p,
            )
            if best is None or score > best:
                best = score
        if best is None:
            break
        p = -best[-1]
        counts[owners[p]] -= 1
        owners[p] = new
        _update_near(near, p)
        for d in range(-window + 1, window):
            i = (p + d) % q
            crowded[i] = _too_close(owners, i, owners[i], window)
    return _repaired(owners, before, window)


def _update_near(near: list[int], p: int) -> None:
    """Partition p is now owned: lower the distances around it. Distances change by at most one
    per step, so each direction stops at the first partition that is already as near."""
    q = len(near)
    near[p] = 0
    for step in (1, -1):
        for d in range(1, q):
            i = (p + step * d) % q
            if near[i] <= d:
                break
            near[i] = d


def _claim_leave(owners: list[str], rest: list[str], leaver: str, target_n: int) -> list[str]:
    """Hand each of `leaver`'s partitions to a least loaded owner, keeping spacing if possible."""
    q = len(owners)
    window = min(target_n, len(rest))
    before = tuple(owners)
    counts = dict.fromkeys(rest, 0)
    for owner in owners:
        if owner != leaver:
            counts[owner] += 1
    for p in range(q):
        if owners[p] != leaver:
            continue
        chosen = max(rest, key=lambda m: (-counts[m], not _too_close(owners, p, m, window), m))
        owners[p] = chosen
        counts[chosen] += 1
    return _repaired(owners, before, window)


def _repaired(owners: list[str], before: list[str] | tuple[str, ...], window: int) -> list[str]:
    """Swap owners of partition pairs where that removes spacing conflicts.

    A conflict is a pair of partitions fewer than `window` apart with the same owner. A swap keeps
    every node's partition count, so the balance the claim reached is kept; each swap moves at
    most two more partitions, and the extra moves are capped at ``q // 16`` (4 on a 64-partition
    ring). Each pass tries, for every partition in a conflict, every partner and takes the swap
    that removes most conflicts: O(conflicting partitions * q * window) per pass.
    """
    q = len(owners)
    if window < 2 or q < 2 * window:
        return owners  # nothing to space, or a ring too small for windows not to overlap
    changed = {p for p in range(q) if owners[p] != before[p]}
    budget = len(changed) + q // 16
    for _ in range(_REPAIR_PASSES):
        if not _repair_pass(owners, before, window, changed, budget):
            break
    return owners


def _repair_pass(
    owners: list[str],
    before: list[str] | tuple[str, ...],
    window: int,
    changed: set[int],
    budget: int,
) -> bool:
    """One pass of `_repaired`; True if it swapped anything."""
    q = len(owners)
    swapped = False
    for p in range(q):
        if len(changed) + 2 > budget:
            break
        here = owners[p]
        around_p = _around(owners, p, window)
        if not around_p.get(here):
            continue
        best_gain, partner = 0, -1
        for other in range(q):
            there = owners[other]
            if there == here:
                continue
            adjacent = 1 if min((p - other) % q, (other - p) % q) < window else 0
            around_o = _around(owners, other, window)
            gain = (
                around_p[here]
                + around_o.get(there, 0)
                - (around_p.get(there, 0) - adjacent)
                - (around_o.get(here, 0) - adjacent)
            )
            if gain > best_gain:
                best_gain, partner = gain, other
        if partner >= 0:
            owners[p], owners[partner] = owners[partner], here
            swapped = True
            for i in (p, partner):
                if owners[i] != before[i]:
                    changed.add(i)
                else:
                    changed.discard(i)
    return swapped


def _around(owners: list[str], p: int, window: int) -> dict[str, int]:
    """How often each node owns a partition fewer than `window` steps from p (p excluded)."""
    q = len(owners)
    found: dict[str, int] = {}
    for d in range(1, window):
        for i in ((p + d) % q, (p - d) % q):
            node = owners[i]
            found[node] = found.get(node, 0) + 1
    return found


def _sequential(q: int, s: int, window: int) -> list[int]:
    """Round robin over s labels with Riak's wrap-around fix, balanced to within one.

    Plain round robin ends with a partial block of ``r = q % s`` labels; when ``0 < r < window``
    the wrap to partition 0 puts a label within `window` of itself. Fix (Riak claim_rebalance):
    extend the tail block to `window` labels and drop the added labels, last first, from the
    first full blocks, which then have s-1 labels (still >= window when s > window).
    """
    full, r = divmod(q, s)
    blocks = [list(range(s)) for _ in range(full)]
    if r:
        blocks.append(list(range(r)))
        extra = window - r
        if 0 < extra <= full and s > window:
            blocks[-1] = list(range(window))
            for i, label in enumerate(reversed(range(r, window))):
                blocks[i].remove(label)
    return [label for block in blocks for label in block]


def _violations(owners: list[str] | tuple[str, ...], window: int) -> int:
    return sum(_too_close(owners, p, owners[p], window) for p in range(len(owners)))


def _too_close(owners: list[str] | tuple[str, ...], p: int, node: str, window: int) -> bool:
    """True if `node` owns another partition fewer than `window` steps from p, either way."""
    q = len(owners)
    return any(owners[(p + d) % q] == node or owners[(p - d) % q] == node for d in range(1, window))


def _check_q(q: int) -> None:
    if q < 1 or q > SLOTS or q & (q - 1):
        raise ValueError(f"partition count must be a power of two in 1..{SLOTS}, got {q}")


def _check_node(node_id: str) -> None:
    if not node_id or len(node_id.encode()) > 0xFFFF:
        raise ValueError(f"bad node id {node_id!r}")
