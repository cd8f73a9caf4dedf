"""Set commands (Redis' `set` group) over an add-wins observed-remove set (ORSWOT,
respdyn/keyspace/crdt/orset.py): a concurrent SADD and SREM of one member keep it, members
added on both sides of a partition are all kept.

Values are read and written whole: a command decodes the set, changes it and writes it back with
the read's context (the dispatcher holds the key's lock meanwhile), so a big set costs its whole
size on every SADD. The helpers here (`load`, `save`, `store_new`, `ScanOptions`, `scan_step`)
are shared with the hash and sorted-set families, which use the same ORSWOT with values.

Member order: sets of integers come back in numeric order (as Redis' intset), other sets in
byte order (Redis' hashtable order is unspecified).
"""

from __future__ import annotations

import bisect
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from respdyn import errors
from respdyn.commands import glob
from respdyn.commands.args import INT64_MAX, to_int
from respdyn.commands.context import Context
from respdyn.commands.keys import parse_cursor
from respdyn.commands.registry import CommandTable
from respdyn.keyspace.crdt import orset
from respdyn.keyspace.crdt.orset import SET_FORMAT, ORSet
from respdyn.keyspace.keyspace import Entry, Keyspace
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import Set
from respdyn.session import Session

table = CommandTable("set")

SET = Kind.SET

#: COMMAND DOCS arguments (redis-cli's hints): name (`TOKEN value` for options), type, flags
_ARGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sadd": (("key", "key", ""), ("member", "string", "multiple"),),
    "srem": (("key", "key", ""), ("member", "string", "multiple"),),
    "smembers": (("key", "key", ""),),
    "scard": (("key", "key", ""),),
    "sismember": (("key", "key", ""), ("member", "string", ""),),
    "smismember": (("key", "key", ""), ("member", "string", "multiple"),),
    "spop": (("key", "key", ""), ("count", "integer", "optional"),),
    "srandmember": (("key", "key", ""), ("count", "integer", "optional"),),
    "smove": (("source", "key", ""), ("destination", "key", ""), ("member", "string", ""),),
    "sintercard": (
        ("numkeys", "integer", ""),
        ("key", "key", "multiple"),
        ("LIMIT limit", "integer", "optional"),
    ),
    "sscan": (
        ("key", "key", ""),
        ("cursor", "integer", ""),
        ("MATCH pattern", "pattern", "optional"),
        ("COUNT count", "integer", "optional"),
    ),
}

# --- helpers shared by the ORSWOT-backed families ----------------------------------------------


def load(ks: Keyspace, db: int, key: bytes, kind: int, fmt: int) -> tuple[Entry | None, ORSet]:
    """The entry (None: missing) and its state (empty when missing); WRONGTYPE otherwise."""
    entry = ks.lookup(db, key)
    if entry is None:
        return None, ORSet()
    if entry.kind != kind:
        raise errors.WrongType()
    return entry, orset.decode(entry.payload, fmt)


def find(ks: Keyspace, db: int, key: bytes, kind: int, fmt: int,
         element: bytes) -> dict[orset.Dot, bytes] | None:
    """One element's dots (None: no such key or element) without decoding the others."""
    entry = ks.lookup(db, key)
    if entry is None:
        return None
    if entry.kind != kind:
        raise errors.WrongType()
    return orset.find(entry.payload, fmt, element)


def save(ks: Keyspace, db: int, key: bytes, kind: int, fmt: int, entry: Entry | None,
         state: ORSet) -> None:
    """Write the changed state back over what was read; an emptied value deletes the key, as
    Redis does (see docs/datatypes.md for what that means under partition)."""
    if not state.entries:
        if entry is not None:
            ks.delete(db, key, entry.context, entry)
        return
    payload = orset.encode(state, fmt)
    if entry is None:
        ks.put(db, key, kind, payload)
    else:
        ks.put(db, key, kind, payload, entry.expire_at, entry.context)


def store_new(ks: Keyspace, db: int, key: bytes, kind: int, fmt: int,
              fill: Callable[[ORSet], None]) -> int:
    """The STORE commands: replace `key` (any type, TTL dropped) by a new value that
    `fill(state)` builds; keeps the old clock when `key` held this kind, so no dot is reissued.
    Returns the new size; an empty result deletes the key."""
    entry = ks.lookup(db, key)
    state = ORSet()
    if entry is not None and entry.kind == kind:
        state = orset.decode(entry.payload, fmt)
        state.entries.clear()
    fill(state)
    if not state.entries:
        if entry is not None:
            ks.delete(db, key, entry.context, entry)
        return 0
    ks.put(db, key, kind, orset.encode(state, fmt), 0, None if entry is None else entry.context)
    return len(state.entries)


#: values up to this many elements come back whole from one SSCAN/HSCAN/ZSCAN step, as Redis'
#: compact encodings (listpack, intset) do
SCAN_WHOLE = 128


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """SSCAN/HSCAN/ZSCAN's MATCH pattern and COUNT n (at least 1)."""

    pattern: bytes | None = None
    count: int = 10

    @classmethod
    def parse(cls, args: list[bytes]) -> ScanOptions:
        """Parsed after the key's lookup, as Redis does (sscanCommand): WRONGTYPE comes before a
        syntax error, and a missing key answers an empty scan whatever the options say."""
        pattern, count = None, 10
        for i in range(0, len(args), 2):
            opt = args[i].upper()
            if i + 1 >= len(args) or opt not in (b"COUNT", b"MATCH"):
                raise errors.syntax_error()
            if opt == b"COUNT":
                count = to_int(args[i + 1])
                if count < 1:
                    raise errors.syntax_error()
            else:
                pattern = None if args[i + 1] == b"*" else args[i + 1]
        return cls(pattern, count)

    def filter(self, elements: list[bytes]) -> list[bytes]:
        if self.pattern is None:
            return elements
        matches = glob.matcher(self.pattern)
        return [e for e in elements if matches(e)]


def scan_step(elements: list[bytes], cursor: int, count: int) -> tuple[int, list[bytes]]:
    """One step over a value's elements. Small values come back whole (cursor 0). Otherwise
    the cursor is a CRC-32 of an element: a step returns the elements whose CRC is at least
    the cursor, in CRC order, at least `count` of them, never splitting equal CRCs, and answers
    the next element's CRC. Adding or removing elements never moves the others, so an element
    present for the whole scan is returned at least once (Redis' guarantee)."""
    if len(elements) <= SCAN_WHOLE:
        return 0, elements if cursor == 0 else []
    keyed = sorted((zlib.crc32(e), e) for e in elements)
    i = bisect.bisect_left(keyed, (cursor, b""))
    out: list[bytes] = []
    while i < len(keyed) and (len(out) < count or keyed[i][0] == keyed[i - 1][0]):
        out.append(keyed[i][1])
        i += 1
    return (keyed[i][0] if i < len(keyed) else 0), out


def is_integer(member: bytes) -> bool:
    try:
        to_int(member)
    except errors.ReplyError:
        return False
    return True


def ordered(members: Any) -> list[bytes]:
    """Numeric order for integer members (Redis' intset), else byte order."""
    out = sorted(members)
    if out and all(is_integer(m) for m in out):
        out.sort(key=int)
    return out


def load_set(ks: Keyspace, db: int, key: bytes) -> tuple[Entry | None, ORSet]:
    return load(ks, db, key, SET, SET_FORMAT)


def members(ks: Keyspace, db: int, key: bytes) -> ORSet:
    return load(ks, db, key, SET, SET_FORMAT)[1]


# --- single-set commands -------------------------------------------------------------------


@table.command("sadd", -3, "write denyoom fast", arguments=_ARGS["sadd"],
               keys=(1, 1, 1),
               summary="Adds one or more members to a set; creates the key if needed.",
               complexity="O(N) where N is the size of the set (rewritten whole)")
def sadd(ctx: Context, session: Session, args: list[bytes]) -> int:
    ks, db, key = ctx.keyspace, session.db, args[0]
    entry, state = load_set(ks, db, key)
    added, now = 0, ks.clock()
    for member in args[1:]:
        added += member not in state
        state.add(member, ks.node_id, now_ms=now)  # a re-add's new dot wins a concurrent SREM
    save(ks, db, key, SET, SET_FORMAT, entry, state)
    return added


@table.command("srem", -3, "write fast", arguments=_ARGS["srem"],
               keys=(1, 1, 1),
               summary="Removes one or more members from a set; deletes the key when empty.",
               complexity="O(N) where N is the size of the set (rewritten whole)")
def srem(ctx: Context, session: Session, args: list[bytes]) -> int:
    ks, db, key = ctx.keyspace, session.db, args[0]
    entry, state = load_set(ks, db, key)
    removed = sum(state.remove(member) for member in args[1:])
    if removed:
        save(ks, db, key, SET, SET_FORMAT, entry, state)
    return removed


@table.command("smembers", 2, "readonly", arguments=_ARGS["smembers"],
               keys=(1, 1, 1),
               summary="Returns all members of a set.", complexity="O(N)")
def smembers(ctx: Context, session: Session, args: list[bytes]) -> Set:
    return Set(ordered(members(ctx.keyspace, session.db, args[0]).elements()))


@table.command("sismember", 3, "readonly fast", arguments=_ARGS["sismember"],
               keys=(1, 1, 1),
               summary="Determines whether a member belongs to a set.", complexity="O(N)")
def sismember(ctx: Context, session: Session, args: list[bytes]) -> int:
    return int(find(ctx.keyspace, session.db, args[0], SET, SET_FORMAT, args[1]) is not None)


@table.command("smismember", -3, "readonly fast", arguments=_ARGS["smismember"],
               keys=(1, 1, 1), since="6.2.0",
               summary="Determines whether multiple members belong to a set.",
               complexity="O(N)")
def smismember(ctx: Context, session: Session, args: list[bytes]) -> list[int]:
    state = members(ctx.keyspace, session.db, args[0])
    return [int(m in state) for m in args[1:]]


@table.command("scard", 2, "readonly fast", arguments=_ARGS["scard"],
               keys=(1, 1, 1),
               summary="Returns the number of members in a set.", complexity="O(N)")
def scard(ctx: Context, session: Session, args: list[bytes]) -> int:
    return len(members(ctx.keyspace, session.db, args[0]))


def _positive_count(arg: bytes) -> int:
    """SPOP's count: Redis says the same text for junk and for negatives."""
    try:
        count = to_int(arg)
    except errors.ReplyError:
        count = -1
    if count < 0:
        raise errors.ReplyError("value is out of range, must be positive")
    return count


@table.command("spop", -2, "write fast", arguments=_ARGS["spop"],
               keys=(1, 1, 1),
               summary="Removes and returns one or more random members from a set.",
               complexity="O(N) where N is the size of the set (rewritten whole)")
def spop(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) > 2:
        raise errors.syntax_error()
    count = _positive_count(args[1]) if len(args) == 2 else None
    ks, db, key = ctx.keyspace, session.db, args[0]
    entry, state = load_set(ks, db, key)
    if count is None:
        if entry is None:
            return None
        member = random.choice(list(state.elements()))
        state.remove(member)
        save(ks, db, key, SET, SET_FORMAT, entry, state)
        return member
    if entry is None or count == 0:
        return Set([])
    chosen = random.sample(list(state.elements()), min(count, len(state)))
    for member in chosen:
        state.remove(member)
    save(ks, db, key, SET, SET_FORMAT, entry, state)
    return Set(chosen)


@table.command("srandmember", -2, "readonly", arguments=_ARGS["srandmember"],
               keys=(1, 1, 1),
               summary="Returns random members of a set (distinct for a positive count, "
               "possibly repeated for a negative one).", complexity="O(N)",
               support="differs", note="a negative count below -2^24 is refused (the reply is "
               "built in memory)")
def srandmember(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) > 2:
        raise errors.syntax_error()
    count = random_count(args[1]) if len(args) == 2 else None
    state = members(ctx.keyspace, session.db, args[0])
    pool = list(state.elements())
    if count is None:
        return random.choice(pool) if pool else None
    if pool:
        check_repeats(count)
    return random_pick(pool, count)


#: the most picks a negative SRANDMEMBER/HRANDFIELD count may ask for: the reply is built in
#: memory before it is sent (Redis streams it, and its output buffer limit cuts the client off)
MAX_REPEATED_PICKS = 1 << 24


def random_count(arg: bytes) -> int:
    """SRANDMEMBER/HRANDFIELD's count: any 64-bit integer but LLONG_MIN (its negation)."""
    count = to_int(arg)
    if count < -INT64_MAX:
        raise errors.value_out_of_range(-INT64_MAX, INT64_MAX)
    return count


def check_repeats(count: int) -> None:
    if count < -MAX_REPEATED_PICKS:
        raise errors.ReplyError(
            f"value is out of range, a negative count must be at least -{MAX_REPEATED_PICKS}")


def random_pick(pool: list[Any], count: int) -> list[Any]:
    if not pool or count == 0:
        return []
    if count < 0:
        return random.choices(pool, k=-count)
    return random.sample(pool, min(count, len(pool)))


@table.command("smove", 4, "write fast", arguments=_ARGS["smove"],
               keys=(1, 2, 1),
               summary="Moves a member from one set to another.",
               complexity="O(N) where N is the size of the sets (rewritten whole)")
def smove(ctx: Context, session: Session, args: list[bytes]) -> int:
    ks, db, src, dst, member = ctx.keyspace, session.db, args[0], args[1], args[2]
    src_entry = ks.lookup(db, src)
    dst_entry = ks.lookup(db, dst)
    if src_entry is None:
        return 0
    if src_entry.kind != SET or (dst_entry is not None and dst_entry.kind != SET):
        raise errors.WrongType()
    source = orset.decode(src_entry.payload, SET_FORMAT)
    if src == dst:
        return int(member in source)
    if not source.remove(member):
        return 0
    save(ks, db, src, SET, SET_FORMAT, src_entry, source)
    target = ORSet() if dst_entry is None else orset.decode(dst_entry.payload, SET_FORMAT)
    target.add(member, ks.node_id, now_ms=ks.clock())
    save(ks, db, dst, SET, SET_FORMAT, dst_entry, target)
    return 1


# --- multi-set algebra ---------------------------------------------------------------------


def _all_sets(ctx: Context, session: Session, keys: list[bytes]) -> list[set[bytes] | None]:
    """Each key's members (None: missing); every key is type-checked first, as Redis does."""
    ks, db = ctx.keyspace, session.db
    out: list[set[bytes] | None] = []
    for key in keys:
        entry = ks.lookup(db, key)
        if entry is None:
            out.append(None)
        elif entry.kind != SET:
            raise errors.WrongType()
        else:
            out.append(set(orset.decode(entry.payload, SET_FORMAT).elements()))
    return out


def inter(sets: list[set[bytes] | None]) -> set[bytes]:
    if any(s is None for s in sets):
        return set()
    return set.intersection(*sets)  # type: ignore[arg-type]


def union(sets: list[set[bytes] | None]) -> set[bytes]:
    return set().union(*(s for s in sets if s is not None))


def diff(sets: list[set[bytes] | None]) -> set[bytes]:
    first = sets[0] or set()
    return first.difference(*(s for s in sets[1:] if s is not None))


_ALGEBRA = {"sinter": inter, "sunion": union, "sdiff": diff}


def _algebra_command(name: str, summary: str) -> None:
    op = _ALGEBRA[name]

    def read_handler(ctx: Context, session: Session, args: list[bytes]) -> Set:
        return Set(ordered(op(_all_sets(ctx, session, args))))

    def store_handler(ctx: Context, session: Session, args: list[bytes]) -> int:
        result = ordered(op(_all_sets(ctx, session, args[1:])))
        actor, now = ctx.keyspace.node_id, ctx.keyspace.clock()

        def fill(state: ORSet) -> None:
            for member in result:
                state.add(member, actor, now_ms=now)

        return store_new(ctx.keyspace, session.db, args[0], SET, SET_FORMAT, fill)

    table.command(name, -2, "readonly", keys=(1, -1, 1), summary=summary,
                  arguments=(("key", "key", "multiple"),),
                  complexity="O(N) where N is the total number of members")(read_handler)
    table.command(f"{name}store", -3, "write denyoom", keys=(1, -1, 1),
                  arguments=(("destination", "key", ""), ("key", "key", "multiple")),
                  summary=summary.replace("Returns", "Stores"),
                  complexity="O(N) where N is the total number of members")(store_handler)


_algebra_command("sinter", "Returns the intersection of multiple sets.")
_algebra_command("sunion", "Returns the union of multiple sets.")
_algebra_command("sdiff", "Returns the difference between the first set and the others.")


@dataclass(frozen=True, slots=True)
class InterCardOptions:
    """SINTERCARD numkeys key... [LIMIT n] (0 = no limit)."""

    keys: tuple[bytes, ...]
    limit: int = 0

    @classmethod
    def parse(cls, args: list[bytes]) -> InterCardOptions:
        try:
            numkeys = to_int(args[0])
        except errors.ReplyError:
            numkeys = 0
        if numkeys <= 0:
            raise errors.ReplyError("numkeys should be greater than 0")
        if numkeys > len(args) - 1:
            raise errors.ReplyError("Number of keys can't be greater than number of args")
        keys, rest, limit = tuple(args[1 : 1 + numkeys]), args[1 + numkeys :], 0
        for i in range(0, len(rest), 2):
            if rest[i].upper() != b"LIMIT" or i + 1 >= len(rest):
                raise errors.syntax_error()
            try:
                limit = to_int(rest[i + 1])
            except errors.ReplyError:
                limit = -1
            if limit < 0:
                raise errors.ReplyError("LIMIT can't be negative")
        return cls(keys, limit)


@table.command("sintercard", -3, "readonly movablekeys", arguments=_ARGS["sintercard"],
               since="7.0.0",
               summary="Returns the number of members of the intersection of multiple sets.",
               complexity="O(N*M) worst case where N is the cardinality of the smallest set")
def sintercard(ctx: Context, session: Session, args: list[bytes]) -> int:
    opts = InterCardOptions.parse(args)
    size = len(inter(_all_sets(ctx, session, list(opts.keys))))
    return min(size, opts.limit) if opts.limit else size


@table.command("sscan", -3, "readonly", arguments=_ARGS["sscan"],
               keys=(1, 1, 1), since="2.8.0",
               summary="Iterates over the members of a set, a batch per call.",
               complexity="O(1) for every call. O(N) for a complete iteration.",
               support="differs", note="sets of up to 128 members come back in one step; "
               "the cursor of a bigger set is a CRC-32 of a member")
def sscan(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    cursor = parse_cursor(args[1])
    state = members(ctx.keyspace, session.db, args[0])
    opts = ScanOptions.parse(args[2:]) if state else ScanOptions()
    next_cursor, found = scan_step(ordered(state.elements()), cursor, opts.count)
    return [b"%d" % next_cursor, opts.filter(found)]
