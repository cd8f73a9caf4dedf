"""List commands (Redis' `list` group), over the list CRDT (respdyn/keyspace/crdt/lists.py).

Every command reads the whole list, edits it and writes it back with the context it read, so
concurrent versions made elsewhere in the cluster merge (docs/datatypes.md). Variants share
helpers: the pushes go through `push`, the pops through `pop`, LMOVE/RPOPLPUSH and their
blocking forms through `move`, and every blocking command through `block`.

Blocking: BLPOP and friends are flagged `blocking`, so the dispatcher takes no key lock for
them; `block` registers with the node's notifier FIRST, then tries under the keys' locks, and
waits for a push to one of the keys (or the timeout) before trying again. Inside EXEC they do
not block (Redis answers as on a timeout). A client killed (CLIENT KILL) or hung up while
blocked gives up at its next look (on a push, or within KILL_CHECK_S) without popping.
"""

from __future__ import annotations

import math
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gevent.event import Event

from respdyn import errors
from respdyn.commands import notify
from respdyn.commands.args import INT64_MIN, to_int, to_long_double
from respdyn.commands.context import Context
from respdyn.commands.registry import CommandTable
from respdyn.commands.transactions import EXECUTING
from respdyn.keyspace.crdt import lists as crdt
from respdyn.keyspace.keyspace import Entry
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import NULL_ARRAY, OK
from respdyn.session import Session

table = CommandTable("list")

LIST = Kind.LIST
#: seconds between checks that a blocked client was not killed or did not hang up
KILL_CHECK_S = 1.0
#: session.extra key of a blocked client's event: setting it makes the client look again
#: (and give up if its session is closed or its peer hung up)
BLOCKED = "blocked"


# --- reading and writing a list ------------------------------------------------------------


@dataclass(slots=True)
class Loaded:
    entry: Entry | None
    value: crdt.ListValue


def load(ctx: Context, db: int, key: bytes) -> Loaded | None:
    """The list at `key`, or None if missing; WRONGTYPE if it holds another kind."""
    entry = ctx.keyspace.lookup_typed(db, key, LIST)
    return None if entry is None else Loaded(entry, crdt.decode(entry.payload))


def store(ctx: Context, db: int, key: bytes, loaded: Loaded) -> None:
    """Write the edited list back (its TTL stays); an emptied list deletes the key, as Redis."""
    ks, entry = ctx.keyspace, loaded.entry
    context = None if entry is None else entry.context
    if not loaded.value:
        if entry is not None:
            ks.delete(db, key, context, entry)
        return
    expire_at = 0 if entry is None else entry.expire_at
    ks.put(db, key, LIST, crdt.encode(loaded.value), expire_at, context)


def new_seq(ctx: Context, value: crdt.ListValue) -> int:
    """The next element id of this node in `value` (microsecond clock for a first push)."""
    return value.next_seq(ctx.keyspace.node_id, ctx.keyspace.clock() * 1000)


def _push_values(ctx: Context, loaded: Loaded, values: list[bytes], left: bool) -> None:
    loaded.value.push(values, left, ctx.keyspace.node_id, new_seq(ctx, loaded.value))


def _index(value: int, length: int) -> int:
    return value + length if value < 0 else value


def _range(start: int, end: int, length: int) -> range:
    """Redis' LRANGE/LTRIM index rules: negatives count from the end, clamped to the list."""
    start, end = max(0, _index(start, length)), _index(end, length)
    if start > end or start >= length:
        return range(0)
    return range(start, min(end, length - 1) + 1)


def _side(arg: bytes) -> bool:
    """LEFT -> True, RIGHT -> False (LMOVE's wherefrom/whereto)."""
    side = arg.upper()
    if side == b"LEFT":
        return True
    if side == b"RIGHT":
        return False
    raise errors.syntax_error()


# --- pushes --------------------------------------------------------------------------------


def push(
    ctx: Context, session: Session, args: list[bytes], left: bool, only_if_exists: bool
) -> int:
    """LPUSH, RPUSH, LPUSHX, RPUSHX."""
    db, key = session.db, args[0]
    loaded = load(ctx, db, key)
    if loaded is None:
        if only_if_exists:
            return 0
        loaded = Loaded(None, crdt.ListValue())
    _push_values(ctx, loaded, args[1:], left)
    store(ctx, db, key, loaded)
    notify.of(ctx).key_changed(db, key)
    return len(loaded.value)


@table.command("lpush", -3, "write denyoom fast", keys=(1, 1, 1), complexity="O(1) each",
               summary="Prepends one or more elements to a list. Creates the key if it doesn't "
               "exist.")
def lpush(ctx: Context, session: Session, args: list[bytes]) -> int:
    return push(ctx, session, args, True, False)


@table.command("rpush", -3, "write denyoom fast", keys=(1, 1, 1), complexity="O(1) each",
               summary="Appends one or more elements to a list. Creates the key if it doesn't "
               "exist.")
def rpush(ctx: Context, session: Session, args: list[bytes]) -> int:
    return push(ctx, session, args, False, False)


@table.command("lpushx", -3, "write denyoom fast", keys=(1, 1, 1), since="2.2.0",
               summary="Prepends one or more elements to a list only when the list exists.")
def lpushx(ctx: Context, session: Session, args: list[bytes]) -> int:
    return push(ctx, session, args, True, True)


@table.command("rpushx", -3, "write denyoom fast", keys=(1, 1, 1), since="2.2.0",
               summary="Appends one or more elements to a list only when the list exists.")
def rpushx(ctx: Context, session: Session, args: list[bytes]) -> int:
    return push(ctx, session, args, False, True)


# --- pops ----------------------------------------------------------------------------------


def _take(loaded: Loaded, left: bool, count: int) -> list[bytes]:
    n = min(count, len(loaded.value))
    indexes = range(n) if left else range(len(loaded.value) - 1, len(loaded.value) - 1 - n, -1)
    popped = dict(zip(sorted(indexes), loaded.value.remove(indexes), strict=True))
    return [popped[i] for i in indexes]


def pop(ctx: Context, session: Session, args: list[bytes], left: bool) -> Any:
    """LPOP/RPOP key [count]: one element (or nil), or with a count an array (nil array for a
    missing key)."""
    count = None
    if len(args) > 2:
        raise errors.wrong_arity("lpop" if left else "rpop")
    if len(args) == 2:
        count = to_int(args[1], errors.ReplyError("value is out of range, must be positive"))
        if count < 0:
            raise errors.ReplyError("value is out of range, must be positive")
    db, key = session.db, args[0]
    loaded = load(ctx, db, key)
    if loaded is None:
        return None if count is None else NULL_ARRAY
    if count == 0:
        return []
    values = _take(loaded, left, 1 if count is None else count)
    store(ctx, db, key, loaded)
    return values[0] if count is None else values


@table.command("lpop", -2, "write fast", keys=(1, 1, 1),
               summary="Returns the first elements in a list after removing it. Deletes the list "
               "if the last element was popped.",
               complexity="O(N) where N is the number of elements returned")
def lpop(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return pop(ctx, session, args, True)


@table.command("rpop", -2, "write fast", keys=(1, 1, 1),
               summary="Returns and removes the last elements of a list. Deletes the list if the "
               "last element was popped.",
               complexity="O(N) where N is the number of elements returned")
def rpop(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return pop(ctx, session, args, False)


# --- reads ---------------------------------------------------------------------------------


@table.command("llen", 2, "readonly fast", keys=(1, 1, 1), complexity="O(1)",
               summary="Returns the length of a list.")
def llen(ctx: Context, session: Session, args: list[bytes]) -> int:
    loaded = load(ctx, session.db, args[0])
    return 0 if loaded is None else len(loaded.value)


@table.command("lrange", 4, "readonly", keys=(1, 1, 1),
               summary="Returns a range of elements from a list.",
               complexity="O(S+N) where S is the distance of start offset from HEAD for small "
               "lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of "
               "elements in the specified range.")
def lrange(ctx: Context, session: Session, args: list[bytes]) -> list[bytes]:
    start, end = to_int(args[1]), to_int(args[2])
    loaded = load(ctx, session.db, args[0])
    if loaded is None:
        return []
    values = loaded.value.values()
    return [values[i] for i in _range(start, end, len(values))]


@table.command("lindex", 3, "readonly", keys=(1, 1, 1),
               summary="Returns an element from a list by its index.",
               complexity="O(N) where N is the number of elements to traverse to get to the "
               "element at index. This makes asking for the first or the last element of the "
               "list O(1).")
def lindex(ctx: Context, session: Session, args: list[bytes]) -> bytes | None:
    loaded = load(ctx, session.db, args[0])
    if loaded is None:
        return None
    index = _index(to_int(args[1]), len(loaded.value))
    return loaded.value.elements[index].value if 0 <= index < len(loaded.value) else None


@dataclass(frozen=True, slots=True)
class LposOptions:
    rank: int = 1
    count: int | None = None
    maxlen: int = 0

    @classmethod
    def parse(cls, args: list[bytes]) -> LposOptions:
        rank, count, maxlen = 1, None, 0
        if len(args) % 2:
            raise errors.syntax_error()
        for opt, raw in zip(args[::2], args[1::2], strict=True):
            name = opt.upper()
            if name == b"RANK":
                rank = to_int(raw)
                if rank == 0:
                    raise errors.ReplyError(
                        "RANK can't be zero: use 1 to start from the first match, 2 from the "
                        "second ... or use negative to start from the end of the list")
            elif name == b"COUNT":
                count = to_int(raw)
                if count < 0:
                    raise errors.ReplyError("COUNT can't be negative")
            elif name == b"MAXLEN":
                maxlen = to_int(raw)
                if maxlen < 0:
                    raise errors.ReplyError("MAXLEN can't be negative")
            else:
                raise errors.syntax_error()
        return cls(rank, count, maxlen)


@table.command("lpos", -3, "readonly", keys=(1, 1, 1), since="6.0.6",
               summary="Returns the index of matching elements in a list.",
               complexity="O(N) where N is the number of elements in the list, for the average "
               "case. When searching for elements near the head or the tail of the list, or "
               "when the MAXLEN option is provided, the command may run in constant time.",
               support="differs",
               note="RANK -9223372036854775808 finds nothing (Redis 7.0 negates it and "
               "overflows)")
def lpos(ctx: Context, session: Session, args: list[bytes]) -> Any:
    opts = LposOptions.parse(args[2:])
    loaded = load(ctx, session.db, args[0])
    if loaded is None:
        return None if opts.count is None else []
    values = loaded.value.values()
    order = range(len(values)) if opts.rank > 0 else range(len(values) - 1, -1, -1)
    if opts.maxlen:
        order = order[: opts.maxlen]
    skip, want, found = abs(opts.rank) - 1, opts.count, []
    for i in order:
        if values[i] == args[1]:
            if skip:
                skip -= 1
                continue
            found.append(i)
            if want is None or len(found) == want:
                break
    if opts.count is None:
        return found[0] if found else None
    return found


# --- edits ---------------------------------------------------------------------------------


@table.command("lset", 4, "write denyoom", keys=(1, 1, 1),
               summary="Sets the value of an element in a list by its index.",
               complexity="O(N) where N is the length of the list. Setting either the first or "
               "the last element of the list is O(1).")
def lset(ctx: Context, session: Session, args: list[bytes]) -> Any:
    db, key = session.db, args[0]
    loaded = load(ctx, db, key)
    if loaded is None:
        raise errors.no_such_key()
    index = _index(to_int(args[1]), len(loaded.value))
    if not 0 <= index < len(loaded.value):
        raise errors.ReplyError("index out of range")
    loaded.value.set(index, args[2], ctx.keyspace.node_id, new_seq(ctx, loaded.value))
    store(ctx, db, key, loaded)
    return OK


@table.command("linsert", 5, "write denyoom", keys=(1, 1, 1), since="2.2.0",
               summary="Inserts an element before or after another element in a list.",
               complexity="O(N) where N is the number of elements to traverse before seeing the "
               "value pivot. This means that inserting somewhere on the left end on the list "
               "(head) can be considered O(1) and inserting somewhere on the right end (tail) "
               "is O(N).")
def linsert(ctx: Context, session: Session, args: list[bytes]) -> int:
    where = args[1].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise errors.syntax_error()
    db, key, pivot = session.db, args[0], args[2]
    loaded = load(ctx, db, key)
    if loaded is None:
        return 0
    values = loaded.value.values()
    if pivot not in values:
        return -1
    index = values.index(pivot) + (where == b"AFTER")
    loaded.value.insert(index, args[3], ctx.keyspace.node_id, new_seq(ctx, loaded.value))
    store(ctx, db, key, loaded)
    notify.of(ctx).key_changed(db, key)
    return len(loaded.value)


@table.command("lrem", 4, "write", keys=(1, 1, 1),
               summary="Removes elements from a list. Deletes the list if the last element was "
               "removed.",
               complexity="O(N+M) where N is the length of the list and M is the number of "
               "elements removed.")
def lrem(ctx: Context, session: Session, args: list[bytes]) -> int:
    count = to_int(args[1])
    db, key = session.db, args[0]
    loaded = load(ctx, db, key)
    if loaded is None:
        return 0
    values = loaded.value.values()
    order = range(len(values)) if count >= 0 else range(len(values) - 1, -1, -1)
    doomed = [i for i in order if values[i] == args[2]]
    if count:
        doomed = doomed[: abs(count)]
    if doomed:
        loaded.value.remove(doomed)
        store(ctx, db, key, loaded)
    return len(doomed)


@table.command("ltrim", 4, "write", keys=(1, 1, 1),
               summary="Removes elements from both ends a list. Deletes the list if all "
               "elements were trimmed.",
               complexity="O(N) where N is the number of elements to be removed by the "
               "operation.")
def ltrim(ctx: Context, session: Session, args: list[bytes]) -> Any:
    start, end = to_int(args[1]), to_int(args[2])
    db, key = session.db, args[0]
    loaded = load(ctx, db, key)
    if loaded is None:
        return OK
    keep = _range(start, end, len(loaded.value))
    doomed = [i for i in range(len(loaded.value)) if i not in keep]
    if doomed:
        loaded.value.remove(doomed)
        store(ctx, db, key, loaded)
    return OK


# --- moves ---------------------------------------------------------------------------------


def move(ctx: Context, db: int, src: bytes, dst: bytes, left_from: bool, left_to: bool) -> Any:
    """LMOVE: pop from `src`, push to `dst` (which may be `src`: a rotation). None if `src` is
    missing; WRONGTYPE for either key, checked before anything changes (as Redis)."""
    source = load(ctx, db, src)
    if source is None:
        return None
    target = source if dst == src else load(ctx, db, dst)
    if target is None:
        target = Loaded(None, crdt.ListValue())
    (value,) = _take(source, left_from, 1)
    _push_values(ctx, target, [value], left_to)
    if target is not source:
        store(ctx, db, src, source)
    store(ctx, db, dst, target)
    notify.of(ctx).key_changed(db, dst)
    return value


@table.command("lmove", 5, "write denyoom", keys=(1, 2, 1), since="6.2.0",
               summary="Returns an element after popping it from one list and pushing it to "
               "another. Deletes the list if the last element was moved.", complexity="O(1)")
def lmove(ctx: Context, session: Session, args: list[bytes]) -> Any:
    left_from, left_to = _side(args[2]), _side(args[3])
    return move(ctx, session.db, args[0], args[1], left_from, left_to)


@table.command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1), since="1.2.0",
               summary="Returns the last element of a list after removing and pushing it to "
               "another list. Deletes the list if the last element was popped.",
               complexity="O(1)")
def rpoplpush(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return move(ctx, session.db, args[0], args[1], False, True)


# --- blocking ------------------------------------------------------------------------------


def parse_timeout(arg: bytes) -> float | None:
    """Seconds to block (None = forever), as Redis 7.0's getTimeoutFromObjectOrReply: a long
    double (strtold), times 1000 rounded up to a C long long (NaN refused; what does not fit,
    infinity included, becomes LLONG_MIN, hence 'negative')."""
    try:
        value = to_long_double(arg)
    except errors.ReplyError:
        raise errors.ReplyError("timeout is not a float or out of range") from None
    ms = value * 1000
    if not INT64_MIN <= ms < 2**63:  # infinities and huge long doubles alike
        raise errors.ReplyError("timeout is negative")
    whole = math.ceil(ms)
    if whole < 0:
        raise errors.ReplyError("timeout is negative")
    return None if whole == 0 else whole / 1000.0


def block(
    ctx: Context,
    session: Session,
    keys: list[bytes],
    timeout: float | None,
    attempt: Callable[[bool], Any],
) -> Any:
    """Run `attempt(first)` under `keys`' locks until it returns a reply (not None), waking
    on pushes to `keys`; the nil array when `timeout` seconds pass. Only the first attempt
    reports a key of the wrong type: afterwards such a key counts as empty, as a blocked
    Redis client ignores it."""
    if session.extra.get(EXECUTING):  # inside EXEC: one try, no wait (EXEC holds the locks)
        reply = attempt(True)
        return NULL_ARRAY if reply is None else reply
    deadline = None if timeout is None else time.monotonic() + timeout
    with notify.of(ctx).waiting(session.db, keys) as event:
        session.extra[BLOCKED] = event
        try:
            return _wait_and_retry(ctx, session, keys, deadline, attempt, event)
        finally:
            session.extra.pop(BLOCKED, None)


def _wait_and_retry(
    ctx: Context,
    session: Session,
    keys: list[bytes],
    deadline: float | None,
    attempt: Callable[[bool], Any],
    event: Event,
) -> Any:
    """The blocked loop. The event is cleared before each attempt, so a push landing between
    the attempt and the wait is not missed."""
    db, slice_, first = session.db, notify.of(ctx).poll_interval or KILL_CHECK_S, True
    while True:
        if session.closed or session.close_after_reply or (not first and hung_up(session)):
            return NULL_ARRAY  # never pop for a client that is gone
        event.clear()
        held = ctx.keylocks.acquire(db, keys)
        try:
            reply = attempt(first)
        finally:
            ctx.keylocks.release(held)
        if reply is not None:
            return reply
        first = False
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            return NULL_ARRAY
        event.wait(slice_ if wait is None else min(wait, slice_))


_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


def hung_up(session: Session) -> bool:
    """Did the client close its connection while blocked? The connection does not read while
    a command runs, so the blocked command asks the kernel itself: a zero-timeout poll of the
    client's socket for hang-up (POLLRDHUP: the peer closed its side), which consumes nothing
    (a command the client pipelined after the BLPOP stays unread)."""
    if session.fd < 0:
        return False
    poller = select.poll()
    poller.register(session.fd, _GONE)
    return any(events & _GONE for _, events in poller.poll(0))


def _lenient(first: bool, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except errors.WrongType:
        if first:
            raise
        return None


def blocking_pop(ctx: Context, session: Session, args: list[bytes], left: bool) -> Any:
    """BLPOP/BRPOP key [key ...] timeout: [key, element] from the first non-empty key."""
    timeout = parse_timeout(args[-1])
    keys, db = args[:-1], session.db

    def attempt(first: bool) -> Any:
        for key in keys:
            loaded = _lenient(first, lambda key=key: load(ctx, db, key))
            if loaded is not None:
                (value,) = _take(loaded, left, 1)
                store(ctx, db, key, loaded)
                return [key, value]
        return None

    return block(ctx, session, keys, timeout, attempt)


@table.command("blpop", -3, "write noscript blocking", keys=(1, -2, 1), since="2.0.0",
               summary="Removes and returns the first element in a list. Blocks until an "
               "element is available otherwise. Deletes the list if the last element was "
               "popped.", complexity="O(N) where N is the number of provided keys.")
def blpop(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return blocking_pop(ctx, session, args, True)


@table.command("brpop", -3, "write noscript blocking", keys=(1, -2, 1), since="2.0.0",
               summary="Removes and returns the last element in a list. Blocks until an "
               "element is available otherwise. Deletes the list if the last element was "
               "popped.", complexity="O(N) where N is the number of provided keys.")
def brpop(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return blocking_pop(ctx, session, args, False)


def blocking_move(ctx: Context, session: Session, src: bytes, dst: bytes, left_from: bool,
                  left_to: bool, timeout_arg: bytes) -> Any:
    timeout = parse_timeout(timeout_arg)
    db = session.db

    def attempt(first: bool) -> Any:
        return _lenient(first, lambda: move(ctx, db, src, dst, left_from, left_to))

    return block(ctx, session, [src, dst], timeout, attempt)


@table.command("blmove", 6, "write denyoom noscript blocking", keys=(1, 2, 1), since="6.2.0",
               summary="Pops an element from a list, pushes it to another list and returns it. "
               "Blocks until an element is available otherwise. Deletes the list if the last "
               "element was moved.", complexity="O(1)")
def blmove(ctx: Context, session: Session, args: list[bytes]) -> Any:
    left_from, left_to = _side(args[2]), _side(args[3])
    return blocking_move(ctx, session, args[0], args[1], left_from, left_to, args[4])


@table.command("brpoplpush", 4, "write denyoom noscript blocking", keys=(1, 2, 1),
               since="2.2.0",
               summary="Pops an element from a list, pushes it to another list and returns it. "
               "Block until an element is available otherwise. Deletes the list if the last "
               "element was popped.", complexity="O(1)")
def brpoplpush(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return blocking_move(ctx, session, args[0], args[1], False, True, args[2])
