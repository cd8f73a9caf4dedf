"""Versions of one key: a dotted version vector set (DVVSet) holding the concurrent values.

Sources: Preguiça, Baquero, Almeida, Fonte, Gonçalves, "Dotted Version Vectors: Logical Clocks
for Optimistic Replication" (arXiv:1011.5808, 2010) and its compact form "DVVSet" as Riak ships it
(``dvvset.erl`` in riak_core, by Gonçalves and Almeida). This is a Python rendering of the same
algebra, not a translation of that code.

Why DVVSet and not vector clocks. With per-server vector clocks a coordinator that receives two
writes with the same context cannot tell them apart, so it must either drop one (lost update) or
keep both and every older sibling with them (Riak's "sibling explosion": 101 siblings under blind
writes, riak_kv#1648). A DVVSet gives every write its own *dot* (coordinator id, counter), so a
write obsoletes exactly the values its client had seen: siblings are bounded by the number of
clients writing concurrently (riak_cs#1006: 21 -> 7 with 7 writers).

Shape. A `Clock` has, per coordinator id (sorted), an entry ``(id, n, values)``: the id has issued
dots 1..n for this key, and ``values`` (newest first) are the values of the last ``len(values)``
of those dots still alive; older dots are known and obsolete. ``anonymous`` holds values without a
dot: only a client's new write has one, before `update` gives it a dot. A client's causal context
(`Context`) is the version vector ``((id, n), ...)``: what it has seen.

Operations (all pure; the replica store calls them):
- ``new(values, context)``: a client's write: values not yet dotted, with the context it read.
- ``update(new, existing, node_id)``: the coordinator's event: the new value gets the next dot of
  `node_id`, and every stored value the client's context covers is dropped.
- ``sync(a, b)``: merge two replicas' states; drops values either side has seen superseded.
  Commutative, associative and idempotent (tested with Hypothesis), so replicas converge.
- ``join(c)``: the context handed to clients; `encode_context`/`decode_context` make it a token.
- ``values``, ``less``, ``equal``, ``winner`` (deterministic last-writer pick), ``lww``.

Each `Sibling` carries the coordinator's wall-clock time in ms and its node id, passed in by the
caller, so the layer above can pick a deterministic winner: newest ``ts_ms``, then greatest node
id, then greatest value (tombstones lowest). Clocks never read the time themselves.

Coordinator ids. A dot must never be issued twice, so (1) `update` must run on the coordinator's
own stored clock for the key (the coordinator is a replica: its counter is the id's highest), and
(2) a node whose data was wiped must coordinate under a new id (e.g. ``name/incarnation``), as
Riak gives vnodes a fresh id: restarting an old id's counter at 1 makes replicas that remember a
higher counter treat the new writes as already seen, and drop them.

Size bound. Entries are only created by coordinators, and coordinators are ring members of the
key's preference list (or fallbacks), so a clock holds about N..N+2 entries, whatever the number
of clients. `prune` keeps it near `MAX_ENTRIES` (10, as the Dynamo paper truncates vector clocks)
by dropping value-less entries of ids that are no longer ring members, smallest counter first.
It never drops a live member's entry: DVVSet decides obsolescence by counters, so an id whose
entry was forgotten would restart at dot 1 and a replica still remembering a larger counter would
treat the new value as already seen: a lost write. Dropping a retired id's entry is safe for new
writes (node ids are never reused); its cost is accuracy: a stale replica or client context still
holding that id's old values is no longer known to be superseded, so old values may come back as
siblings (a false conflict the application resolves, never a lost write).

Encoding (``encode``), integers as unsigned LEB128 varints (``uvarint``)::

    clock   := magic: u8 = 0xD1, n_ids: uvarint, id{n_ids},
               n_entries: uvarint, entry{n_entries}, n_anonymous: uvarint, sibling{n_anonymous}
    id      := length: uvarint, utf-8[length]                  # node ids, each once
    entry   := id: uvarint (index into ids; strictly increasing by id), counter: uvarint,
               n_values: uvarint (<= counter), sibling{n_values}   # values newest first
    sibling := kind: u8 (0 = value, 1 = tombstone), ts_ms: uvarint,
               node: uvarint (0 = none, else 1 + index into ids),
               [length: uvarint, bytes[length]]                 # value only, not for tombstones

    context := version: u8 = 1, n: uvarint, (id: length: uvarint, utf-8[length], counter:
               uvarint){n}; ids strictly increasing, counters >= 1
    token   := base64url(context) without padding               # printable, opaque to clients
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import NamedTuple

#: Entries above which `prune` drops retired ids (the Dynamo paper truncates clocks near 10).
MAX_ENTRIES = 10

_MAGIC = 0xD1
MAGIC = _MAGIC  #: the first byte of every encoded clock
_CONTEXT_VERSION = 1
_VALUE, _TOMBSTONE = 0, 1  # sibling kinds on disk and wire: do not renumber
_ONE_VALUE = bytes((1, _VALUE))


class Sibling(NamedTuple):
    """One concurrent value: its bytes (None for a delete), the write's time and coordinator."""

    value: bytes | None
    ts_ms: int
    node: str = ""  # stamped by `update`; "" while the write is still the client's


Entry = tuple[str, int, tuple[Sibling, ...]]  # (id, counter, values newest first)
Context = tuple[tuple[str, int], ...]  # sorted version vector


@dataclass(frozen=True, slots=True)
class Clock:
    """A DVVSet: causal history plus the values still alive (see the module docstring)."""

    entries: tuple[Entry, ...] = ()
    anonymous: tuple[Sibling, ...] = ()


EMPTY = Clock()


def new(values: Iterable[Sibling], context: Context = ()) -> Clock:
    """A client's write: `values` without dots, over the causal `context` it read (or none)."""
    return Clock(tuple((i, n, ()) for i, n in sorted(context)), tuple(values))


def update(written: Clock, existing: Clock | None, node_id: str) -> Clock:
    """The coordinator `node_id` stores `written` (from `new`, one value) over `existing`.

    The value gets the next dot of `node_id`; stored values the client's context covers are
    dropped; concurrent ones stay as siblings. The result dominates both arguments.
    """
    if len(written.anonymous) != 1:
        raise ValueError("update needs a clock from new() holding exactly one value")
    value = written.anonymous[0]._replace(node=node_id)
    base = Clock(written.entries) if existing is None else sync(Clock(written.entries), existing)
    return Clock(_event(base.entries, node_id, value), base.anonymous)


def _event(entries: tuple[Entry, ...], node_id: str, value: Sibling) -> tuple[Entry, ...]:
    out: list[Entry] = []
    done = False
    for entry in entries:
        ident, n, vals = entry
        if not done and ident == node_id:
            out.append((ident, n + 1, (value, *vals)))
            done = True
            continue
        if not done and ident > node_id:
            out.append((node_id, 1, (value,)))
            done = True
        out.append(entry)
    if not done:
        out.append((node_id, 1, (value,)))
    return tuple(out)


def sync(a: Clock, b: Clock) -> Clock:
    """Merge two replicas' states, keeping only values neither side knows to be superseded."""
    if a == b:
        return a
    if less(a, b):
        anonymous = b.anonymous
    elif less(b, a):
        anonymous = a.anonymous
    else:
        anonymous = tuple(sorted(set(a.anonymous) | set(b.anonymous), key=_rank))
    mine = {entry[0]: entry for entry in a.entries}
    theirs = {entry[0]: entry for entry in b.entries}
    merged: list[Entry] = []
    for ident in sorted(mine.keys() | theirs.keys()):
        if ident not in theirs:
            merged.append(mine[ident])
        elif ident not in mine:
            merged.append(theirs[ident])
        else:
            merged.append(_merge(mine[ident], theirs[ident]))
    return Clock(tuple(merged), anonymous)


def _merge(x: Entry, y: Entry) -> Entry:
    """One id's entries: the larger counter wins; its values older than the other side's
    oldest live dot are dropped if the other side already saw them superseded."""
    if x[1] < y[1]:
        x, y = y, x
    ident, n1, v1 = x
    _, n2, v2 = y
    if n1 - len(v1) >= n2 - len(v2):
        return x
    return (ident, n1, v1[: n1 - n2 + len(v2)])


def join(clock: Clock) -> Context:
    """The causal context of `clock`: what a client that read it has seen."""
    return tuple((ident, n) for ident, n, _ in clock.entries)


def values(clock: Clock) -> list[Sibling]:
    """Every live value: the undotted ones first, then per id, newest first."""
    return [*clock.anonymous, *(v for _, _, vals in clock.entries for v in vals)]


def expired_tombstone(clock: Clock, before_ms: int) -> bool:
    """Only deletions are left, all made before `before_ms`: a tombstone past its grace
    period, which replicas treat as no version at all (see replica.py, Tombstones)."""
    everything = values(clock)
    return bool(everything) and all(v.value is None and v.ts_ms < before_ms for v in everything)


def size(clock: Clock) -> int:
    return len(clock.anonymous) + sum(len(vals) for _, _, vals in clock.entries)


def less(a: Clock, b: Clock) -> bool:
    """True if `a`'s history is strictly contained in `b`'s (a's values are obsolete)."""
    theirs = {ident: n for ident, n, _ in b.entries}
    strict = len(theirs) > len(a.entries)
    for ident, n, _ in a.entries:
        m = theirs.get(ident)
        if m is None or m < n:
            return False
        strict = strict or m > n
    return strict


def equal(a: Clock, b: Clock) -> bool:
    """Same causal history (ids, counters and number of live dots), values ignored."""
    return [(i, n, len(v)) for i, n, v in a.entries] == [(i, n, len(v)) for i, n, v in b.entries]


def concurrent(a: Clock, b: Clock) -> bool:
    return not less(a, b) and not less(b, a) and not equal(a, b)


def _rank(sibling: Sibling) -> tuple[int, str, bool, bytes]:
    return (sibling.ts_ms, sibling.node, sibling.value is not None, sibling.value or b"")


def winner(clock: Clock) -> Sibling:
    """The deterministic last writer: newest ts_ms, then greatest node id, then value."""
    everything = values(clock)
    if not everything:
        raise ValueError("an empty clock has no winner")
    return max(everything, key=_rank)


def lww(clock: Clock) -> Clock:
    """`clock` with only its `winner` left, history kept (so it supersedes every sibling)."""
    best = winner(clock)
    if best in clock.anonymous:
        return Clock(tuple((i, n, ()) for i, n, _ in clock.entries), (best,))
    kept = tuple((i, n, (best,) if best in vals else ()) for i, n, vals in clock.entries)
    return Clock(kept, ())


def prune(clock: Clock, members: Collection[str], max_entries: int = MAX_ENTRIES) -> Clock:
    """Drop value-less entries of ids not in `members` while over `max_entries` (see above)."""
    excess = len(clock.entries) - max_entries
    if excess <= 0:
        return clock
    retired = sorted(
        ((n, ident) for ident, n, vals in clock.entries if not vals and ident not in members)
    )
    drop = {ident for _, ident in retired[:excess]}
    if not drop:
        return clock
    return Clock(tuple(e for e in clock.entries if e[0] not in drop), clock.anonymous)


# ---- encoding ---------------------------------------------------------------------------------


def encode(clock: Clock) -> bytes:
    ids = sorted({i for i, _, _ in clock.entries} | {s.node for s in values(clock) if s.node})
    index = {ident: k for k, ident in enumerate(ids)}
    out = bytearray([_MAGIC])
    _put_uvarint(out, len(ids))
    for ident in ids:
        _put_bytes(out, ident.encode())
    _put_uvarint(out, len(clock.entries))
    for ident, n, vals in clock.entries:
        _put_uvarint(out, index[ident])
        _put_uvarint(out, n)
        _put_siblings(out, vals, index)
    _put_siblings(out, clock.anonymous, index)
    return bytes(out)


def decode(data: bytes) -> Clock:
    """Parse `encode`'s output; ValueError on anything malformed."""
    try:
        return _decode(data)
    except IndexError:
        raise ValueError("truncated") from None


def _decode(data: bytes) -> Clock:
    """`decode` with one cursor in a local variable (IndexError: data ran out)."""
    end = len(data)
    if data[0] != _MAGIC:
        raise ValueError("bad clock magic")
    count, pos = _get_uvarint(data, 1)
    if count > end - pos:
        raise ValueError("count past end of data")
    ids: list[str] = []
    for _ in range(count):
        size, pos = _get_uvarint(data, pos)
        if size > end - pos:
            raise ValueError("count past end of data")
        try:
            ids.append(data[pos : pos + size].decode())
        except UnicodeDecodeError as exc:
            raise ValueError("bad utf-8 in id") from exc
        pos += size
    if count > 1 and ids != sorted(set(ids)):
        raise ValueError("clock ids must be sorted and distinct")
    count, pos = _get_uvarint(data, pos)
    if count > end - pos:
        raise ValueError("count past end of data")
    entries: list[Entry] = []
    for _ in range(count):
        k, pos = _get_uvarint(data, pos)
        if k >= len(ids):
            raise ValueError("id index out of range")
        ident = ids[k]
        n, pos = _get_uvarint(data, pos)
        vals, pos = _get_siblings(data, pos, ids)
        if n < 1 or len(vals) > n:
            raise ValueError("clock entry counter below its live values")
        if entries and entries[-1][0] >= ident:
            raise ValueError("clock entries must be sorted by id")
        entries.append((ident, n, vals))
    anonymous, pos = _get_siblings(data, pos, ids)
    if pos != end:
        raise ValueError("trailing bytes")
    return Clock(tuple(entries), anonymous)


def blind_update_raw(stored: bytes | None, value: Sibling, node_id: str) -> bytes | None:
    """``encode(update(new([value], join(local)), local, node_id))`` for a blind write of a
    value, computed from `stored` (the encoded `local`, None for no record) without building
    either clock: the shape of nearly every write a Redis client sends, and the general path
    decodes, syncs and re-encodes a clock for it. The result keeps every id's counter, drops
    every stored value, and holds `value` under the next dot of `node_id`.

    None when `stored` is not the plain shape handled here (a tombstone among its values, an
    undotted value, more than MAX_ENTRIES ids afterwards, or bytes `decode` would refuse): the
    caller then takes the general path, which also applies `prune` and the tombstone rules."""
    data = value.value
    if data is None:
        return None
    if stored is None:  # a first write: one entry, this node's dot 1
        return b"".join((_first_prefix(node_id, 1), _ts_uvarint(value.ts_ms), _SMALL[1],
                         _uvarint(len(data)), data, _SMALL[0]))
    try:
        own = _own_counter(stored, node_id)
        if own is not None:  # over this node's own plain write: the first write's shape
            return b"".join((_first_prefix(node_id, own + 1), _ts_uvarint(value.ts_ms), _SMALL[1],
                             _uvarint(len(data)), data, _SMALL[0]))
        counters = _plain_counters(stored)
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    if counters is None:
        return None
    for k, (ident, n) in enumerate(counters):
        if ident == node_id:
            counters[k] = (ident, n + 1)
            break
        if ident > node_id:
            counters.insert(k, (node_id, 1))
            break
    else:
        counters.append((node_id, 1))
    if len(counters) > MAX_ENTRIES:
        return None
    count = _uvarint(len(counters))
    out = [_ids_header(tuple(ident for ident, _ in counters)), count]
    put = out.append
    for k, (ident, n) in enumerate(counters):
        put(_SMALL[k])  # k < MAX_ENTRIES
        put(_uvarint(n))
        if ident == node_id:
            put(_ONE_VALUE)  # one live value, a value (not a tombstone)
            put(_ts_uvarint(value.ts_ms))
            put(_SMALL[k + 1])
            put(_uvarint(len(data)))
            put(data)
        else:
            put(_SMALL[0])
    put(_SMALL[0])  # no undotted values
    return b"".join(out)


def _first_prefix(node_id: str, counter: int) -> bytes:
    """What a plain clock holding only `node_id`'s dot `counter` starts with, up to its value's
    timestamp, as `encode` writes it (one id, one entry with one live value)."""
    return b"".join((_own_head(node_id), _uvarint(counter), _ONE_VALUE))


def _own_head(node_id: str) -> bytes:
    """The bytes before the counter in a clock of `node_id`'s entry alone."""
    head = _FIRST.get(node_id)
    if head is None:
        head = _ids_header((node_id,)) + bytes((1, 0))  # one entry: id index 0
        if len(_FIRST) < 4096:
            _FIRST[node_id] = head
    return head


def _own_counter(data: bytes, node_id: str) -> int | None:
    """The counter of `data` when it is exactly a clock `_first_prefix(node_id, n)` starts:
    only `node_id`'s entry, one live dotted value stamped by it, nothing undotted (what a
    key written only through this node holds); None for any other clock (`_plain_counters`
    then decides). Errors as `_decode`'s."""
    head = _own_head(node_id)
    if not data.startswith(head):
        return None
    n, pos = _get_uvarint(data, len(head))
    if n < 1 or data[pos] != 1 or data[pos + 1] != _VALUE:
        return None
    pos += 2
    while data[pos] >= 0x80:  # ts_ms: skipped, not read
        pos += 1
    if data[pos + 1] != 1:  # the value's node: this id
        return None
    size, pos = _get_uvarint(data, pos + 2)
    if pos + size + 1 != len(data) or data[pos + size] != 0:  # then no undotted values
        return None
    return n


def _ids_header(ids: tuple[str, ...]) -> bytes:
    """The magic byte and the id table of a clock with these ids (in entry order), as `encode`
    writes them; cached, since a cluster's clocks share a handful of id sets."""
    header = _HEADERS.get(ids)
    if header is None:
        out = bytearray((_MAGIC,))
        out += _uvarint(len(ids))
        for ident in ids:
            _put_bytes(out, ident.encode())
        header = bytes(out)
        if len(_HEADERS) < 4096:
            _HEADERS[ids] = header
    return header


#: `_own_head` and `_ids_header` results (bounded: ids are ring members, a handful)
_FIRST: dict[str, bytes] = {}
_HEADERS: dict[tuple[str, ...], bytes] = {}


def _plain_counters(data: bytes) -> list[tuple[str, int]] | None:
    """The (id, counter) entries of an encoded clock whose values are all dotted values (no
    tombstones, nothing undotted); None for any other clock. Errors as `_decode`'s. Varints
    below 128 (every count and index here) are read inline, the rest with `_get_uvarint`."""
    end = len(data)
    if data[0] != _MAGIC:
        return None
    count, pos = data[1], 2
    if count >= 0x80:
        count, pos = _get_uvarint(data, 1)
    ids: list[str] = []
    for _ in range(count):
        size = data[pos]
        if size >= 0x80 or size > end - pos - 1:
            return None
        raw = data[pos + 1 : pos + 1 + size]
        ident = _IDS.get(raw)
        if ident is None:
            ident = raw.decode()
            if len(_IDS) < 4096:
                _IDS[raw] = ident
        ids.append(ident)
        pos += 1 + size
    count = data[pos]
    pos += 1
    if count >= 0x80:
        count, pos = _get_uvarint(data, pos - 1)
    counters: list[tuple[str, int]] = []
    for _ in range(count):
        k = data[pos]
        if k >= 0x80:
            return None
        ident = ids[k]
        n = data[pos + 1]
        pos += 2
        if n >= 0x80:
            n, pos = _get_uvarint(data, pos - 1)
        live = data[pos]
        pos += 1
        if live >= 0x80 or n < 1 or live > n or (counters and counters[-1][0] >= ident):
            return None
        for _ in range(live):
            if data[pos] != _VALUE:
                return None
            pos += 1
            while data[pos] >= 0x80:  # ts_ms: skipped, not read
                pos += 1
            node = data[pos + 1]
            size = data[pos + 2]
            pos += 3
            if node >= 0x80 or node > len(ids):
                return None
            if size >= 0x80:
                size, pos = _get_uvarint(data, pos - 1)
            pos += size
        counters.append((ident, n))
    if data[pos] != 0 or pos + 1 != end:  # undotted values, or trailing bytes
        return None
    return counters


#: node ids seen in clocks, by their bytes (a cluster has a handful; bounded all the same)
_IDS: dict[bytes, str] = {}


def digest(stored: bytes | None) -> bytes:
    """A short, collision-resistant name for a stored clock's exact bytes (None: no record).
    A coordinator sends it with a STORE as the version its write replaced; a replica holding
    exactly those bytes stores the new clock as sent, since it descends them (messages.py)."""
    if stored is None:
        return _NO_DIGEST
    return hashlib.blake2b(stored, digest_size=16).digest()


_NO_DIGEST = hashlib.blake2b(b"", digest_size=16).digest()


def encode_context(context: Context) -> bytes:
    """An opaque, printable token for `context` (base64url, no padding)."""
    out = bytearray([_CONTEXT_VERSION])
    _put_uvarint(out, len(context))
    for ident, n in context:
        _put_bytes(out, ident.encode())
        _put_uvarint(out, n)
    return base64.urlsafe_b64encode(bytes(out)).rstrip(b"=")


def decode_context(token: bytes | str) -> Context:
    """Parse a token from `encode_context`; ValueError on anything else."""
    if isinstance(token, str):
        token = token.encode("ascii", "replace")
    if not token or len(token) % 4 == 1 or not token.isascii() or b"=" in token:
        raise ValueError("bad context token")
    try:
        raw = base64.b64decode(token + b"=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError("bad context token") from exc
    reader = _Reader(raw)
    if reader.byte() != _CONTEXT_VERSION:
        raise ValueError("bad context token version")
    context = []
    for _ in range(reader.count()):
        ident, n = reader.text(), reader.uvarint()
        if n < 1 or (context and context[-1][0] >= ident):
            raise ValueError("bad context token entries")
        context.append((ident, n))
    reader.end()
    return tuple(context)


#: the one-byte varints, ready-made (counts, indexes and small counters are nearly all below 128)
_SMALL = [bytes((v,)) for v in range(0x80)]


def _uvarint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _ts_uvarint(ts_ms: int) -> bytes:
    """`_uvarint` of a write's timestamp, remembered for the next one: the writes of one
    millisecond share it, and a timestamp is a 6-byte varint (a Python loop each time)."""
    global _LAST_TS
    last = _LAST_TS  # one tuple, read and replaced whole: safe if threads ever call this
    if last[0] == ts_ms:
        return last[1]
    encoded = _uvarint(ts_ms)
    _LAST_TS = (ts_ms, encoded)
    return encoded


_LAST_TS: tuple[int, bytes] = (-1, b"")


def _put_uvarint(out: bytearray, value: int) -> None:
    out += _uvarint(value)


def _put_bytes(out: bytearray, raw: bytes) -> None:
    out += _uvarint(len(raw))
    out += raw


def _put_siblings(out: bytearray, siblings: tuple[Sibling, ...], index: dict[str, int]) -> None:
    _put_uvarint(out, len(siblings))
    for value, ts_ms, node in siblings:
        out.append(_TOMBSTONE if value is None else _VALUE)
        _put_uvarint(out, ts_ms)
        _put_uvarint(out, index[node] + 1 if node else 0)
        if value is not None:
            _put_bytes(out, value)


def _get_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); IndexError if the data ends inside it."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    result, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos + 1
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _get_siblings(data: bytes, pos: int, ids: list[str]) -> tuple[tuple[Sibling, ...], int]:
    count, pos = _get_uvarint(data, pos)
    end = len(data)
    if count > end - pos:
        raise ValueError("count past end of data")
    out = []
    for _ in range(count):
        kind = data[pos]
        ts_ms, pos = _get_uvarint(data, pos + 1)
        node, pos = _get_uvarint(data, pos)
        if node > len(ids):
            raise ValueError("sibling node out of range")
        if kind == _VALUE:
            size, pos = _get_uvarint(data, pos)
            if size > end - pos:
                raise ValueError("count past end of data")
            value: bytes | None = data[pos : pos + size]
            pos += size
        elif kind == _TOMBSTONE:
            value = None
        else:
            raise ValueError("bad sibling kind")
        out.append(Sibling(value, ts_ms, ids[node - 1] if node else ""))
    return tuple(out), pos


class _Reader:
    """Bounds-checked cursor over an encoded clock or context; every error is a ValueError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated")
        self.pos += 1
        return self.data[self.pos - 1]

    def uvarint(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def count(self) -> int:
        """A length that must fit in what is left (each item takes at least one byte)."""
        n = self.uvarint()
        if n > len(self.data) - self.pos:
            raise ValueError("count past end of data")
        return n

    def raw(self) -> bytes:
        n = self.count()
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def text(self) -> str:
        try:
            return self.raw().decode()
        except UnicodeDecodeError as exc:
            raise ValueError("bad utf-8 in id") from exc

    def index(self, ids: list[str]) -> str:
        k = self.uvarint()
        if k >= len(ids):
            raise ValueError("id index out of range")
        return ids[k]

    def siblings(self, ids: list[str]) -> tuple[Sibling, ...]:
        out = []
        for _ in range(self.count()):
            kind, ts_ms, node = self.byte(), self.uvarint(), self.uvarint()
            if node > len(ids):
                raise ValueError("sibling node out of range")
            if kind not in (_VALUE, _TOMBSTONE):
                raise ValueError("bad sibling kind")
            value = self.raw() if kind == _VALUE else None
            out.append(Sibling(value, ts_ms, ids[node - 1] if node else ""))
        return tuple(out)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ValueError("trailing bytes")
