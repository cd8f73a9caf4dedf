"""A Redis list as a CRDT payload: concurrent versions merge instead of one winning.

Pure (no I/O, no gevent): the list commands decode a payload, edit it, encode it again; the
keyspace calls `merge` on the payloads of concurrent siblings (`Keyspace.mergers`).

The model (a sequence CRDT in the Logoot family, Weiss, Urso & Molli 2009):

- Every element has a unique, immutable *position*: a tuple of `(digit, node, seq)` triples
  compared lexicographically; the last triple's `(node, seq)` is the element's id. The list is
  the live elements sorted by position, so two replicas holding the same elements agree on the
  order whatever order the pushes arrived in.
- RPUSH takes `((tail digit + STEP, node, seq),)`, LPUSH `((head digit - STEP, node, seq),)`,
  LINSERT a position strictly between its neighbours (`between`): the midpoint digit when there
  is room, else one level deeper. Concurrent pushes at the same end get the same digit and are
  ordered by `(node, seq)`: all are kept, in the same order on every node.
- LSET rewrites an element's value with a write id; concurrent LSETs of one element keep the
  greatest write id (last writer wins, deterministically).
- Removing (pops, LREM, LTRIM) records the id in `removed`, kept per node as seq ranges (ids a
  node issues are consecutive, so a queue's pops stay one range). Merge = union of elements
  minus union of removed ids: commutative, associative, idempotent (a join semilattice).

Consequence (documented in docs/datatypes.md): an element popped on both sides of a partition
is delivered twice (at-least-once, like Redis Enterprise Active-Active lists).

Encoding (integers are LEB128 varints; digits zigzag-encoded; node ids by table index):

    payload := format: u8 = 0x01, nodes: count, node{count},
               elements: count, element{count}, removed: count, range{count}
    node    := length, bytes
    element := depth, (digit: zigzag, node: index, seq_delta: zigzag){depth},
               flags: u8 (bit 0: rewritten), [write_node: index, write_seq],
               value_length, value
    range   := node: index, first_seq, last_seq              (inclusive)

A seq is stored as its difference from the previous triple's seq (0 before the first), so a
run of pushes costs one byte of seq each. Elements are stored in position order, ranges by node
id, so equal lists encode to equal bytes (every replica stores the same merge). A whole value is
read and rewritten by every command, so a list costs O(length) per command (see
docs/datatypes.md).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from respdyn.keyspace.crdt.codec import read_uvarint

FORMAT = 0x01  #: first byte of an encoded list (do not renumber)
STEP = 1 << 16  #: digit gap between consecutive pushes, room for LINSERT midpoints
FLAG_REWRITTEN = 1

Triple = tuple[int, bytes, int]  #: (digit, node, seq)
Position = tuple[Triple, ...]
Id = tuple[bytes, int]  #: (node, seq)


class ListFormatError(ValueError):
    """Bytes that are not a list payload of this format."""


@dataclass(slots=True)
class Element:
    position: Position
    value: bytes
    #: (seq, node) of the last LSET; None = never rewritten (the id is the write)
    written: tuple[int, bytes] | None = None

    @property
    def id(self) -> Id:
        _, node, seq = self.position[-1]
        return node, seq

    def write_key(self) -> tuple[int, bytes, bytes]:
        """Which of two versions of one element wins: greatest (write, value)."""
        seq, node = self.written if self.written is not None else (self.id[1], self.id[0])
        return seq, node, self.value


@dataclass
class ListValue:
    """A decoded list: live elements in order, and the removed ids."""

    elements: list[Element] = field(default_factory=list)
    #: node -> sorted, disjoint, non-adjacent inclusive (first, last) seq ranges
    removed: dict[bytes, list[tuple[int, int]]] = field(default_factory=dict)

    # --- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.elements)

    def values(self) -> list[bytes]:
        return [e.value for e in self.elements]

    def next_seq(self, node: bytes, floor: int) -> int:
        """The seq after the last one `node` issued in this value (consecutive, so removed ids
        stay one range), or `floor` if it issued none here: the caller passes a clock in
        microseconds, so a list deleted and recreated never reuses an id."""
        top = -1
        for e in self.elements:
            for _, n, s in e.position:
                if n == node and s > top:
                    top = s
            if e.written is not None and e.written[1] == node and e.written[0] > top:
                top = e.written[0]
        ranges = self.removed.get(node)
        if ranges and ranges[-1][1] > top:
            top = ranges[-1][1]
        return floor if top < 0 else top + 1

    # --- editing ----------------------------------------------------------------------------

    def push(self, values: Iterable[bytes], left: bool, node: bytes, seq: int) -> int:
        """LPUSH/RPUSH: one element per value, ids `seq`, `seq + 1`, ...; returns the next
        free seq."""
        for value in values:
            if left:
                digit = self.elements[0].position[0][0] - STEP if self.elements else 0
                self.elements.insert(0, Element(((digit, node, seq),), value))
            else:
                digit = self.elements[-1].position[0][0] + STEP if self.elements else 0
                self.elements.append(Element(((digit, node, seq),), value))
            seq += 1
        return seq

    def insert(self, index: int, value: bytes, node: bytes, seq: int) -> None:
        """Insert so that the new element ends up at `index` (0..len)."""
        before = self.elements[index - 1].position if index > 0 else None
        after = self.elements[index].position if index < len(self.elements) else None
        self.elements.insert(index, Element(between(before, after, node, seq), value))

    def set(self, index: int, value: bytes, node: bytes, seq: int) -> None:
        element = self.elements[index]
        element.value = value
        element.written = (seq, node)

    def remove(self, indexes: Iterable[int]) -> list[bytes]:
        """Remove the elements at `indexes`; returns their values in index order."""
        doomed = sorted(set(indexes))
        out = [self.elements[i].value for i in doomed]
        for i in doomed:
            node, seq = self.elements[i].id
            _add_range(self.removed.setdefault(node, []), seq, seq)
        keep = set(range(len(self.elements))) - set(doomed)
        self.elements = [e for i, e in enumerate(self.elements) if i in keep]
        return out

    def is_removed(self, ident: Id) -> bool:
        ranges = self.removed.get(ident[0])
        if not ranges:
            return False
        i = bisect.bisect_right(ranges, (ident[1], 1 << 64)) - 1
        return i >= 0 and ranges[i][0] <= ident[1] <= ranges[i][1]


def between(before: Position | None, after: Position | None, node: bytes, seq: int) -> Position:
    """A position strictly between `before` and `after` (None = the list's end) ending in the
    id `(node, seq)`."""
    if before is None and after is None:
        return ((0, node, seq),)
    if before is None:
        assert after is not None
        return ((after[0][0] - STEP, node, seq),)
    if after is None:
        return ((before[0][0] + STEP, node, seq),)
    for i, (b, a) in enumerate(zip(before, after, strict=False)):
        if b == a:
            continue
        if a[0] - b[0] > 1:  # room for a digit between them at this level
            return (*before[:i], ((b[0] + a[0]) // 2, node, seq))
        break
    if after[: len(before)] == before:  # `after` extends `before`: go below after's next digit
        return (*before, (after[len(before)][0] - STEP, node, seq))
    return (*before, (STEP, node, seq))  # any extension of `before` sorts before `after`


def _add_range(ranges: list[tuple[int, int]], first: int, last: int) -> None:
    """Insert [first, last] into sorted disjoint ranges, coalescing touching ones."""
    i = bisect.bisect_left(ranges, (first, first))
    if i > 0 and ranges[i - 1][1] >= first - 1:
        i -= 1
    j = i
    while j < len(ranges) and ranges[j][0] <= last + 1:
        first, last = min(first, ranges[j][0]), max(last, ranges[j][1])
        j += 1
    ranges[i:j] = [(first, last)]


# --- merge -----------------------------------------------------------------------------------


def merge(payloads: list[bytes]) -> bytes:
    """The list every node converges to from concurrent versions (Keyspace.mergers)."""
    return encode(merge_values([decode(p) for p in payloads]))


def merge_values(values: list[ListValue]) -> ListValue:
    out = ListValue()
    for value in values:
        for node, ranges in value.removed.items():
            mine = out.removed.setdefault(node, [])
            for first, last in ranges:
                _add_range(mine, first, last)
    best: dict[Id, Element] = {}
    for value in values:
        for element in value.elements:
            ident = element.id
            if out.is_removed(ident):
                continue
            seen = best.get(ident)
            if seen is None or element.write_key() > seen.write_key():
                best[ident] = element
    out.elements = sorted(best.values(), key=lambda e: e.position)
    return out


# --- encoding --------------------------------------------------------------------------------


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzigzag(n: int) -> int:
    return n >> 1 if not n & 1 else -((n + 1) >> 1)


def encode(value: ListValue) -> bytes:
    nodes: dict[bytes, int] = {}
    body = bytearray()
    put = _varint
    put(len(value.elements), body)
    last = 0  # seqs are stored as the difference from the previous triple's seq
    for e in value.elements:
        position = e.position
        put(len(position), body)
        for digit, node, seq in position:
            index = nodes.get(node)
            if index is None:
                index = nodes[node] = len(nodes)
            put(digit * 2 if digit >= 0 else -digit * 2 - 1, body)
            put(index, body)
            delta, last = seq - last, seq
            put(delta * 2 if delta >= 0 else -delta * 2 - 1, body)
        written = e.written
        if written is None:
            body.append(0)
        else:
            body.append(FLAG_REWRITTEN)
            put(nodes.setdefault(written[1], len(nodes)), body)
            put(written[0], body)
        put(len(e.value), body)
        body += e.value
    ranges = [(node, r) for node, rs in sorted(value.removed.items()) for r in rs]
    put(len(ranges), body)
    for node, (first, last) in ranges:
        put(nodes.setdefault(node, len(nodes)), body)
        put(first, body)
        put(last, body)
    head = bytearray([FORMAT])
    put(len(nodes), head)
    for node in nodes:
        put(len(node), head)
        head += node
    return bytes(head + body)


def decode(data: bytes) -> ListValue:
    if not data or data[0] != FORMAT:
        raise ListFormatError(f"not a list payload (format byte {data[:1]!r})")
    try:
        value = _decode(data)
    except IndexError:
        raise ListFormatError("list payload truncated or refers to an unknown node") from None
    return value


def _decode(data: bytes) -> ListValue:
    """The decoding loop, with varints read inline (this runs for every list command)."""
    read = read_uvarint
    count, pos = read(data, 1)
    nodes = []
    for _ in range(count):
        size, pos = read(data, pos)
        if pos + size > len(data):
            raise IndexError
        nodes.append(data[pos : pos + size])
        pos += size
    elements = []
    count, pos = read(data, pos)
    seq = 0
    for _ in range(count):
        depth, pos = read(data, pos)
        position = []
        for _ in range(depth):
            digit, pos = read(data, pos)
            index = data[pos]  # node indexes and seq deltas are mostly one byte
            if index < 0x80:
                pos += 1
            else:
                index, pos = read(data, pos)
            delta = data[pos]
            if delta < 0x80:
                pos += 1
            else:
                delta, pos = read(data, pos)
            seq += delta >> 1 if not delta & 1 else -((delta + 1) >> 1)
            position.append((digit >> 1 if not digit & 1 else -((digit + 1) >> 1),
                             nodes[index], seq))
        flags = data[pos]
        pos += 1
        written = None
        if flags & FLAG_REWRITTEN:
            index, pos = read(data, pos)
            wseq, pos = read(data, pos)
            written = (wseq, nodes[index])
        size, pos = read(data, pos)
        if pos + size > len(data):
            raise IndexError
        elements.append(Element(tuple(position), data[pos : pos + size], written))
        pos += size
    removed: dict[bytes, list[tuple[int, int]]] = {}
    count, pos = read(data, pos)
    for _ in range(count):
        index, pos = read(data, pos)
        first, pos = read(data, pos)
        last, pos = read(data, pos)
        removed.setdefault(nodes[index], []).append((first, last))
    if pos != len(data):
        raise ListFormatError("trailing bytes after a list payload")
    return ListValue(elements, removed)


def from_values(values: Iterable[bytes], node: bytes, seq: int) -> ListValue:
    """A fresh list holding `values` in order (RPUSH into an empty key)."""
    value = ListValue()
    value.push(values, False, node, seq)
    return value
