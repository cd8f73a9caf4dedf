"""Generic key commands (Redis' `generic` group): existence, types, renames, copies, expiry,
iteration (KEYS, SCAN, RANDOMKEY) and OBJECT introspection.

Expired keys are already invisible through the keyspace. All four EXPIRE variants share
`expire_generic` and the TTL readers share `ttl_generic`, as in Redis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from respdyn import errors
from respdyn.commands import glob
from respdyn.commands.args import INT64_MAX, INT64_MIN, to_int
from respdyn.commands.context import Context
from respdyn.commands.registry import CommandTable
from respdyn.commands.strings import text_of
from respdyn.keyspace.keyspace import SLOTS
from respdyn.keyspace.record import TYPE_NAMES, Kind
from respdyn.protocol.reply import OK, Status
from respdyn.session import Session

table = CommandTable("generic")

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT64_MAX = 2**64 - 1

#: COMMAND DOCS arguments (redis-cli's hints): name (`TOKEN value` for options), type, flags
_ARGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "del": (("key", "key", "multiple"),),
    "unlink": (("key", "key", "multiple"),),
    "exists": (("key", "key", "multiple"),),
    "touch": (("key", "key", "multiple"),),
    "type": (("key", "key", ""),),
    "rename": (("key", "key", ""), ("newkey", "key", "")),
    "renamenx": (("key", "key", ""), ("newkey", "key", "")),
    "copy": (
        ("source", "key", ""),
        ("destination", "key", ""),
        ("DB destination-db", "integer", "optional"),
        ("REPLACE", "pure-token", "optional"),
    ),
    "persist": (("key", "key", ""),),
    "keys": (("pattern", "pattern", ""),),
    "scan": (
        ("cursor", "integer", ""),
        ("MATCH pattern", "pattern", "optional"),
        ("COUNT count", "integer", "optional"),
        ("TYPE type", "string", "optional"),
    ),
    "object|encoding": (("key", "key", ""),),
    "object|freq": (("key", "key", ""),),
    "object|idletime": (("key", "key", ""),),
    "object|refcount": (("key", "key", ""),),
}


# --- existence and type ----------------------------------------------------------------------


def _delete(ctx: Context, session: Session, args: list[bytes]) -> int:
    remove, db = ctx.keyspace.remove, session.db
    return sum(remove(db, key) for key in args)


table.command(
    "del", -2, "write", keys=(1, -1, 1),
    arguments=_ARGS["del"],
    summary="Deletes keys; returns how many existed.",
    complexity="O(N) where N is the number of keys that will be removed.",
)(_delete)
table.command(
    "unlink", -2, "write fast", keys=(1, -1, 1), since="4.0.0",
    arguments=_ARGS["unlink"],
    summary="Deletes keys; returns how many existed. The same as DEL here: the storage "
    "engine reclaims space in compaction, so there is no large free to move off the loop.",
    complexity="O(1) for each key removed regardless of its size.",
)(_delete)


@table.command(
    "exists", -2, "readonly fast", keys=(1, -1, 1),
    arguments=_ARGS["exists"],
    summary="Counts how many of the keys exist (a key given twice counts twice).",
    complexity="O(N) where N is the number of keys to check.",
)
def exists(ctx: Context, session: Session, args: list[bytes]) -> int:
    live, db = ctx.keyspace.exists, session.db
    return sum(live(db, key) for key in args)


@table.command(
    "touch", -2, "readonly fast", keys=(1, -1, 1), since="3.2.1",
    arguments=_ARGS["touch"],
    summary="Counts how many of the keys exist (respdyn keeps no access times to update).",
    complexity="O(N) where N is the number of keys that will be touched.",
)
def touch(ctx: Context, session: Session, args: list[bytes]) -> int:
    return exists(ctx, session, args)


@table.command(
    "type", 2, "readonly fast", keys=(1, 1, 1),
    arguments=_ARGS["type"],
    summary="Returns the type of the value of a key, or none.", complexity="O(1)",
)
def type_(ctx: Context, session: Session, args: list[bytes]) -> Status:
    entry = ctx.keyspace.lookup(session.db, args[0])
    return Status("none" if entry is None else TYPE_NAMES[Kind(entry.kind)])


# --- RENAME / COPY ---------------------------------------------------------------------------


def rename_generic(ctx: Context, session: Session, args: list[bytes], nx: bool) -> Any:
    """RENAME and RENAMENX: the value moves with its TTL; the old name is deleted."""
    ks, db, src, dst = ctx.keyspace, session.db, args[0], args[1]
    entry = ks.lookup(db, src)
    if entry is None:
        raise errors.no_such_key()
    if src == dst:
        return 0 if nx else OK
    if nx and ks.exists(db, dst):
        return 0
    ks.put(db, dst, entry.kind, entry.payload, entry.expire_at)
    ks.delete(db, src, entry.context, entry)
    return 1 if nx else OK


@table.command(
    "rename", 3, "write", keys=(1, 2, 1),
    arguments=_ARGS["rename"],
    summary="Renames a key, overwriting the destination.", complexity="O(1)",
)
def rename(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return rename_generic(ctx, session, args, nx=False)


@table.command(
    "renamenx", 3, "write fast", keys=(1, 2, 1),
    arguments=_ARGS["renamenx"],
    summary="Renames a key only when the destination does not exist.", complexity="O(1)",
)
def renamenx(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return rename_generic(ctx, session, args, nx=True)


@dataclass(frozen=True, slots=True)
class CopyOptions:
    """COPY's `[DB destination-db] [REPLACE]`; the DB is range-checked while parsing, as
    Redis does (so `DB 99 FOO` reports the DB, not the syntax)."""

    db: int | None = None
    replace: bool = False

    @classmethod
    def parse(cls, args: list[bytes], databases: int) -> CopyOptions:
        db, replace = None, False
        i = 0
        while i < len(args):
            opt = args[i].upper()
            if opt == b"REPLACE":
                replace = True
            elif opt == b"DB" and i + 1 < len(args):
                db = to_int(args[i + 1])
                if not INT32_MIN <= db <= INT32_MAX:
                    raise errors.value_out_of_range(INT32_MIN, INT32_MAX)
                if not 0 <= db < databases:
                    raise errors.db_out_of_range()
                i += 1
            else:
                raise errors.syntax_error()
            i += 1
        return cls(db, replace)


@table.command(
    "copy", -3, "write denyoom", keys=(1, 2, 1), since="6.2.0",
    arguments=_ARGS["copy"],
    summary="Copies the value of a key (and its TTL) to a new key, optionally in another "
    "database.",
    complexity="O(N) worst case for collections, where N is the number of nested items. "
    "O(1) for string values.",
)
def copy(ctx: Context, session: Session, args: list[bytes]) -> int:
    opts = CopyOptions.parse(args[2:], ctx.config.databases)
    ks, src_db, src, dst = ctx.keyspace, session.db, args[0], args[1]
    dst_db = src_db if opts.db is None else opts.db
    if src_db == dst_db and src == dst:
        raise errors.same_object()
    entry = ks.lookup(src_db, src)
    if entry is None:
        return 0
    if not opts.replace and ks.exists(dst_db, dst):
        return 0
    ks.put(dst_db, dst, entry.kind, entry.payload, entry.expire_at)
    return 1


# --- expiry ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpireOptions:
    """EXPIRE's NX XX GT LT, with Redis' two compatibility errors."""

    nx: bool = False
    xx: bool = False
    gt: bool = False
    lt: bool = False

    @classmethod
    def parse(cls, args: list[bytes]) -> ExpireOptions:
        seen = set()
        for arg in args:
            opt = arg.upper()
            if opt not in (b"NX", b"XX", b"GT", b"LT"):
                raise errors.unsupported_option(arg)
            seen.add(opt)
        nx, xx, gt, lt = (flag in seen for flag in (b"NX", b"XX", b"GT", b"LT"))
        if nx and (xx or gt or lt):
            raise errors.expire_nx_conflict()
        if gt and lt:
            raise errors.expire_gt_lt_conflict()
        return cls(nx, xx, gt, lt)

    def allows(self, current: int, when: int) -> bool:
        """May the expiry change from `current` (0 = none, i.e. infinite) to `when`?"""
        if self.nx and current:
            return False
        if self.xx and not current:
            return False
        if self.gt and (not current or when <= current):
            return False
        return not (self.lt and current and when >= current)


_NO_OPTIONS = ExpireOptions()


def expire_generic(
    ctx: Context, session: Session, args: list[bytes], seconds: bool, relative: bool,
    command: str,
) -> int:
    """EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT. A time at or before now deletes the key; overflow in
    the unit conversion or the base time is `invalid expire time`, checked before the key."""
    opts = ExpireOptions.parse(args[2:]) if len(args) > 2 else _NO_OPTIONS
    when = to_int(args[1])
    ks = ctx.keyspace
    now = ks.clock()
    if seconds:
        if not -(-INT64_MIN // 1000) <= when <= INT64_MAX // 1000:
            raise errors.invalid_expire(command)
        when *= 1000
    base = now if relative else 0
    if when > INT64_MAX - base:
        raise errors.invalid_expire(command)
    when += base
    db, key = session.db, args[0]
    entry = ks.lookup(db, key)
    if entry is None or not opts.allows(entry.expire_at, when):
        return 0
    if when <= now:
        ks.delete(db, key, entry.context, entry)
    else:
        ks.put(db, key, entry.kind, entry.payload, when, entry.context)
    return 1


_EXPIRE_FLAGS = tuple((flag, "pure-token", "optional") for flag in ("NX", "XX", "GT", "LT"))


def _expire_command(
    name: str, seconds: bool, relative: bool, since: str, summary: str, time_arg: tuple
) -> None:
    def handler(ctx: Context, session: Session, args: list[bytes]) -> int:
        return expire_generic(ctx, session, args, seconds, relative, name)

    handler.__name__ = name
    table.command(
        name, -3, "write fast", keys=(1, 1, 1), since=since, summary=summary,
        complexity="O(1)", arguments=(("key", "key", ""), time_arg, *_EXPIRE_FLAGS),
    )(handler)


_expire_command(
    "expire", True, True, "1.0.0", "Sets a key's time to live in seconds.",
    ("seconds", "integer", ""),
)
_expire_command(
    "pexpire", False, True, "2.6.0", "Sets a key's time to live in milliseconds.",
    ("milliseconds", "integer", ""),
)
_expire_command(
    "expireat", True, False, "1.2.0", "Sets a key's expiry to a Unix time in seconds.",
    ("unix-time-seconds", "unix-time", ""),
)
_expire_command(
    "pexpireat", False, False, "2.6.0", "Sets a key's expiry to a Unix time in milliseconds.",
    ("unix-time-milliseconds", "unix-time", ""),
)


def ttl_generic(ctx: Context, session: Session, key: bytes, ms: bool, absolute: bool) -> int:
    """TTL/PTTL/EXPIRETIME/PEXPIRETIME: -2 missing, -1 persistent; seconds are rounded to the
    nearest second, as Redis does."""
    ks = ctx.keyspace
    entry = ks.lookup(session.db, key)
    if entry is None:
        return -2
    if entry.expire_at == 0:
        return -1
    value = entry.expire_at if absolute else max(0, entry.expire_at - ks.clock())
    return value if ms else (value + 500) // 1000


def _ttl_command(name: str, ms: bool, absolute: bool, since: str, summary: str) -> None:
    def handler(ctx: Context, session: Session, args: list[bytes]) -> int:
        return ttl_generic(ctx, session, args[0], ms, absolute)

    handler.__name__ = name
    table.command(
        name, 2, "readonly fast", keys=(1, 1, 1), since=since, summary=summary,
        complexity="O(1)", arguments=(("key", "key", ""),),
    )(handler)


_ttl_command("ttl", False, False, "1.0.0", "Returns a key's time to live in seconds.")
_ttl_command("pttl", True, False, "2.6.0", "Returns a key's time to live in milliseconds.")
_ttl_command(
    "expiretime", False, True, "7.0.0", "Returns a key's expiry as a Unix time in seconds."
)
_ttl_command(
    "pexpiretime", True, True, "7.0.0",
    "Returns a key's expiry as a Unix time in milliseconds.",
)


@table.command(
    "persist", 2, "write fast", keys=(1, 1, 1), since="2.2.0",
    arguments=_ARGS["persist"],
    summary="Removes a key's expiry.", complexity="O(1)",
)
def persist(ctx: Context, session: Session, args: list[bytes]) -> int:
    ks, db, key = ctx.keyspace, session.db, args[0]
    entry = ks.lookup(db, key)
    if entry is None or entry.expire_at == 0:
        return 0
    ks.put(db, key, entry.kind, entry.payload, 0, entry.context)
    return 1


# --- iteration -------------------------------------------------------------------------------


@table.command(
    "keys", 2, "readonly",
    arguments=_ARGS["keys"],
    summary="Returns the keys matching a glob pattern.",
    complexity="O(N) with N being the number of keys in the database",
    support="differs", note="keys come in hash-slot order rather than Redis' hash-table order",
)
def keys(ctx: Context, session: Session, args: list[bytes]) -> list[bytes]:
    pattern, db = args[0], session.db
    if glob.is_literal(pattern):  # only one key can match: look it up instead of scanning
        return [pattern] if ctx.keyspace.exists(db, pattern) else []
    found = ctx.keyspace.iter_keys(db)
    if pattern == b"*":
        return list(found)
    matches = glob.matcher(pattern)
    return [key for key in found if matches(key)]


_CURSOR = re.compile(rb"(?:[-+]?[0-9]+)?\Z")


def parse_cursor(arg: bytes) -> int:
    """Redis' strtoul-based check: optional sign, digits, no spaces, fits in 64 bits (a
    negative value wraps, as strtoul does; the empty string is 0)."""
    if not _CURSOR.match(arg):
        raise errors.invalid_cursor()
    digits = arg.lstrip(b"+-")
    value = int(digits) if digits else 0
    if value > UINT64_MAX:
        raise errors.invalid_cursor()
    return (-value) & UINT64_MAX if arg.startswith(b"-") else value


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """SCAN's MATCH pattern, COUNT n (at least 1) and TYPE name."""

    pattern: bytes | None = None
    count: int = 10
    type_name: bytes | None = None

    @classmethod
    def parse(cls, args: list[bytes]) -> ScanOptions:
        pattern = type_name = None
        count = 10
        i, n = 0, len(args)
        while i < n:
            opt = args[i].upper()
            if i + 1 >= n or opt not in (b"COUNT", b"MATCH", b"TYPE"):
                raise errors.syntax_error()
            value = args[i + 1]
            if opt == b"COUNT":
                count = to_int(value)
                if count < 1:
                    raise errors.syntax_error()
            elif opt == b"MATCH":
                pattern = None if value == b"*" else value
            else:
                type_name = value.lower()
            i += 2
        return cls(pattern, count, type_name)


@table.command(
    "scan", -2, "readonly", since="2.8.0",
    arguments=_ARGS["scan"],
    summary="Iterates over the keys of the database, a batch per call.",
    complexity="O(1) for every call. O(N) for a complete iteration.",
    support="differs", note="the cursor is the next hash slot (0..16383); a cursor beyond "
    "that is taken modulo 16384; every step ends on a slot boundary",
)
def scan(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    cursor = parse_cursor(args[0]) % SLOTS
    opts = ScanOptions.parse(args[1:])
    next_cursor, found = ctx.keyspace.scan(session.db, cursor, opts.count)
    matches = glob.matcher(opts.pattern) if opts.pattern is not None else None
    wanted = opts.type_name
    out = [
        key for key, sibling in found
        if (matches is None or matches(key))
        and (wanted is None or TYPE_NAMES[Kind(sibling.kind)].encode() == wanted)
    ]
    return [b"%d" % next_cursor, out]


@table.command(
    "randomkey", 1, "readonly",
    summary="Returns a random key of the database.", complexity="O(1)",
    support="differs", note="uniform over hash slots rather than over keys",
)
def randomkey(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    return ctx.keyspace.random_key(session.db)


# --- OBJECT ----------------------------------------------------------------------------------

table.container("object", summary="A container for object introspection commands.",
                since="2.2.3")

#: Redis' OBJECT ENCODING of a small value of each non-string type (respdyn's storage has no
#: encodings of its own; these are what Redis reports for small values)
_ENCODINGS = {Kind.HASH: b"listpack", Kind.LIST: b"quicklist", Kind.SET: b"hashtable",
              Kind.ZSET: b"listpack"}
#: Redis' OBJ_SHARED_REFCOUNT: the refcount shown for its shared integers 0..9999
_SHARED_REFCOUNT = INT32_MAX
_SHARED_INTEGERS = 10_000
_EMBSTR_LIMIT = 44


def _integer(payload: bytes) -> int | None:
    if len(payload) > 20:
        return None
    try:
        return to_int(payload)
    except errors.ReplyError:
        return None


def string_encoding(payload: bytes) -> bytes:
    """The encoding Redis' tryObjectEncoding gives a string it receives from a client."""
    if _integer(payload) is not None:
        return b"int"
    return b"embstr" if len(payload) <= _EMBSTR_LIMIT else b"raw"


@table.command(
    "object|encoding", 3, "readonly", keys=(2, 2, 1), since="2.2.3",
    arguments=_ARGS["object|encoding"],
    summary="Returns the internal encoding of a value.", complexity="O(1)",
    support="differs", note="derived from the value as Redis would encode it when written "
    "by SET; values grown by APPEND/SETRANGE say embstr/int where Redis says raw, "
    "collections report the small-size encoding",
)
def object_encoding(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    entry = ctx.keyspace.lookup(session.db, args[0])
    if entry is None:
        return None
    if entry.kind in (Kind.STRING, Kind.COUNTER):
        return string_encoding(text_of(entry))
    return _ENCODINGS[Kind(entry.kind)]


@table.command(
    "object|freq", 3, "readonly", keys=(2, 2, 1), since="4.0.0",
    arguments=_ARGS["object|freq"],
    summary="Returns the logarithmic access frequency counter of a key.", complexity="O(1)",
)
def object_freq(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if ctx.keyspace.lookup(session.db, args[0]) is None:
        return None
    raise errors.lfu_not_selected()  # respdyn has no LFU maxmemory policy


@table.command(
    "object|idletime", 3, "readonly", keys=(2, 2, 1), since="2.2.3",
    arguments=_ARGS["object|idletime"],
    summary="Returns the time since the last access to a key.", complexity="O(1)",
    support="differs", note="always 0: respdyn keeps no access times",
)
def object_idletime(ctx: Context, session: Session, args: list[bytes]) -> int | None:
    return None if ctx.keyspace.lookup(session.db, args[0]) is None else 0


@table.command(
    "object|refcount", 3, "readonly", keys=(2, 2, 1), since="2.2.3",
    arguments=_ARGS["object|refcount"],
    summary="Returns the reference count of a value of a key.", complexity="O(1)",
    support="differs", note="1, or Redis' shared-object count for integers 0..9999, as "
    "Redis reports them; respdyn shares no values",
)
def object_refcount(ctx: Context, session: Session, args: list[bytes]) -> int | None:
    entry = ctx.keyspace.lookup(session.db, args[0])
    if entry is None:
        return None
    if entry.kind in (Kind.STRING, Kind.COUNTER):
        value = _integer(text_of(entry))
        if value is not None and 0 <= value < _SHARED_INTEGERS:
            return _SHARED_REFCOUNT
    return 1


_OBJECT_HELP = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]


@table.command(
    "object|help", 2, "loading stale", since="6.2.0",
    summary="Returns helpful text about the different subcommands.", complexity="O(1)",
)
def object_help(ctx: Context, session: Session, args: list[bytes]) -> list[Status]:
    return [Status(line) for line in _OBJECT_HELP]
