"""A PN-counter per node id with a base value: INCR/DECR/INCRBY/DECRBY keys and HINCRBY fields.

Each node that increments keeps its own pair (p, n) of totals added and subtracted; merging
takes the pointwise maximum, so concurrent increments on two sides of a partition add up
(Shapiro et al., "A comprehensive study of CRDTs", 2011, PN-Counter; riak_dt_pncounter). The
value is `base + sum(p) - sum(n)`.

The base is the integer a plain string (or hash register) held when the first INCR turned it
into a counter. Its `tag` names that conversion: (timestamp, node) of the string version that
was converted, so two sides converting the same replicated string pick the same tag and their
increments still add up. A counter created on a missing key has the zero tag (0, b"", 0).
Counters with different (tag, base) are different incarnations of the key: the greater one wins
whole (a later SET-then-INCR replaces an older counter; see docs/datatypes.md).

    counter := format: u8 = 0x01, base: svarint, tag_ts: uvarint, tag_node: blob,
               count: uvarint, entry{count}                       (entries sorted by node)
    entry   := node: blob, p: uvarint, n: uvarint
"""

from __future__ import annotations

from dataclasses import dataclass, field

from respdyn.keyspace.crdt.codec import Reader, Writer, expect_format

FORMAT = 0x01  #: on disk: do not renumber


@dataclass(slots=True)
class Counter:
    base: int = 0
    tag_ts: int = 0  #: timestamp (ms) of the converted string version; 0 for a fresh counter
    tag_node: bytes = b""  #: node id of that version
    entries: dict[bytes, tuple[int, int]] = field(default_factory=dict)  #: node -> (p, n)

    def value(self) -> int:
        return self.base + sum(p - n for p, n in self.entries.values())

    def incarnation(self) -> tuple[int, bytes, int]:
        return self.tag_ts, self.tag_node, self.base


def fresh() -> Counter:
    return Counter()


def from_int(base: int, tag_ts: int, tag_node: bytes) -> Counter:
    """The counter a string holding `base` becomes (tag: that string version's identity)."""
    return Counter(base, tag_ts, tag_node)


def add(counter: Counter, actor: bytes, delta: int) -> Counter:
    """`counter` plus `delta` as contributed by `actor` (the node serving the command)."""
    entries = dict(counter.entries)
    p, n = entries.get(actor, (0, 0))
    entries[actor] = (p + delta, n) if delta >= 0 else (p, n - delta)
    return Counter(counter.base, counter.tag_ts, counter.tag_node, entries)


def merge(a: Counter, b: Counter) -> Counter:
    """Join: the greater incarnation wins whole; within one, each node's (p, n) pointwise max."""
    ka, kb = a.incarnation(), b.incarnation()
    if ka != kb:
        return a if ka > kb else b
    entries = dict(a.entries)
    for node, (p, n) in b.entries.items():
        mine = entries.get(node)
        entries[node] = (p, n) if mine is None else (max(p, mine[0]), max(n, mine[1]))
    return Counter(a.base, a.tag_ts, a.tag_node, entries)


def merge_all(counters: list[Counter]) -> Counter:
    out = counters[0]
    for c in counters[1:]:
        out = merge(out, c)
    return out


def encode(counter: Counter) -> bytes:
    w = Writer(FORMAT)
    w.sint(counter.base)
    w.uint(counter.tag_ts)
    w.blob(counter.tag_node)
    w.uint(len(counter.entries))
    for node in sorted(counter.entries):
        p, n = counter.entries[node]
        w.blob(node)
        w.uint(p)
        w.uint(n)
    return w.bytes()


def decode(data: bytes) -> Counter:
    r = Reader(data)
    expect_format(r, FORMAT, "counter")
    base = r.sint()
    tag_ts = r.uint()
    tag_node = r.blob()
    entries = {}
    for _ in range(r.uint()):
        node = r.blob()
        entries[node] = (r.uint(), r.uint())
    return Counter(base, tag_ts, tag_node, entries)


def merge_payloads(payloads: list[bytes]) -> bytes:
    """The keyspace merger for Kind.COUNTER siblings."""
    return encode(merge_all([decode(p) for p in payloads]))
