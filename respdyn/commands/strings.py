"""String commands (Redis' `string` group).

As in Redis, variants share one generic helper: SET, SETNX, SETEX, PSETEX and GETSET all go
through `set_generic`; INCR, DECR, INCRBY and DECRBY through `incr_by`. Options are parsed into
`SetOptions` before any keyspace I/O (parse, then apply), and a plain `SET k v` / `GET k` skips
option handling entirely: they are the benchmarked hot path.

INCR and friends turn the key into a PN-counter (`Kind.COUNTER`, respdyn/keyspace/crdt/counter.py)
so that concurrent increments on two sides of a partition add up. Every string command reads a
counter as its decimal text (`_text`), so clients cannot tell it from the integer string Redis
would hold; a command that writes other bytes (SET, APPEND, SETRANGE, INCRBYFLOAT) makes it a
plain string again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from respdyn import errors
from respdyn.commands.args import INT64_MAX, INT64_MIN, add_long_double, to_int
from respdyn.commands.context import Context
from respdyn.commands.registry import CommandTable
from respdyn.keyspace import layout
from respdyn.keyspace.crdt import counter
from respdyn.keyspace.crdt.codec import read_uvarint, uvarint
from respdyn.keyspace.keyspace import Entry, Keyspace
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import OK, Map
from respdyn.session import Session

table = CommandTable("string")

STRING = Kind.STRING
COUNTER = Kind.COUNTER

#: COMMAND DOCS arguments (redis-cli's hints): name (`TOKEN value` for options), type, flags
_ARGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "get": (("key", "key", ""),),
    "set": (
        ("key", "key", ""),
        ("value", "string", ""),
        ("NX", "pure-token", "optional"),
        ("XX", "pure-token", "optional"),
        ("GET", "pure-token", "optional"),
        ("EX seconds", "integer", "optional"),
        ("PX milliseconds", "integer", "optional"),
        ("EXAT unix-time-seconds", "unix-time", "optional"),
        ("PXAT unix-time-milliseconds", "unix-time", "optional"),
        ("KEEPTTL", "pure-token", "optional"),
    ),
    "setnx": (("key", "key", ""), ("value", "string", "")),
    "setex": (("key", "key", ""), ("seconds", "integer", ""), ("value", "string", "")),
    "psetex": (("key", "key", ""), ("milliseconds", "integer", ""), ("value", "string", "")),
    "getset": (("key", "key", ""), ("value", "string", "")),
    "getdel": (("key", "key", ""),),
    "getex": (
        ("key", "key", ""),
        ("EX seconds", "integer", "optional"),
        ("PX milliseconds", "integer", "optional"),
        ("EXAT unix-time-seconds", "unix-time", "optional"),
        ("PXAT unix-time-milliseconds", "unix-time", "optional"),
        ("PERSIST", "pure-token", "optional"),
    ),
    "mget": (("key", "key", "multiple"),),
    "append": (("key", "key", ""), ("value", "string", "")),
    "strlen": (("key", "key", ""),),
    "getrange": (("key", "key", ""), ("start", "integer", ""), ("end", "integer", "")),
    "substr": (("key", "key", ""), ("start", "integer", ""), ("end", "integer", "")),
    "setrange": (("key", "key", ""), ("offset", "integer", ""), ("value", "string", "")),
    "incr": (("key", "key", ""),),
    "decr": (("key", "key", ""),),
    "incrby": (("key", "key", ""), ("increment", "integer", "")),
    "decrby": (("key", "key", ""), ("decrement", "integer", "")),
    "incrbyfloat": (("key", "key", ""), ("increment", "double", "")),
    "lcs": (
        ("key1", "key", ""),
        ("key2", "key", ""),
        ("LEN", "pure-token", "optional"),
        ("IDX", "pure-token", "optional"),
        ("MINMATCHLEN min-match-len", "integer", "optional"),
        ("WITHMATCHLEN", "pure-token", "optional"),
    ),
}


# --- options ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetOptions:
    """The options of SET (NX XX GET KEEPTTL EX PX EXAT PXAT) and GETEX (EX PX EXAT PXAT
    PERSIST), with Redis' exclusion rules: every violation is a plain syntax error."""

    nx: bool = False
    xx: bool = False
    get: bool = False
    keepttl: bool = False
    persist: bool = False
    unit: bytes = b""  #: b"EX", b"PX", b"EXAT" or b"PXAT"; empty = no expiry given
    when: bytes = b""  #: the unparsed time argument of `unit`

    @classmethod
    def parse(cls, args: list[bytes], for_getex: bool = False) -> SetOptions:
        """Options after SET's key and value (or GETEX's key). Repeating an option is allowed
        (the last time wins), as in Redis."""
        nx = xx = get = keepttl = persist = False
        unit = when = b""
        i, n = 0, len(args)
        while i < n:
            opt = args[i].upper()
            if opt == b"NX" and not xx and not for_getex:
                nx = True
            elif opt == b"XX" and not nx and not for_getex:
                xx = True
            elif opt == b"GET" and not for_getex:
                get = True
            elif opt == b"KEEPTTL" and not unit and not for_getex:
                keepttl = True
            elif opt == b"PERSIST" and not unit and for_getex:
                persist = True
            elif (
                opt in _UNITS
                and unit in (b"", opt)
                and not keepttl
                and not persist
                and i + 1 < n
            ):
                unit, when = opt, args[i + 1]
                i += 1
            else:
                raise errors.syntax_error()
            i += 1
        return cls(nx, xx, get, keepttl, persist, unit, when)

    def expire_at(self, command: str, now: int) -> int:
        """The absolute expiry in unix ms (0 = none), with Redis' range checks."""
        if not self.unit:
            return 0
        return absolute_ms(self.when, self.unit, command, now)


_UNITS = {b"EX": (1000, True), b"PX": (1, True), b"EXAT": (1000, False), b"PXAT": (1, False)}
_NX = SetOptions(nx=True)
_GET = SetOptions(get=True)


def absolute_ms(when: bytes, unit: bytes, command: str, now: int) -> int:
    """Redis' getExpireMillisecondsOrReply: positive, and no overflow in unit or base time."""
    scale, relative = _UNITS[unit]
    value = to_int(when)
    if value <= 0 or value > INT64_MAX // scale:
        raise errors.invalid_expire(command)
    value *= scale
    if relative:
        if value > INT64_MAX - now:
            raise errors.invalid_expire(command)
        value += now
    return value


# --- shared helpers --------------------------------------------------------------------------


def set_generic(
    ctx: Context,
    db: int,
    key: bytes,
    value: bytes,
    opts: SetOptions,
    command: str,
    ok_reply: Any = OK,
    abort_reply: Any = None,
) -> Any:
    """SET with options, the one implementation behind SET/SETNX/SETEX/PSETEX/GETSET."""
    ks = ctx.keyspace
    now = ks.clock()
    expire_at = opts.expire_at(command, now)
    entry = None
    if opts.get or opts.nx or opts.xx or opts.keepttl:
        entry = ks.lookup(db, key)
        if opts.get and entry is not None and entry.kind != STRING:
            text_of(entry)  # a counter reads as its text; any other kind is WRONGTYPE
        if (opts.nx and entry is not None) or (opts.xx and entry is None):
            return _old(entry) if opts.get else abort_reply
        if opts.keepttl and entry is not None:
            expire_at = entry.expire_at
    if expire_at and expire_at <= now:
        ks.delete(db, key)  # EXAT/PXAT in the past: the key is born expired
    else:
        ks.put(db, key, STRING, value, expire_at)
    return _old(entry) if opts.get else ok_reply


def _old(entry: Entry | None) -> bytes | None:
    return None if entry is None else text_of(entry)


def text_of(entry: Entry) -> bytes:
    """The bytes of a string-typed value: a string's payload, a counter's decimal text."""
    if entry.kind == STRING:
        return entry.payload
    if entry.kind == COUNTER:
        return b"%d" % counter.decode(entry.payload).value()
    raise errors.WrongType()


def _lookup_text(ks: Keyspace, db: int, key: bytes) -> tuple[Entry | None, bytes]:
    """The live string-typed entry of `key` and its bytes (b"" when missing)."""
    entry = ks.lookup(db, key)
    return entry, (b"" if entry is None else text_of(entry))


def _get_text(ks: Keyspace, db: int, key: bytes) -> bytes | None:
    entry = ks.lookup(db, key)
    return None if entry is None else text_of(entry)


def _rewrite(ks: Keyspace, db: int, key: bytes, entry: Entry | None, payload: bytes) -> None:
    """Replace a string's bytes in place: its TTL stays (APPEND, SETRANGE, INCR...)."""
    if entry is None:
        ks.put(db, key, STRING, payload)
    else:
        ks.put(db, key, STRING, payload, entry.expire_at, entry.context)


def _string_version(ks: Keyspace, db: int, key: bytes) -> tuple[int, bytes]:
    """(timestamp, node) of the live string version of `key`: every replica that converts the
    same version to a counter tags it the same, so their increments add up. Read again (only on
    a conversion) because an `Entry` does not carry the version's identity."""
    sibling = ks.resolve(ks.store.read(layout.data_key(db, key)), ks.clock())
    return (0, b"") if sibling is None else (sibling.timestamp, sibling.node)


def _counter_of(ks: Keyspace, db: int, key: bytes, entry: Entry | None) -> counter.Counter:
    """The counter behind `key`: fresh, stored, or converted from an integer string."""
    if entry is None:
        return counter.fresh()
    if entry.kind == COUNTER:
        return counter.decode(entry.payload)
    if entry.kind != STRING:
        raise errors.WrongType()
    return counter.from_int(to_int(entry.payload), *_string_version(ks, db, key))


# A counter that only this node has incremented (created by INCR on a missing key, never
# converted from a string) is `_OWN_HEAD + blob(node) + uvarint(p) + uvarint(n)`: format 0x01,
# base 0, tag_ts 0, empty tag_node, one entry (counter.py's layout). INCR reads and writes that
# shape directly; every other counter goes through counter.py. tests/commands/test_counters.py
# checks both give the same bytes.
_OWN_HEAD = b"\x01\x00\x00\x00\x01"
_own_prefixes: dict[bytes, bytes] = {}


def _own_prefix(node: bytes) -> bytes:
    prefix = _own_prefixes.get(node)
    if prefix is None:
        prefix = _own_prefixes[node] = _OWN_HEAD + uvarint(len(node)) + node
    return prefix


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); (-1, pos) if the data ends inside the varint."""
    try:
        return read_uvarint(data, pos)
    except IndexError:
        return -1, pos


def own_counter(payload: bytes, prefix: bytes) -> tuple[int, int] | None:
    """(p, n) of a counter payload of the shape above for the node of `prefix`; None for any
    other counter (let counter.py decode it)."""
    if not payload.startswith(prefix):
        return None
    p, pos = _read_uvarint(payload, len(prefix))
    if p < 0:
        return None
    n, pos = _read_uvarint(payload, pos)
    return None if n < 0 or pos != len(payload) else (p, n)


def encode_own_counter(prefix: bytes, p: int, n: int) -> bytes:
    """`counter.encode` of the one-entry counter (p, n) of the node of `prefix`."""
    return prefix + uvarint(p) + uvarint(n)


def incr_by(ctx: Context, session: Session, key: bytes, delta: int) -> int:
    """INCR/DECR/INCRBY/DECRBY: a counter's per-node entry grows by `delta` (concurrent
    increments merge by summing); the value must stay a 64-bit integer."""
    ks, db = ctx.keyspace, session.db
    entry = ks.lookup(db, key)
    prefix = _own_prefix(ks.node_id)
    if entry is None:
        own: tuple[int, int] | None = (0, 0)
    else:
        own = own_counter(entry.payload, prefix) if entry.kind == COUNTER else None
    if own is not None:  # the common case, without counter.py's objects
        p, n = own
        current = p - n
        if not INT64_MIN <= current <= INT64_MAX:
            raise errors.not_integer()
        if (delta < 0 and current < 0 and delta < INT64_MIN - current) or (
            delta > 0 and current > 0 and delta > INT64_MAX - current
        ):
            raise errors.overflow()
        payload = encode_own_counter(prefix, p + delta, n) if delta >= 0 else (
            encode_own_counter(prefix, p, n - delta))
        if entry is None:
            ks.put(db, key, COUNTER, payload)
        else:
            ks.put(db, key, COUNTER, payload, entry.expire_at, entry.context)
        return current + delta
    state = _counter_of(ks, db, key, entry)
    current = state.value()
    if not INT64_MIN <= current <= INT64_MAX:
        raise errors.not_integer()  # merged contributions beyond 64 bits
    if (delta < 0 and current < 0 and delta < INT64_MIN - current) or (
        delta > 0 and current > 0 and delta > INT64_MAX - current
    ):
        raise errors.overflow()
    payload = counter.encode(counter.add(state, ks.node_id, delta))
    if entry is None:
        ks.put(db, key, COUNTER, payload)
    else:
        ks.put(db, key, COUNTER, payload, entry.expire_at, entry.context)
    return current + delta


def _check_length(ctx: Context, size: int, append: int) -> None:
    """CVE-2022-35977: refuse before allocating a string beyond proto-max-bulk-len."""
    if size + append > ctx.config.proto_max_bulk_len:
        raise errors.string_too_long()


# --- GET / SET family ------------------------------------------------------------------------


@table.command(
    "get", 2, "readonly fast", keys=(1, 1, 1),
    arguments=_ARGS["get"],
    summary="Returns the string value of a key.", complexity="O(1)",
)
def get(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    entry = ctx.keyspace.lookup(session.db, args[0])
    if entry is None:
        return None
    return entry.payload if entry.kind == STRING else text_of(entry)


@table.command(
    "set", -3, "write denyoom", keys=(1, 1, 1),
    arguments=_ARGS["set"],
    summary="Sets the string value of a key, ignoring its type; optionally expires it, "
    "sets it only if it (does not) exist, or returns the old value.",
    complexity="O(1)",
)
def set_(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) == 2:
        ctx.keyspace.put(session.db, args[0], STRING, args[1])
        return OK
    opts = SetOptions.parse(args[2:])
    return set_generic(ctx, session.db, args[0], args[1], opts, "set")


@table.command(
    "setnx", 3, "write denyoom fast", keys=(1, 1, 1),
    arguments=_ARGS["setnx"],
    summary="Sets the string value of a key only when the key does not exist.",
    complexity="O(1)",
)
def setnx(ctx: Context, session: Session, args: list[bytes]) -> int:
    return set_generic(ctx, session.db, args[0], args[1], _NX, "setnx", 1, 0)


@table.command(
    "setex", 4, "write denyoom", keys=(1, 1, 1), since="2.0.0",
    arguments=_ARGS["setex"],
    summary="Sets the string value and the expiry in seconds of a key.", complexity="O(1)",
)
def setex(ctx: Context, session: Session, args: list[bytes]) -> Any:
    opts = SetOptions(unit=b"EX", when=args[1])
    return set_generic(ctx, session.db, args[0], args[2], opts, "setex")


@table.command(
    "psetex", 4, "write denyoom", keys=(1, 1, 1), since="2.6.0",
    arguments=_ARGS["psetex"],
    summary="Sets the string value and the expiry in milliseconds of a key.",
    complexity="O(1)",
)
def psetex(ctx: Context, session: Session, args: list[bytes]) -> Any:
    opts = SetOptions(unit=b"PX", when=args[1])
    return set_generic(ctx, session.db, args[0], args[2], opts, "psetex")


@table.command(
    "getset", 3, "write denyoom fast", keys=(1, 1, 1),
    arguments=_ARGS["getset"],
    summary="Sets a key's string value and returns the previous one.", complexity="O(1)",
)
def getset(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    return set_generic(ctx, session.db, args[0], args[1], _GET, "getset")


@table.command(
    "getdel", 2, "write fast", keys=(1, 1, 1), since="6.2.0",
    arguments=_ARGS["getdel"],
    summary="Returns the string value of a key and deletes the key.", complexity="O(1)",
)
def getdel(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    ks, db, key = ctx.keyspace, session.db, args[0]
    entry = ks.lookup(db, key)
    if entry is None:
        return None
    text = text_of(entry)
    ks.delete(db, key, entry.context)
    return text


@table.command(
    "getex", -2, "write fast", keys=(1, 1, 1), since="6.2.0",
    arguments=_ARGS["getex"],
    summary="Returns the string value of a key and sets or removes its expiry.",
    complexity="O(1)",
)
def getex(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    opts = SetOptions.parse(args[1:], for_getex=True)
    ks, db, key = ctx.keyspace, session.db, args[0]
    entry = ks.lookup(db, key)
    if entry is None:
        return None
    text = text_of(entry)
    now = ks.clock()
    expire_at = opts.expire_at("getex", now)  # validated after the lookup, as Redis does
    if expire_at and expire_at <= now:
        ks.delete(db, key, entry.context)
    elif expire_at or (opts.persist and entry.expire_at):
        ks.put(db, key, entry.kind, entry.payload, expire_at, entry.context)
    return text


@table.command(
    "mget", -2, "readonly fast", keys=(1, -1, 1),
    arguments=_ARGS["mget"],
    summary="Returns the string values of keys; nil for missing or non-string keys.",
    complexity="O(N) where N is the number of keys to retrieve.",
)
def mget(ctx: Context, session: Session, args: list[bytes]) -> list[bytes | None]:
    lookup, db = ctx.keyspace.lookup, session.db
    out: list[bytes | None] = []
    for key in args:
        entry = lookup(db, key)
        if entry is None or entry.kind not in (STRING, COUNTER):
            out.append(None)
        else:
            out.append(entry.payload if entry.kind == STRING else text_of(entry))
    return out


def _pairs(args: list[bytes], command: str) -> list[tuple[bytes, bytes]]:
    if len(args) % 2:
        raise errors.wrong_arity(command)
    return list(zip(args[::2], args[1::2], strict=True))


@table.command(
    "mset", -3, "write denyoom", keys=(1, -1, 2), since="1.0.1",
    summary="Sets the string values of keys, removing their expiries.",
    complexity="O(N) where N is the number of keys to set.",
)
def mset(ctx: Context, session: Session, args: list[bytes]) -> Any:
    ctx.keyspace.put_many(session.db, STRING, _pairs(args, "mset"))
    return OK


@table.command(
    "msetnx", -3, "write denyoom", keys=(1, -1, 2), since="1.0.1",
    summary="Sets the string values of keys only if none of the keys exists.",
    complexity="O(N) where N is the number of keys to set.",
)
def msetnx(ctx: Context, session: Session, args: list[bytes]) -> int:
    pairs = _pairs(args, "msetnx")
    ks, db = ctx.keyspace, session.db
    if any(ks.exists(db, key) for key, _ in pairs):
        return 0
    ks.put_many(db, STRING, pairs)
    return 1


# --- partial updates -------------------------------------------------------------------------


@table.command(
    "append", 3, "write denyoom fast", keys=(1, 1, 1), since="2.0.0",
    arguments=_ARGS["append"],
    summary="Appends a string to a key's value; creates the key if missing.",
    complexity="O(1) amortized",
)
def append(ctx: Context, session: Session, args: list[bytes]) -> int:
    ks, db, key, tail = ctx.keyspace, session.db, args[0], args[1]
    entry, old = _lookup_text(ks, db, key)
    if entry is None:
        ks.put(db, key, STRING, tail)
        return len(tail)
    _check_length(ctx, len(old), len(tail))
    value = old + tail
    _rewrite(ks, db, key, entry, value)
    return len(value)


@table.command(
    "strlen", 2, "readonly fast", keys=(1, 1, 1), since="2.2.0",
    arguments=_ARGS["strlen"],
    summary="Returns the length of a string value.", complexity="O(1)",
)
def strlen(ctx: Context, session: Session, args: list[bytes]) -> int:
    value = _get_text(ctx.keyspace, session.db, args[0])
    return 0 if value is None else len(value)


def _getrange(ctx: Context, session: Session, args: list[bytes]) -> bytes:
    start, end = to_int(args[1]), to_int(args[2])
    value = _get_text(ctx.keyspace, session.db, args[0])
    if value is None or (start < 0 and end < 0 and start > end):
        return b""
    size = len(value)
    start = max(start + size if start < 0 else start, 0)
    end = min(max(end + size if end < 0 else end, 0), size - 1)
    return value[start : end + 1] if start <= end else b""


table.command(
    "getrange", 4, "readonly", keys=(1, 1, 1), since="2.4.0",
    arguments=_ARGS["getrange"],
    summary="Returns a substring of a string value (inclusive offsets, negative from the end).",
    complexity="O(N) where N is the length of the returned string.",
)(_getrange)
table.command(
    "substr", 4, "readonly", keys=(1, 1, 1),
    arguments=_ARGS["substr"],
    summary="Returns a substring of a string value (the old name of GETRANGE).",
    complexity="O(N) where N is the length of the returned string.",
)(_getrange)


@table.command(
    "setrange", 4, "write denyoom", keys=(1, 1, 1), since="2.2.0",
    arguments=_ARGS["setrange"],
    summary="Overwrites part of a string value from an offset, zero-padding as needed.",
    complexity="O(1), not counting the time taken to copy the new string in place.",
)
def setrange(ctx: Context, session: Session, args: list[bytes]) -> int:
    key, value = args[0], args[2]
    offset = to_int(args[1])
    if offset < 0:
        raise errors.offset_out_of_range()
    ks, db = ctx.keyspace, session.db
    entry, old = _lookup_text(ks, db, key)
    if not value:
        return len(old)  # nothing to write; a missing key stays missing
    _check_length(ctx, offset, len(value))  # before building the padded string
    if len(old) < offset:
        old += bytes(offset - len(old))
    new = old[:offset] + value + old[offset + len(value) :]
    _rewrite(ks, db, key, entry, new)
    return len(new)


# --- counters --------------------------------------------------------------------------------


@table.command(
    "incr", 2, "write denyoom fast", keys=(1, 1, 1),
    arguments=_ARGS["incr"],
    summary="Increments the integer value of a key by one.", complexity="O(1)",
)
def incr(ctx: Context, session: Session, args: list[bytes]) -> int:
    return incr_by(ctx, session, args[0], 1)


@table.command(
    "decr", 2, "write denyoom fast", keys=(1, 1, 1),
    arguments=_ARGS["decr"],
    summary="Decrements the integer value of a key by one.", complexity="O(1)",
)
def decr(ctx: Context, session: Session, args: list[bytes]) -> int:
    return incr_by(ctx, session, args[0], -1)


@table.command(
    "incrby", 3, "write denyoom fast", keys=(1, 1, 1),
    arguments=_ARGS["incrby"],
    summary="Increments the integer value of a key by a number.", complexity="O(1)",
)
def incrby(ctx: Context, session: Session, args: list[bytes]) -> int:
    return incr_by(ctx, session, args[0], to_int(args[1]))


@table.command(
    "decrby", 3, "write denyoom fast", keys=(1, 1, 1),
    arguments=_ARGS["decrby"],
    summary="Decrements the integer value of a key by a number.", complexity="O(1)",
)
def decrby(ctx: Context, session: Session, args: list[bytes]) -> int:
    delta = to_int(args[1])
    if delta == INT64_MIN:
        raise errors.decrement_overflow()
    return incr_by(ctx, session, args[0], -delta)


@table.command(
    "incrbyfloat", 3, "write denyoom fast", keys=(1, 1, 1), since="2.6.0",
    arguments=_ARGS["incrbyfloat"],
    summary="Increments the floating point value of a key by a number.", complexity="O(1)",
)
def incrbyfloat(ctx: Context, session: Session, args: list[bytes]) -> bytes:
    ks, db, key = ctx.keyspace, session.db, args[0]
    entry, old = _lookup_text(ks, db, key)
    value = add_long_double(old if entry is not None else b"0", args[1])
    _rewrite(ks, db, key, entry, value)
    return value


# --- LCS -------------------------------------------------------------------------------------

#: the LCS table respdyn agrees to build, in cells (bits): 128 MiB. Redis allocates 4 bytes a
#: cell and answers its out-of-memory error when that fails; respdyn refuses earlier so one
#: request cannot stall every client on this event loop.
LCS_MAX_CELLS = 1 << 30


@dataclass(frozen=True, slots=True)
class LcsOptions:
    """LCS's LEN, IDX, MINMATCHLEN n (negative counts as 0) and WITHMATCHLEN."""

    length: bool = False
    idx: bool = False
    min_match_len: int = 0
    with_match_len: bool = False

    @classmethod
    def parse(cls, args: list[bytes]) -> LcsOptions:
        length = idx = with_len = False
        min_len = 0
        i, n = 0, len(args)
        while i < n:
            opt = args[i].upper()
            if opt == b"IDX":
                idx = True
            elif opt == b"LEN":
                length = True
            elif opt == b"WITHMATCHLEN":
                with_len = True
            elif opt == b"MINMATCHLEN" and i + 1 < n:
                min_len = max(0, to_int(args[i + 1]))
                i += 1
            else:
                raise errors.syntax_error()
            i += 1
        if idx and length:
            raise errors.ReplyError(
                "If you want both the length and indexes, please just use IDX."
            )
        return cls(length, idx, min_len, with_len)


def lcs_rows(a: bytes, b: bytes) -> list[int]:
    """Bit-parallel LCS table (Allison & Dix 1986; Crochemore et al. 2001): row i is a
    len(b)-bit integer whose zero bits among the low j mark where LCS(i, j) grows, so
    LCS(i, j) = j - popcount(row_i & (2**j - 1)). O(len(a) * len(b) / word) time."""
    mask = (1 << len(b)) - 1
    positions: dict[int, int] = {}
    for byte in set(b):
        bits = b.translate(bytes(0x31 if c == byte else 0x30 for c in range(256)))
        positions[byte] = int(bits[::-1], 2)
    rows = [mask]
    v = mask
    for byte in a:
        u = v & positions.get(byte, 0)
        v = ((v + u) | (v - u)) & mask
        rows.append(v)
    return rows


def lcs_walk(a: bytes, b: bytes, rows: list[int], opts: LcsOptions) -> tuple[bytes, list]:
    """Redis' backward walk over the table: the common subsequence and the matched ranges
    (newest first), with Redis' choice at every tie so the ranges are the ones it reports."""

    def lcs(i: int, j: int) -> int:
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    out = bytearray()
    matches: list[list] = []
    i, j = len(a), len(b)
    start = None  # (a_start, a_end, b_start, b_end) of the range being grown
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            if start is None:
                start = (i - 1, i - 1, j - 1, j - 1)
            elif start[0] == i and start[2] == j:
                start = (i - 1, start[1], j - 1, start[3])
            else:
                emit = True
            if start[0] == 0 or start[2] == 0:
                emit = True
            i, j = i - 1, j - 1
        else:
            if lcs(i - 1, j) > lcs(i, j - 1):
                i -= 1
            else:
                j -= 1
            emit = start is not None
        if emit and start is not None:
            length = start[1] - start[0] + 1
            if length >= opts.min_match_len:
                match = [[start[0], start[1]], [start[2], start[3]]]
                matches.append([*match, length] if opts.with_match_len else match)
            start = None
    return bytes(reversed(out)), matches


@table.command(
    "lcs", -3, "readonly", keys=(1, 2, 1), since="7.0.0",
    arguments=_ARGS["lcs"],
    summary="Finds the longest common subsequence of two string values.",
    complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively",
    support="differs", note="refuses tables above 2^30 cells (Redis: until allocation fails)",
)
def lcs(ctx: Context, session: Session, args: list[bytes]) -> Any:
    try:
        opts, problem = LcsOptions.parse(args[2:]), None
    except errors.ReplyError as exc:  # Redis reports a key of the wrong type first
        opts, problem = LcsOptions(), exc
    ks, db = ctx.keyspace, session.db
    entries = [ks.lookup(db, args[0]), ks.lookup(db, args[1])]
    if any(e is not None and e.kind not in (STRING, COUNTER) for e in entries):
        raise errors.ReplyError("The specified keys must contain string values")
    if problem is not None:
        raise problem
    a, b = (b"" if e is None else text_of(e) for e in entries)
    if (len(a) + 1) * (len(b) + 1) > LCS_MAX_CELLS:
        raise errors.ReplyError("Insufficient memory, failed allocating transient memory for LCS")
    rows = lcs_rows(a, b)
    total = len(b) - rows[-1].bit_count()
    if opts.length:
        return total
    common, matches = lcs_walk(a, b, rows, opts)
    if opts.idx:
        return Map([(b"matches", matches), (b"len", total)])
    return common
