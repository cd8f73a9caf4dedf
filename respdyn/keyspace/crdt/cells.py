"""The value a hash field or a sorted-set member carries on each of its ORSWOT dots, and how
the values of concurrent dots resolve to the one a read returns.

Usually an element has one dot, so one cell. After concurrent updates it has one per side:

- registers (HSET values, zset scores) resolve by (timestamp, node id): the newest wins, ties
  by node id, so every replica answers the same;
- counters (HINCRBY fields) of one incarnation merge (per-node maximum), so concurrent
  HINCRBYs add up; a register newer than a counter's incarnation beats it, and vice versa.

Timestamps are hybrid: a new cell's timestamp is max(now, newest timestamp it replaces + 1), so
a causally later write also has the greater timestamp even across skewed clocks.

    hash cell := register | counter
    register  := 0x00, ts: uvarint, value: bytes (the rest of the cell)
    counter   := a counter payload (format 0x01, see counter.py)
    zset cell := ts: uvarint, score: f64 little-endian
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from respdyn.keyspace.crdt import counter as pn
from respdyn.keyspace.crdt.codec import PayloadError, Reader, Writer, read_uvarint
from respdyn.keyspace.crdt.orset import Dot, ORSet

_F64 = struct.Struct("<d")
REGISTER = 0x00  #: on disk: do not renumber (a counter cell starts with counter.FORMAT, 0x01)


@dataclass(slots=True)
class Field:
    """A hash field's resolved value."""

    value: bytes  #: what HGET answers (a counter's decimal text)
    counter: pn.Counter | None  #: set when the winning cell is a counter (HINCRBY goes on)
    ts: int  #: the winner's timestamp (a counter's: its incarnation's)
    node: bytes  #: the winner's node (the dot's actor; a counter's: its incarnation's)
    newest: int  #: the greatest timestamp among the cells, for the next write's timestamp


def register(ts: int, value: bytes) -> bytes:
    w = Writer(REGISTER)
    w.uint(ts)
    w.raw(value)
    return w.bytes()


def counter_cell(counter: pn.Counter) -> bytes:
    return pn.encode(counter)


def _rank(dot: Dot, cell: bytes) -> tuple:
    if cell[:1] == b"\x00":
        r = Reader(cell, 1)
        ts = r.uint()
        return (ts, dot[0], 0, r.rest())
    c = pn.decode(cell)
    return (c.tag_ts, c.tag_node, 1, c.base)


def resolve_field(cells: list[tuple[Dot, bytes]]) -> Field:
    """The value of a field from the cells of its dots."""
    if len(cells) == 1 and cells[0][1][:1] == b"\x00":  # the usual case: one register
        (dot, cell), = cells
        try:
            ts, pos = read_uvarint(cell, 1)
        except IndexError:
            raise PayloadError("hash cell truncated") from None
        return Field(cell[pos:], None, ts, dot[0], ts)
    ranked = sorted((_rank(dot, cell), cell) for dot, cell in cells)
    best = ranked[-1][0]
    newest = max(rank[0] for rank, _ in ranked)
    if best[2] == 0:
        return Field(best[3], None, best[0], best[1], newest)
    same = [pn.decode(cell) for rank, cell in ranked if rank == best]
    merged = pn.merge_all(same)
    return Field(b"%d" % merged.value(), merged, best[0], best[1], newest)


def next_ts(now: int, newest: int) -> int:
    """A new cell's timestamp: the clock, but always after what it replaces."""
    return max(now, newest + 1)


# --- sorted-set member scores ----------------------------------------------------------------


def score_cell(ts: int, score: float) -> bytes:
    w = Writer()
    w.uint(ts)
    w.f64(score)
    return w.bytes()


def resolve_score(cells: list[tuple[Dot, bytes]]) -> tuple[float, int]:
    """(score, newest timestamp) of a member: the newest score register wins, ties by node."""
    best: tuple | None = None
    newest = 0
    for dot, cell in cells:
        try:
            ts, pos = read_uvarint(cell, 0)
        except IndexError:
            raise PayloadError("zset cell truncated") from None
        if len(cell) != pos + 8:
            raise PayloadError("zset cell: not a timestamp and a double")
        (score,) = _F64.unpack_from(cell, pos)
        if len(cells) == 1:
            return score, ts
        newest = max(newest, ts)
        rank = (ts, dot[0], score)
        if best is None or rank > best:
            best = rank
    assert best is not None
    return best[2], newest


# --- field updates on a valued ORSWOT (hashes) -----------------------------------------------


def get_field(state: ORSet, name: bytes) -> Field | None:
    dots = state.entries.get(name)
    return None if dots is None else resolve_field(list(dots.items()))


def set_register(state: ORSet, name: bytes, value: bytes, actor: bytes, now: int) -> None:
    """HSET: the field's dots are replaced by one carrying a register newer than them."""
    current = get_field(state, name)
    ts = next_ts(now, current.newest if current else 0)
    state.add(name, actor, register(ts, value), now)


def set_counter(state: ORSet, name: bytes, counter: pn.Counter, actor: bytes, now: int) -> None:
    """HINCRBY: the field's dots are replaced by one carrying the updated counter."""
    state.add(name, actor, counter_cell(counter), now)


def set_score(state: ORSet, member: bytes, score: float, actor: bytes, now: int) -> None:
    dots = state.entries.get(member)
    newest = resolve_score(list(dots.items()))[1] if dots else 0
    state.add(member, actor, score_cell(next_ts(now, newest), score), now)
