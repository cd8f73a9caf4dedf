"""Hash commands (Redis' `hash` group) over an ORSWOT whose dots carry field values
(respdyn/keyspace/crdt/orset.py, cells.py): concurrent writes of different fields are all kept,
concurrent writes of one field resolve to the newest (timestamp, node id), a field written on one
side and deleted on the other is kept (add wins), and HINCRBY fields are counters, so concurrent
HINCRBYs add up.

Values are read and written whole (a big hash is rewritten on every HSET); fields come back in
byte order (Redis: insertion order for small hashes).
"""

from __future__ import annotations

from typing import Any

from respdyn import errors
from respdyn.commands.args import (
    INT64_MAX,
    INT64_MIN,
    add_long_double,
    to_int,
    to_long_double,
)
from respdyn.commands.context import Context
from respdyn.commands.keys import parse_cursor
from respdyn.commands.registry import CommandTable
from respdyn.commands.sets import (
    ScanOptions,
    check_repeats,
    find,
    load,
    random_count,
    random_pick,
    save,
    scan_step,
)
from respdyn.keyspace.crdt import cells
from respdyn.keyspace.crdt import counter as pn
from respdyn.keyspace.crdt.orset import HASH_FORMAT, ORSet
from respdyn.keyspace.keyspace import Entry, Keyspace
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import OK, Map
from respdyn.session import Session

table = CommandTable("hash")

HASH = Kind.HASH

#: COMMAND DOCS arguments (redis-cli's hints): name (`TOKEN value` for options), type, flags
_ARGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "hset": (("key", "key", ""), ("field value", "string", "multiple"),),
    "hmset": (("key", "key", ""), ("field value", "string", "multiple"),),
    "hsetnx": (("key", "key", ""), ("field", "string", ""), ("value", "string", ""),),
    "hdel": (("key", "key", ""), ("field", "string", "multiple"),),
    "hincrby": (("key", "key", ""), ("field", "string", ""), ("increment", "integer", ""),),
    "hincrbyfloat": (("key", "key", ""), ("field", "string", ""), ("increment", "double", ""),),
    "hget": (("key", "key", ""), ("field", "string", ""),),
    "hmget": (("key", "key", ""), ("field", "string", "multiple"),),
    "hgetall": (("key", "key", ""),),
    "hkeys": (("key", "key", ""),),
    "hvals": (("key", "key", ""),),
    "hlen": (("key", "key", ""),),
    "hexists": (("key", "key", ""), ("field", "string", ""),),
    "hstrlen": (("key", "key", ""), ("field", "string", ""),),
    "hrandfield": (
        ("key", "key", ""),
        ("count", "integer", "optional"),
        ("WITHVALUES", "pure-token", "optional"),
    ),
    "hscan": (
        ("key", "key", ""),
        ("cursor", "integer", ""),
        ("MATCH pattern", "pattern", "optional"),
        ("COUNT count", "integer", "optional"),
    ),
}


def load_hash(ks: Keyspace, db: int, key: bytes) -> tuple[Entry | None, ORSet]:
    return load(ks, db, key, HASH, HASH_FORMAT)


def fields(ctx: Context, session: Session, key: bytes) -> ORSet:
    return load_hash(ctx.keyspace, session.db, key)[1]


def field_value(ctx: Context, session: Session, key: bytes, name: bytes) -> bytes | None:
    """One field's value without decoding the rest of the hash."""
    dots = find(ctx.keyspace, session.db, key, HASH, HASH_FORMAT, name)
    return None if dots is None else cells.resolve_field(list(dots.items())).value


def value_of(state: ORSet, name: bytes) -> bytes | None:
    field = cells.get_field(state, name)
    return None if field is None else field.value


def items(state: ORSet) -> list[tuple[bytes, bytes]]:
    """(field, value) pairs in field byte order."""
    return [(name, cells.resolve_field(list(dots.items())).value)
            for name, dots in sorted(state.entries.items())]


def save_hash(ctx: Context, session: Session, key: bytes, entry: Entry | None,
              state: ORSet) -> None:
    save(ctx.keyspace, session.db, key, HASH, HASH_FORMAT, entry, state)


# --- writes --------------------------------------------------------------------------------


def hset_generic(ctx: Context, session: Session, args: list[bytes], command: str) -> int:
    """HSET and HMSET: every pair is written (a new dot per field); returns the new fields."""
    if len(args) % 2 == 0:
        raise errors.wrong_arity(command)
    ks, key = ctx.keyspace, args[0]
    entry, state = load_hash(ks, session.db, key)
    now = ks.clock()
    added = 0
    for name, value in zip(args[1::2], args[2::2], strict=True):
        added += name not in state
        cells.set_register(state, name, value, ks.node_id, now)
    save_hash(ctx, session, key, entry, state)
    return added


@table.command("hset", -4, "write denyoom fast", arguments=_ARGS["hset"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Creates or modifies the value of fields in a hash.",
               complexity="O(N) where N is the size of the hash (rewritten whole)")
def hset(ctx: Context, session: Session, args: list[bytes]) -> int:
    return hset_generic(ctx, session, args, "hset")


@table.command("hmset", -4, "write denyoom fast", arguments=_ARGS["hmset"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Sets the values of multiple fields (deprecated: HSET does it).",
               complexity="O(N) where N is the size of the hash (rewritten whole)")
def hmset(ctx: Context, session: Session, args: list[bytes]) -> Any:
    hset_generic(ctx, session, args, "hmset")
    return OK


@table.command("hsetnx", 4, "write denyoom fast", arguments=_ARGS["hsetnx"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Sets the value of a field only when the field does not exist.",
               complexity="O(N) where N is the size of the hash (rewritten whole)")
def hsetnx(ctx: Context, session: Session, args: list[bytes]) -> int:
    ks, key, name = ctx.keyspace, args[0], args[1]
    entry, state = load_hash(ks, session.db, key)
    if name in state:
        return 0
    cells.set_register(state, name, args[2], ks.node_id, ks.clock())
    save_hash(ctx, session, key, entry, state)
    return 1


@table.command("hdel", -3, "write fast", arguments=_ARGS["hdel"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Deletes fields from a hash; deletes the key when it becomes empty.",
               complexity="O(N) where N is the size of the hash (rewritten whole)")
def hdel(ctx: Context, session: Session, args: list[bytes]) -> int:
    entry, state = load_hash(ctx.keyspace, session.db, args[0])
    removed = sum(state.remove(name) for name in args[1:])
    if removed:
        save_hash(ctx, session, args[0], entry, state)
    return removed


@table.command("hincrby", 4, "write denyoom fast", arguments=_ARGS["hincrby"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Increments the integer value of a field by a number.",
               complexity="O(N) where N is the size of the hash (rewritten whole)")
def hincrby(ctx: Context, session: Session, args: list[bytes]) -> int:
    """The field becomes (or stays) a counter, so concurrent HINCRBYs add up."""
    delta = to_int(args[2])
    ks, key, name = ctx.keyspace, args[0], args[1]
    entry, state = load_hash(ks, session.db, key)
    field = cells.get_field(state, name)
    if field is None:
        current = pn.fresh()
    elif field.counter is not None:
        current = field.counter
    else:
        base = to_int(field.value, errors.ReplyError("hash value is not an integer"))
        current = pn.from_int(base, field.ts, field.node)
    value = current.value()
    if not INT64_MIN <= value <= INT64_MAX:
        raise errors.ReplyError("hash value is not an integer")
    if (delta < 0 and value < 0 and delta < INT64_MIN - value) or (
        delta > 0 and value > 0 and delta > INT64_MAX - value
    ):
        raise errors.overflow()
    cells.set_counter(state, name, pn.add(current, ks.node_id, delta), ks.node_id, ks.clock())
    save_hash(ctx, session, key, entry, state)
    return value + delta


@table.command("hincrbyfloat", 4, "write denyoom fast", arguments=_ARGS["hincrbyfloat"],
               keys=(1, 1, 1), since="2.6.0",
               summary="Increments the floating point value of a field by a number.",
               complexity="O(N) where N is the size of the hash (rewritten whole)")
def hincrbyfloat(ctx: Context, session: Session, args: list[bytes]) -> bytes:
    """A read-modify-write of the field's register (not a counter: concurrent ones keep the
    newest)."""
    if isinstance(to_long_double(args[2]), float):
        raise errors.ReplyError("value is NaN or Infinity")
    ks, key, name = ctx.keyspace, args[0], args[1]
    entry, state = load_hash(ks, session.db, key)
    current = value_of(state, name)
    if current is not None:
        try:
            to_long_double(current)
        except errors.ReplyError:
            raise errors.ReplyError("hash value is not a float") from None
    value = add_long_double(b"0" if current is None else current, args[2])
    cells.set_register(state, name, value, ks.node_id, ks.clock())
    save_hash(ctx, session, key, entry, state)
    return value


# --- reads ---------------------------------------------------------------------------------


@table.command("hget", 3, "readonly fast", arguments=_ARGS["hget"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns the value of a field in a hash.", complexity="O(N)")
def hget(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    return field_value(ctx, session, args[0], args[1])


@table.command("hmget", -3, "readonly fast", arguments=_ARGS["hmget"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns the values of fields in a hash.", complexity="O(N)")
def hmget(ctx: Context, session: Session, args: list[bytes]) -> list[bytes | None]:
    state = fields(ctx, session, args[0])
    return [value_of(state, name) for name in args[1:]]


@table.command("hgetall", 2, "readonly", arguments=_ARGS["hgetall"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns all fields and values of a hash.", complexity="O(N)")
def hgetall(ctx: Context, session: Session, args: list[bytes]) -> Map:
    return Map(items(fields(ctx, session, args[0])))


@table.command("hkeys", 2, "readonly", arguments=_ARGS["hkeys"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns all fields of a hash.", complexity="O(N)")
def hkeys(ctx: Context, session: Session, args: list[bytes]) -> list[bytes]:
    return sorted(fields(ctx, session, args[0]).elements())


@table.command("hvals", 2, "readonly", arguments=_ARGS["hvals"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns all values of a hash.", complexity="O(N)")
def hvals(ctx: Context, session: Session, args: list[bytes]) -> list[bytes]:
    return [value for _, value in items(fields(ctx, session, args[0]))]


@table.command("hexists", 3, "readonly fast", arguments=_ARGS["hexists"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Determines whether a field exists in a hash.", complexity="O(N)")
def hexists(ctx: Context, session: Session, args: list[bytes]) -> int:
    return int(find(ctx.keyspace, session.db, args[0], HASH, HASH_FORMAT, args[1]) is not None)


@table.command("hlen", 2, "readonly fast", arguments=_ARGS["hlen"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns the number of fields in a hash.", complexity="O(N)")
def hlen(ctx: Context, session: Session, args: list[bytes]) -> int:
    return len(fields(ctx, session, args[0]))


@table.command("hstrlen", 3, "readonly fast", arguments=_ARGS["hstrlen"],
               keys=(1, 1, 1), since="3.2.0",
               summary="Returns the length of the value of a field.", complexity="O(N)")
def hstrlen(ctx: Context, session: Session, args: list[bytes]) -> int:
    value = field_value(ctx, session, args[0], args[1])
    return 0 if value is None else len(value)


#: HRANDFIELD WITHVALUES refuses negative counts beyond this (Redis: -LONG_MAX / 2)
_PAIRS_MIN = -(INT64_MAX // 2)


@table.command("hrandfield", -2, "readonly", arguments=_ARGS["hrandfield"],
               keys=(1, 1, 1), since="6.2.0",
               summary="Returns random fields (and values) from a hash.", complexity="O(N)",
               support="differs", note="a negative count below -2^24 is refused (the reply is "
               "built in memory)")
def hrandfield(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) > 3 or (len(args) == 3 and args[2].upper() != b"WITHVALUES"):
        raise errors.syntax_error()
    count = random_count(args[1]) if len(args) >= 2 else None
    with_values = len(args) == 3
    if with_values and count is not None and count < _PAIRS_MIN:
        raise errors.ReplyError("value is out of range")
    state = fields(ctx, session, args[0])
    if count is None:
        return random_pick(sorted(state.elements()), 1)[0] if state else None
    if state:
        check_repeats(count)
    picked = random_pick(items(state), count)
    if not with_values:
        return [name for name, _ in picked]
    if session.protocol >= 3:
        return [[name, value] for name, value in picked]  # RESP3: pairs, as Redis 7
    return [x for pair in picked for x in pair]


@table.command("hscan", -3, "readonly", arguments=_ARGS["hscan"],
               keys=(1, 1, 1), since="2.8.0",
               summary="Iterates over the fields and values of a hash, a batch per call.",
               complexity="O(1) for every call. O(N) for a complete iteration.",
               support="differs", note="hashes of up to 128 fields come back in one step; "
               "the cursor of a bigger hash is a CRC-32 of a field")
def hscan(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    cursor = parse_cursor(args[1])
    state = fields(ctx, session, args[0])
    opts = ScanOptions.parse(args[2:]) if state else ScanOptions()
    next_cursor, found = scan_step(sorted(state.elements()), cursor, opts.count)
    out: list[bytes] = []
    for name in opts.filter(found):
        out += [name, value_of(state, name)]  # type: ignore[list-item]
    return [b"%d" % next_cursor, out]
