"""Sorted-set commands (Redis' `sorted_set` group) over an ORSWOT whose dots carry scores
(respdyn/keyspace/crdt/orset.py, cells.py): member presence is add-wins (a ZADD concurrent with a
ZREM of the same member keeps it), members added on both sides are all kept, and a member's
score is a register: concurrent ZADDs (and ZINCRBYs) of one member keep the newest by
(timestamp, node id). ZINCRBY is a read-modify-write of that register, not a counter: a score
is a double, and two concurrent leaderboard bumps keep one of them (docs/datatypes.md).

A command decodes the whole value and orders it with `sortedcontainers.SortedList` by
(score, member), Redis' order; the value is rewritten whole on every change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from respdyn import errors
from respdyn.commands.args import strtod, to_float, to_int
from respdyn.commands.context import Context
from respdyn.commands.keys import parse_cursor
from respdyn.commands.registry import CommandTable
from respdyn.commands.sets import ScanOptions, find, load, save, scan_step, store_new
from respdyn.keyspace.crdt import cells, orset
from respdyn.keyspace.crdt.orset import SET_FORMAT, ZSET_FORMAT, ORSet
from respdyn.keyspace.keyspace import Entry
from respdyn.keyspace.record import Kind
from respdyn.protocol.encoder import format_double
from respdyn.protocol.reply import Double
from respdyn.session import Session

table = CommandTable("sorted_set")

ZSET = Kind.ZSET
_INF = math.inf

#: COMMAND DOCS arguments (redis-cli's hints): name (`TOKEN value` for options), type, flags
_ARGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "zadd": (
        ("key", "key", ""),
        ("NX", "pure-token", "optional"),
        ("XX", "pure-token", "optional"),
        ("GT", "pure-token", "optional"),
        ("LT", "pure-token", "optional"),
        ("CH", "pure-token", "optional"),
        ("INCR", "pure-token", "optional"),
        ("score member", "string", "multiple"),
    ),
    "zincrby": (("key", "key", ""), ("increment", "integer", ""), ("member", "string", ""),),
    "zrem": (("key", "key", ""), ("member", "string", "multiple"),),
    "zscore": (("key", "key", ""), ("member", "string", ""),),
    "zmscore": (("key", "key", ""), ("member", "string", "multiple"),),
    "zcard": (("key", "key", ""),),
    "zcount": (("key", "key", ""), ("min", "double", ""), ("max", "double", ""),),
    "zrank": (("key", "key", ""), ("member", "string", ""),),
    "zrevrank": (("key", "key", ""), ("member", "string", ""),),
    "zrange": (
        ("key", "key", ""),
        ("start", "string", ""),
        ("stop", "string", ""),
        ("BYSCORE", "pure-token", "optional"),
        ("BYLEX", "pure-token", "optional"),
        ("REV", "pure-token", "optional"),
        ("LIMIT offset count", "integer", "optional"),
        ("WITHSCORES", "pure-token", "optional"),
    ),
    "zrangebyscore": (
        ("key", "key", ""),
        ("min", "double", ""),
        ("max", "double", ""),
        ("WITHSCORES", "pure-token", "optional"),
        ("LIMIT offset count", "integer", "optional"),
    ),
    "zrevrange": (
        ("key", "key", ""),
        ("start", "integer", ""),
        ("stop", "integer", ""),
        ("WITHSCORES", "pure-token", "optional"),
    ),
    "zrangestore": (
        ("dst", "key", ""),
        ("src", "key", ""),
        ("min", "string", ""),
        ("max", "string", ""),
        ("BYSCORE", "pure-token", "optional"),
        ("BYLEX", "pure-token", "optional"),
        ("REV", "pure-token", "optional"),
        ("LIMIT offset count", "integer", "optional"),
    ),
    "zpopmin": (("key", "key", ""), ("count", "integer", "optional"),),
    "zpopmax": (("key", "key", ""), ("count", "integer", "optional"),),
    "zscan": (
        ("key", "key", ""),
        ("cursor", "integer", ""),
        ("MATCH pattern", "pattern", "optional"),
        ("COUNT count", "integer", "optional"),
    ),
}

# --- scores as Redis parses them (C strtod) --------------------------------------------------

to_score = to_float  # Redis' getDoubleFromObject, shared with every other double argument


def to_bound(arg: bytes, error: errors.ReplyError) -> float:
    """zslParseRange's strtod: leading space and out-of-range values allowed, NaN refused."""
    parsed = strtod(arg)
    if parsed is None or math.isnan(parsed[0]):
        raise error
    return parsed[0]


# --- the decoded value -----------------------------------------------------------------------


class ZView:
    """A zset's state with its scores resolved and its members ordered by (score, member)."""

    def __init__(self, state: ORSet) -> None:
        self.state = state
        self.scores = {m: cells.resolve_score(list(d.items()))[0]
                       for m, d in state.entries.items()}
        self._order: SortedList | None = None

    @property
    def order(self) -> SortedList:
        if self._order is None:
            self._order = SortedList((s, m) for m, s in self.scores.items())
        return self._order

    def __len__(self) -> int:
        return len(self.scores)

    def set(self, member: bytes, score: float, actor: bytes, now: int) -> None:
        score += 0.0  # -0 is stored as 0, as Redis' listpack does
        old = self.scores.get(member)
        if self._order is not None and old is not None:
            self._order.remove((old, member))
        self.scores[member] = score
        if self._order is not None:
            self._order.add((score, member))
        cells.set_score(self.state, member, score, actor, now)

    def remove(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        if self._order is not None:
            self._order.remove((old, member))
        self.state.remove(member)
        return True


def load_zset(ctx: Context, session: Session, key: bytes) -> tuple[Entry | None, ZView]:
    entry, state = load(ctx.keyspace, session.db, key, ZSET, ZSET_FORMAT)
    return entry, ZView(state)


def view(ctx: Context, session: Session, key: bytes) -> ZView:
    return load_zset(ctx, session, key)[1]


def save_zset(ctx: Context, session: Session, key: bytes, entry: Entry | None,
              z: ZView) -> None:
    save(ctx.keyspace, session.db, key, ZSET, ZSET_FORMAT, entry, z.state)


def store_pairs(ctx: Context, session: Session, key: bytes,
                pairs: list[tuple[bytes, float]]) -> int:
    """ZRANGESTORE/ZUNIONSTORE/ZINTERSTORE: `key` becomes a zset of `pairs` (empty: deleted)."""
    ks = ctx.keyspace
    now = ks.clock()

    def fill(state: ORSet) -> None:
        for member, score in pairs:
            cells.set_score(state, member, score + 0.0, ks.node_id, now)  # -0 stored as 0

    return store_new(ks, session.db, key, ZSET, ZSET_FORMAT, fill)


def with_scores(session: Session, pairs: list[tuple[bytes, float]]) -> list[Any]:
    """WITHSCORES replies: RESP3 [member, double] pairs (Redis 7), RESP2 flat with texts."""
    if session.protocol >= 3:
        return [[m, Double(s)] for m, s in pairs]
    return [x for m, s in pairs for x in (m, Double(s))]


# --- ranges ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreRange:
    """zslParseRange: `(` makes a bound exclusive; -inf/+inf allowed."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    @classmethod
    def parse(cls, low: bytes, high: bytes) -> ScoreRange:
        lo, lo_open = cls._bound(low)
        hi, hi_open = cls._bound(high)
        return cls(lo, hi, lo_open, hi_open)

    @staticmethod
    def _bound(arg: bytes) -> tuple[float, bool]:
        bad = errors.ReplyError("min or max is not a float")
        if arg[:1] == b"(":
            return to_bound(arg[1:], bad), True
        return to_bound(arg, bad), False

    def contains(self, score: float) -> bool:
        above = score > self.low if self.low_open else score >= self.low
        below = score < self.high if self.high_open else score <= self.high
        return above and below

    def select(self, order: SortedList) -> list[tuple[float, bytes]]:
        """Members in range, ascending."""
        start = order.bisect_left((self.low, b""))
        out = []
        for score, member in order.islice(start):
            if not self.contains(score):
                if score > self.high:
                    break
                continue
            out.append((score, member))
        return out


@dataclass(frozen=True, slots=True)
class LexRange:
    """zslParseLexRange: `-`, `+`, `[member` (inclusive) or `(member` (exclusive). A bound is
    (-1, b"") for `-`, (1, b"") for `+`, (0, member) otherwise."""

    low: tuple[int, bytes]
    high: tuple[int, bytes]
    low_open: bool = False
    high_open: bool = False

    @classmethod
    def parse(cls, low: bytes, high: bytes) -> LexRange:
        lo, lo_open = cls._bound(low)
        hi, hi_open = cls._bound(high)
        return cls(lo, hi, lo_open, hi_open)

    @staticmethod
    def _bound(arg: bytes) -> tuple[tuple[int, bytes], bool]:
        if arg == b"-":
            return (-1, b""), False
        if arg == b"+":
            return (1, b""), False
        if arg[:1] in (b"[", b"("):
            return (0, arg[1:]), arg[:1] == b"("
        raise errors.ReplyError("min or max not valid string range item")

    def contains(self, member: bytes) -> bool:
        item = (0, member)
        above = item > self.low if self.low_open else item >= self.low
        below = item < self.high if self.high_open else item <= self.high
        return above and below

    def select(self, order: SortedList) -> list[tuple[float, bytes]]:
        return [(s, m) for s, m in order if self.contains(m)]


@dataclass(frozen=True, slots=True)
class RangeOptions:
    """ZRANGE's (and its variants') `[BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`,
    checked in Redis' order (zrangeGenericCommand)."""

    by: str = "rank"  #: rank, score or lex
    rev: bool = False
    offset: int = 0
    limit: int = -1  #: -1: no limit
    withscores: bool = False

    @classmethod
    def parse(cls, args: list[bytes], by: str | None = None, rev: bool | None = None,
              store: bool = False) -> RangeOptions:
        withscores = False
        offset, limit = 0, -1
        i = 0
        while i < len(args):
            opt, left = args[i].upper(), len(args) - i - 1
            if opt == b"WITHSCORES" and not store:
                withscores = True
            elif opt == b"LIMIT" and left >= 2:
                offset, limit = to_int(args[i + 1]), to_int(args[i + 2])
                i += 2
            elif opt in (b"BYSCORE", b"BYLEX") and by is None:
                by = "score" if opt == b"BYSCORE" else "lex"
            elif opt == b"REV" and rev is None:
                rev = True
            else:
                raise errors.syntax_error()
            i += 1
        by = by or "rank"
        if limit != -1 and by == "rank":
            raise errors.ReplyError(
                "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        if withscores and by == "lex":
            raise errors.ReplyError(
                "syntax error, WITHSCORES not supported in combination with BYLEX")
        return cls(by, bool(rev), offset, limit, withscores)


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """A parsed range: the options and the bounds (given as max, min when REV by score/lex)."""

    opts: RangeOptions
    bounds: Any  #: (start, stop) ranks, ScoreRange or LexRange

    @classmethod
    def parse(cls, low: bytes, high: bytes, opts: RangeOptions) -> RangeQuery:
        if opts.by != "rank" and opts.rev:
            low, high = high, low
        if opts.by == "rank":
            return cls(opts, (to_int(low), to_int(high)))
        if opts.by == "score":
            return cls(opts, ScoreRange.parse(low, high))
        return cls(opts, LexRange.parse(low, high))

    def run(self, z: ZView) -> list[tuple[bytes, float]]:
        order, opts = z.order, self.opts
        if opts.by == "rank":
            picked = _rank_slice(order, *self.bounds, opts.rev)
        else:
            found = self.bounds.select(order)
            if opts.rev:
                found.reverse()
            if opts.offset < 0:
                return []
            end = None if opts.limit < 0 else opts.offset + opts.limit
            picked = found[opts.offset : end]
        return [(m, s) for s, m in picked]


def _rank_slice(order: SortedList, start: int, stop: int, rev: bool) -> list:
    size = len(order)
    if start < 0:
        start += size
    if stop < 0:
        stop += size
    start = max(start, 0)
    if start > stop or start >= size:
        return []
    stop = min(stop, size - 1)
    if rev:
        return [order[size - 1 - i] for i in range(start, stop + 1)]
    return list(order.islice(start, stop + 1))


def _range_reply(ctx: Context, session: Session, key: bytes, query: RangeQuery) -> list[Any]:
    z = view(ctx, session, key)
    pairs = query.run(z) if z else []
    if query.opts.withscores:
        return with_scores(session, pairs)
    return [m for m, _ in pairs]


# --- ZADD / ZINCRBY --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZAddOptions:
    nx: bool = False
    xx: bool = False
    gt: bool = False
    lt: bool = False
    ch: bool = False
    incr: bool = False

    @classmethod
    def parse(cls, args: list[bytes]) -> tuple[ZAddOptions, list[tuple[float, bytes]]]:
        """The flags, then the score/member pairs (all scores parsed before any change)."""
        flags = {b"NX": "nx", b"XX": "xx", b"GT": "gt", b"LT": "lt", b"CH": "ch", b"INCR": "incr"}
        seen: dict[str, bool] = {}
        i = 0
        while i < len(args) and args[i].upper() in flags:
            seen[flags[args[i].upper()]] = True
            i += 1
        opts = cls(**seen)
        rest = args[i:]
        if not rest or len(rest) % 2:
            raise errors.syntax_error()
        if opts.nx and opts.xx:
            raise errors.ReplyError("XX and NX options at the same time are not compatible")
        if (opts.gt and opts.nx) or (opts.lt and opts.nx) or (opts.gt and opts.lt):
            raise errors.ReplyError(
                "GT, LT, and/or NX options at the same time are not compatible")
        if opts.incr and len(rest) > 2:
            raise errors.ReplyError("INCR option supports a single increment-element pair")
        pairs = [(to_score(rest[j]), rest[j + 1]) for j in range(0, len(rest), 2)]
        return opts, pairs


def _nan_score() -> errors.ReplyError:
    return errors.ReplyError("resulting score is not a number (NaN)")


def zadd_generic(ctx: Context, session: Session, key: bytes, opts: ZAddOptions,
                 pairs: list[tuple[float, bytes]]) -> Any:
    """ZADD and ZINCRBY: every written member gets a new dot (add wins over a concurrent ZREM)
    and a score register newer than the one it replaces."""
    ks = ctx.keyspace
    entry, z = load_zset(ctx, session, key)
    now = ks.clock()
    added = changed = 0
    result: float | None = None
    for score, member in pairs:
        current = z.scores.get(member)
        if current is None:
            if opts.xx:
                continue
            new = score
            added += 1
        else:
            if opts.nx:
                continue
            new = current + score if opts.incr else score
            if math.isnan(new):
                raise _nan_score()
            if (opts.gt and new <= current) or (opts.lt and new >= current):
                continue
            changed += new != current
        z.set(member, new, ks.node_id, now)
        result = new
    if added or changed or result is not None:
        save_zset(ctx, session, key, entry, z)
    if opts.incr:
        return None if result is None else Double(result)
    return added + changed if opts.ch else added


@table.command("zadd", -4, "write denyoom fast", arguments=_ARGS["zadd"],
               keys=(1, 1, 1), since="1.2.0",
               summary="Adds members to a sorted set, or updates their scores; creates the "
               "key if needed.", complexity="O(N) where N is the size of the set (rewritten whole)")
def zadd(ctx: Context, session: Session, args: list[bytes]) -> Any:
    opts, pairs = ZAddOptions.parse(args[1:])
    return zadd_generic(ctx, session, args[0], opts, pairs)


@table.command("zincrby", 4, "write denyoom fast", arguments=_ARGS["zincrby"],
               keys=(1, 1, 1), since="1.2.0",
               summary="Increments the score of a member of a sorted set.",
               complexity="O(N) where N is the size of the set (rewritten whole)")
def zincrby(ctx: Context, session: Session, args: list[bytes]) -> Any:
    delta = to_score(args[1])
    return zadd_generic(ctx, session, args[0], ZAddOptions(incr=True), [(delta, args[2])])


@table.command("zrem", -3, "write fast", arguments=_ARGS["zrem"],
               keys=(1, 1, 1), since="1.2.0",
               summary="Removes members from a sorted set; deletes the key when empty.",
               complexity="O(N) where N is the size of the set (rewritten whole)")
def zrem(ctx: Context, session: Session, args: list[bytes]) -> int:
    entry, z = load_zset(ctx, session, args[0])
    removed = sum(z.remove(member) for member in args[1:])
    if removed:
        save_zset(ctx, session, args[0], entry, z)
    return removed


# --- point reads -----------------------------------------------------------------------------


@table.command("zscore", 3, "readonly fast", arguments=_ARGS["zscore"],
               keys=(1, 1, 1), since="1.2.0",
               summary="Returns the score of a member of a sorted set.", complexity="O(N)")
def zscore(ctx: Context, session: Session, args: list[bytes]) -> Double | None:
    dots = find(ctx.keyspace, session.db, args[0], ZSET, ZSET_FORMAT, args[1])
    return None if dots is None else Double(cells.resolve_score(list(dots.items()))[0])


@table.command("zmscore", -3, "readonly fast", arguments=_ARGS["zmscore"],
               keys=(1, 1, 1), since="6.2.0",
               summary="Returns the scores of members of a sorted set.", complexity="O(N)")
def zmscore(ctx: Context, session: Session, args: list[bytes]) -> list[Double | None]:
    scores = view(ctx, session, args[0]).scores
    return [None if (s := scores.get(m)) is None else Double(s) for m in args[1:]]


@table.command("zcard", 2, "readonly fast", arguments=_ARGS["zcard"],
               keys=(1, 1, 1), since="1.2.0",
               summary="Returns the number of members of a sorted set.", complexity="O(N)")
def zcard(ctx: Context, session: Session, args: list[bytes]) -> int:
    return len(view(ctx, session, args[0]))


@table.command("zcount", 4, "readonly fast", arguments=_ARGS["zcount"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns the number of members with scores in a range.",
               complexity="O(N)")
def zcount(ctx: Context, session: Session, args: list[bytes]) -> int:
    bounds = ScoreRange.parse(args[1], args[2])
    z = view(ctx, session, args[0])
    return len(bounds.select(z.order)) if z else 0


def _rank(ctx: Context, session: Session, args: list[bytes], rev: bool) -> int | None:
    z = view(ctx, session, args[0])
    score = z.scores.get(args[1])
    if score is None:
        return None
    index = z.order.index((score, args[1]))
    return len(z) - 1 - index if rev else index


@table.command("zrank", 3, "readonly fast", arguments=_ARGS["zrank"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns the index of a member, scores ordered from low to high.",
               complexity="O(N)")
def zrank(ctx: Context, session: Session, args: list[bytes]) -> int | None:
    return _rank(ctx, session, args, rev=False)


@table.command("zrevrank", 3, "readonly fast", arguments=_ARGS["zrevrank"],
               keys=(1, 1, 1), since="2.0.0",
               summary="Returns the index of a member, scores ordered from high to low.",
               complexity="O(N)")
def zrevrank(ctx: Context, session: Session, args: list[bytes]) -> int | None:
    return _rank(ctx, session, args, rev=True)


# --- ranges ----------------------------------------------------------------------------------


@table.command("zrange", -4, "readonly", arguments=_ARGS["zrange"],
               keys=(1, 1, 1), since="1.2.0",
               summary="Returns members in a range of ranks, scores or names.",
               complexity="O(N) where N is the size of the set")
def zrange(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    opts = RangeOptions.parse(args[3:])
    return _range_reply(ctx, session, args[0], RangeQuery.parse(args[1], args[2], opts))


@table.command("zrangebyscore", -4, "readonly", arguments=_ARGS["zrangebyscore"],
               keys=(1, 1, 1), since="1.0.5",
               summary="Returns members in a range of scores.",
               complexity="O(N) where N is the size of the set")
def zrangebyscore(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    opts = RangeOptions.parse(args[3:], by="score", rev=False)
    return _range_reply(ctx, session, args[0], RangeQuery.parse(args[1], args[2], opts))


@table.command("zrevrange", -4, "readonly", arguments=_ARGS["zrevrange"],
               keys=(1, 1, 1), since="1.2.0",
               summary="Returns members in a range of ranks, scores ordered from high to low.",
               complexity="O(N) where N is the size of the set")
def zrevrange(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    opts = RangeOptions.parse(args[3:], by="rank", rev=True)
    return _range_reply(ctx, session, args[0], RangeQuery.parse(args[1], args[2], opts))


@table.command("zrangestore", -5, "write denyoom", arguments=_ARGS["zrangestore"],
               keys=(1, 2, 1), since="6.2.0",
               summary="Stores a range of members of a sorted set in another key.",
               complexity="O(N) where N is the size of the set")
def zrangestore(ctx: Context, session: Session, args: list[bytes]) -> int:
    opts = RangeOptions.parse(args[4:], store=True)
    query = RangeQuery.parse(args[2], args[3], opts)
    z = view(ctx, session, args[1])
    pairs = query.run(z) if z else []
    return store_pairs(ctx, session, args[0], pairs)


# --- pops ------------------------------------------------------------------------------------


def _pop(ctx: Context, session: Session, args: list[bytes], highest: bool) -> list[Any]:
    if len(args) > 2:
        raise errors.syntax_error()
    count = 1
    if len(args) == 2:
        try:
            count = to_int(args[1])
        except errors.ReplyError:
            count = -1
        if count < 0:
            raise errors.ReplyError("value is out of range, must be positive")
    entry, z = load_zset(ctx, session, args[0])
    if entry is None or count == 0:
        return []
    order = z.order
    taken = list(order[-count:])[::-1] if highest else list(order[:count])
    for _, member in taken:
        z.remove(member)
    save_zset(ctx, session, args[0], entry, z)
    pairs = [(m, s) for s, m in taken]
    if len(args) == 1:
        return [pairs[0][0], Double(pairs[0][1])]
    return with_scores(session, pairs)


@table.command("zpopmin", -2, "write fast", arguments=_ARGS["zpopmin"],
               keys=(1, 1, 1), since="5.0.0",
               summary="Removes and returns the members with the lowest scores.",
               complexity="O(N) where N is the size of the set (rewritten whole)")
def zpopmin(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    return _pop(ctx, session, args, highest=False)


@table.command("zpopmax", -2, "write fast", arguments=_ARGS["zpopmax"],
               keys=(1, 1, 1), since="5.0.0",
               summary="Removes and returns the members with the highest scores.",
               complexity="O(N) where N is the size of the set (rewritten whole)")
def zpopmax(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    return _pop(ctx, session, args, highest=True)


# --- ZUNIONSTORE / ZINTERSTORE ---------------------------------------------------------------

_AGGREGATES: dict[bytes, Callable[[float, float], float]] = {
    b"SUM": lambda a, b: a + b, b"MIN": min, b"MAX": max,
}


@dataclass(frozen=True, slots=True)
class SetOpOptions:
    """`numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]` after the destination."""

    keys: tuple[bytes, ...]
    weights: tuple[float, ...]
    aggregate: bytes = b"SUM"

    @staticmethod
    def parse_keys(args: list[bytes], command: str) -> tuple[bytes, ...]:
        numkeys = to_int(args[0])
        if numkeys < 1:
            raise errors.ReplyError(f"at least 1 input key is needed for '{command}' command")
        if numkeys > len(args) - 1:
            raise errors.syntax_error()
        return tuple(args[1 : 1 + numkeys])

    @classmethod
    def parse(cls, keys: tuple[bytes, ...], rest: list[bytes]) -> SetOpOptions:
        weights = tuple(1.0 for _ in keys)
        aggregate = b"SUM"
        i = 0
        while i < len(rest):
            opt, left = rest[i].upper(), len(rest) - i - 1
            if opt == b"WEIGHTS" and left >= len(keys):
                bad = errors.ReplyError("weight value is not a float")
                weights = tuple(to_score(w, bad) for w in rest[i + 1 : i + 1 + len(keys)])
                i += len(keys)
            elif opt == b"AGGREGATE" and left >= 1 and rest[i + 1].upper() in _AGGREGATES:
                aggregate = rest[i + 1].upper()
                i += 1
            else:
                raise errors.syntax_error()
            i += 1
        return cls(keys, weights, aggregate)


def _scored_members(ctx: Context, session: Session, key: bytes) -> dict[bytes, float] | None:
    """A zset's scores, or a set's members scored 1 (None: missing); WRONGTYPE otherwise."""
    entry = ctx.keyspace.lookup(session.db, key)
    if entry is None:
        return None
    if entry.kind == ZSET:
        return ZView(orset.decode(entry.payload, ZSET_FORMAT)).scores
    if entry.kind == Kind.SET:
        return dict.fromkeys(orset.decode(entry.payload, SET_FORMAT).elements(), 1.0)
    raise errors.WrongType()


def _weighted(score: float, weight: float) -> float:
    value = score * weight
    return 0.0 if math.isnan(value) else value


def _combine(inputs: list[dict[bytes, float] | None], opts: SetOpOptions,
             union: bool) -> dict[bytes, float]:
    agg = _AGGREGATES[opts.aggregate]
    if not union and any(i is None for i in inputs):
        return {}
    out: dict[bytes, float] = {}
    present = [(i, w) for i, w in zip(inputs, opts.weights, strict=True) if i is not None]
    if not union:
        common = set.intersection(*(set(i) for i, _ in present))
        present = [({m: s for m, s in i.items() if m in common}, w) for i, w in present]
    for scores, weight in present:
        for member, score in scores.items():
            value = _weighted(score, weight)
            if member in out:
                value = agg(out[member], value)
                value = 0.0 if math.isnan(value) else value
            out[member] = value
    return out


_SETOP_ARGS = (
    ("destination", "key", ""), ("numkeys", "integer", ""), ("key", "key", "multiple"),
    ("WEIGHTS weight", "integer", "optional multiple"),
    ("AGGREGATE aggregate", "string", "optional"),
)


def _setop_command(name: str, union: bool, summary: str) -> None:
    def handler(ctx: Context, session: Session, args: list[bytes]) -> int:
        keys = SetOpOptions.parse_keys(args[1:], name)
        inputs = [_scored_members(ctx, session, k) for k in keys]  # types first, as Redis
        opts = SetOpOptions.parse(keys, args[2 + len(keys) :])
        result = _combine(inputs, opts, union)
        return store_pairs(ctx, session, args[0], sorted(result.items()))

    table.command(name, -4, "write denyoom movablekeys", keys=(1, 1, 1), since="2.0.0",
                  arguments=_SETOP_ARGS, summary=summary,
                  complexity="O(N)+O(M log(M)) with N the total size of the inputs and M the "
                  "size of the result")(handler)


_setop_command("zunionstore", True, "Stores the union of sorted sets (and sets) in a key.")
_setop_command("zinterstore", False,
               "Stores the intersection of sorted sets (and sets) in a key.")


# --- ZSCAN -----------------------------------------------------------------------------------


@table.command("zscan", -3, "readonly", arguments=_ARGS["zscan"],
               keys=(1, 1, 1), since="2.8.0",
               summary="Iterates over the members and scores of a sorted set, a batch per call.",
               complexity="O(1) for every call. O(N) for a complete iteration.",
               support="differs", note="sorted sets of up to 128 members come back in one "
               "step; the cursor of a bigger one is a CRC-32 of a member")
def zscan(ctx: Context, session: Session, args: list[bytes]) -> list[Any]:
    cursor = parse_cursor(args[1])
    z = view(ctx, session, args[0])
    opts = ScanOptions.parse(args[2:]) if z else ScanOptions()
    members = [m for _, m in z.order] if z else []
    next_cursor, found = scan_step(members, cursor, opts.count)
    out: list[bytes] = []
    for member in opts.filter(found):
        out += [member, format_double(z.scores[member])]
    return [b"%d" % next_cursor, out]

