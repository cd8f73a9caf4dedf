"""ORSWOT: an observed-remove set without tombstones (riak_dt_orswot; Bieniusa et al.,
"An optimized conflict-free replicated set", 2012), optionally carrying a value per dot.

State: a version vector `clock` (actor -> highest counter issued) and, per element, its dots
`(actor, counter)`, each with a value (empty for plain sets; a hash field's or zset member's
cell otherwise, see `cells`). Adding (or updating) an element issues a new dot and replaces the
element's dots by it; removing drops the element's dots while the clock keeps having seen them.
Merging keeps a dot if every side whose clock has seen it still holds it, so

- a concurrent add and remove of the same element keep it (add wins: the remove never saw the
  new dot);
- elements added on both sides are all kept;
- a remove that saw every dot of an element removes it everywhere.

A dot must never be issued twice: the actor is the node serving the command, whose writes to
one key are serialized by the dispatcher's per-key locks and read back its own previous write
(R + W > N). An actor's first dot in a state is time-based (`now_ms * DOTS_PER_MS`), later ones
count up from it: a value re-created after a delete (which loses the clock) never reissues the
dots of an older incarnation, so its adds cannot be mistaken for ones a stale copy has seen.
Values ride on dots, so a dot's value is immutable and the merge never has to choose between
two values for the same dot (it takes the greater bytes if it ever must).

    orset   := format: u8, actors: uvarint, actor{actors}: blob, counter{actors}: uvarint,
               elements: uvarint, element{elements}                  (both sorted by bytes)
    element := name: blob, dots: uvarint, dot{dots}
    dot     := actor_index: uvarint, behind: uvarint, [value: blob]    (value: valued formats)

`behind` is the actor's clock counter minus the dot's counter (small: the number of updates by
that actor since), so time-based counters cost bytes once per actor, not once per element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from respdyn.keyspace.crdt.codec import PayloadError, read_uvarint, uvarint

Dot = tuple[bytes, int]

#: format bytes (on disk: do not renumber); the set format stores no values
SET_FORMAT = 0x01
HASH_FORMAT = 0x02
ZSET_FORMAT = 0x03
_VALUED = {SET_FORMAT: False, HASH_FORMAT: True, ZSET_FORMAT: True}
#: an actor's first dot in a state is now_ms * DOTS_PER_MS: an older incarnation of the value
#: would have needed more updates than this per millisecond of its life to reach it
DOTS_PER_MS = 1000


@dataclass(slots=True)
class ORSet:
    clock: dict[bytes, int] = field(default_factory=dict)
    entries: dict[bytes, dict[Dot, bytes]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, element: bytes) -> bool:
        return element in self.entries

    def elements(self) -> Iterator[bytes]:
        return iter(self.entries)

    def values(self, element: bytes) -> list[tuple[Dot, bytes]]:
        """The (dot, value) pairs of an element: one, or several after concurrent updates."""
        return list(self.entries[element].items())

    # --- operations (in place: a command decodes, changes and encodes its own copy) ----------

    def add(self, element: bytes, actor: bytes, value: bytes = b"", now_ms: int = 0) -> Dot:
        """Add or update `element` as seen by this state: one new dot replaces its dots."""
        last = self.clock.get(actor)
        counter = last + 1 if last is not None else max(1, now_ms * DOTS_PER_MS)
        self.clock[actor] = counter
        dot = (actor, counter)
        self.entries[element] = {dot: value}
        return dot

    def remove(self, element: bytes) -> bool:
        return self.entries.pop(element, None) is not None

    def copy(self) -> ORSet:
        return ORSet(dict(self.clock), {e: dict(d) for e, d in self.entries.items()})


def _survivors(
    mine: dict[Dot, bytes], theirs: dict[Dot, bytes], their_clock: dict[bytes, int]
) -> dict[Dot, bytes]:
    """My dots that the other side holds too or has never seen."""
    out = {}
    for dot, value in mine.items():
        other = theirs.get(dot)
        if other is not None:
            out[dot] = max(value, other)
        elif dot[1] > their_clock.get(dot[0], 0):
            out[dot] = value
    return out


def merge(a: ORSet, b: ORSet) -> ORSet:
    """Join of two states (new object; the inputs are not changed)."""
    clock = dict(a.clock)
    for actor, counter in b.clock.items():
        if counter > clock.get(actor, 0):
            clock[actor] = counter
    entries: dict[bytes, dict[Dot, bytes]] = {}
    empty: dict[Dot, bytes] = {}
    for element in a.entries.keys() | b.entries.keys():
        mine, theirs = a.entries.get(element, empty), b.entries.get(element, empty)
        dots = _survivors(mine, theirs, b.clock)
        dots.update(_survivors(theirs, mine, a.clock))
        if dots:
            entries[element] = dots
    return ORSet(clock, entries)


def merge_all(states: list[ORSet]) -> ORSet:
    out = states[0]
    for s in states[1:]:
        out = merge(out, s)
    return out


def encode(state: ORSet, fmt: int) -> bytes:
    valued = _VALUED[fmt]
    clock = state.clock
    actors = set(clock)
    for dots in state.entries.values():
        actors.update(actor for actor, _ in dots)
    order = sorted(actors)
    index = {actor: uvarint(i) for i, actor in enumerate(order)}
    parts = [bytes((fmt,)), uvarint(len(order))]
    for actor in order:
        parts += (uvarint(len(actor)), actor)
    parts += [uvarint(clock.get(actor, 0)) for actor in order]
    parts.append(uvarint(len(state.entries)))
    put = parts.append
    for element in sorted(state.entries):
        dots = state.entries[element]
        put(uvarint(len(element)))
        put(element)
        put(uvarint(len(dots)))
        for dot in sorted(dots):
            behind = clock.get(dot[0], 0) - dot[1]
            if behind < 0:
                raise ValueError("orset: a dot beyond its actor's clock")
            put(index[dot[0]])
            put(uvarint(behind))
            if valued:
                value = dots[dot]
                put(uvarint(len(value)))
                put(value)
    return b"".join(parts)


def decode(data: bytes, fmt: int) -> ORSet:
    """The inverse of `encode`, inlined for speed: it runs over every element of the value on
    every command."""
    if not data or data[0] != fmt:
        got = data[0] if data else None
        raise PayloadError(f"orset: format byte {got!r}, expected 0x{fmt:02x}")
    valued = _VALUED[fmt]
    size = len(data)
    uv = read_uvarint
    try:
        count, pos = uv(data, 1)
        actors = []
        for _ in range(count):
            length, pos = uv(data, pos)
            end = pos + length
            if end > size:
                raise IndexError
            actors.append(data[pos:end])
            pos = end
        counters = []
        for _ in range(count):
            counter, pos = uv(data, pos)
            counters.append(counter)
        clock = {actor: c for actor, c in zip(actors, counters, strict=True) if c}
        entries: dict[bytes, dict[Dot, bytes]] = {}
        elements, pos = uv(data, pos)
        for _ in range(elements):
            b = data[pos]
            if b < 0x80:
                length, pos = b, pos + 1
            else:
                length, pos = uv(data, pos)
            end = pos + length
            if end > size:
                raise IndexError
            element = data[pos:end]
            pos = end
            ndots, pos = uv(data, pos)
            dots = {}
            for _ in range(ndots):
                b = data[pos]
                if b < 0x80:
                    i, pos = b, pos + 1
                else:
                    i, pos = uv(data, pos)
                b = data[pos]
                if b < 0x80:
                    behind, pos = b, pos + 1
                else:
                    behind, pos = uv(data, pos)
                counter = counters[i] - behind
                if counter <= 0:
                    raise PayloadError("orset: a dot beyond its actor's clock")
                value = b""
                if valued:
                    b = data[pos]
                    if b < 0x80:
                        length, pos = b, pos + 1
                    else:
                        length, pos = uv(data, pos)
                    end = pos + length
                    if end > size:
                        raise IndexError
                    value = data[pos:end]
                    pos = end
                dots[(actors[i], counter)] = value
            entries[element] = dots
    except IndexError:
        raise PayloadError("orset: truncated, or a dot names an unknown actor") from None
    return ORSet(clock, entries)


def find(data: bytes, fmt: int, wanted: bytes) -> dict[Dot, bytes] | None:
    """The dots (with values) of one element, or None: what `decode(...).entries.get(wanted)`
    answers, without building the other elements (HGET, SISMEMBER, ZSCORE on big values).
    Elements are stored sorted, so the walk stops at the first greater one."""
    if not data or data[0] != fmt:
        raise PayloadError(f"orset: format byte, expected 0x{fmt:02x}")
    valued = _VALUED[fmt]
    uv = read_uvarint
    try:
        count, pos = uv(data, 1)
        actors = []
        for _ in range(count):
            length, pos = uv(data, pos)
            actors.append(data[pos : pos + length])
            pos += length
        counters = []
        for _ in range(count):
            counter, pos = uv(data, pos)
            counters.append(counter)
        elements, pos = uv(data, pos)
        for _ in range(elements):
            length = data[pos]
            if length < 0x80:
                pos += 1
            else:
                length, pos = uv(data, pos)
            end = pos + length
            element = data[pos:end]
            pos = end
            ndots = data[pos]
            if ndots < 0x80:
                pos += 1
            else:
                ndots, pos = uv(data, pos)
            if element == wanted:
                dots = {}
                for _ in range(ndots):
                    i, pos = uv(data, pos)
                    behind, pos = uv(data, pos)
                    value = b""
                    if valued:
                        length, pos = uv(data, pos)
                        value = data[pos : pos + length]
                        pos += length
                    dots[(actors[i], counters[i] - behind)] = value
                return dots
            if element > wanted:
                return None
            for _ in range(ndots):  # skip the dots: two varints and a value
                for _ in range(2):
                    while data[pos] >= 0x80:
                        pos += 1
                    pos += 1
                if valued:
                    length = data[pos]
                    if length < 0x80:
                        pos += 1 + length
                    else:
                        length, pos = uv(data, pos)
                        pos += length
    except IndexError:
        raise PayloadError("orset: truncated, or a dot names an unknown actor") from None
    return None


def merger(fmt: int) -> Callable[[list[bytes]], bytes]:
    """The keyspace merger for siblings stored in format `fmt`."""

    def merge_payloads(payloads: list[bytes]) -> bytes:
        return encode(merge_all([decode(p, fmt) for p in payloads]), fmt)

    return merge_payloads
