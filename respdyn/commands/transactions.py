"""MULTI/EXEC/DISCARD/WATCH/UNWATCH (Redis' `transactions` group).

Queueing lives in the dispatcher (a client in MULTI gets +QUEUED for every command but these);
this module holds the per-client state and the commands themselves. What EXEC guarantees
(docs/datatypes.md, "Transactions"):

- the queued commands run in order, with no other client's command of this node in between on
  any of their keys: EXEC takes this node's per-key locks of every queued key (and every
  watched key) before it checks WATCH, and holds them to the end;
- WATCH fails EXEC (nil array) if a watched key was written through this node since WATCH (a
  per-key write counter, bumped by every write command, even one writing the same value), or
  if its value differs from the one seen at WATCH (which also catches writes made through
  other nodes that reached this node's reads, and expiry);
- there is no isolation across nodes: another node's client may write the same keys while
  EXEC runs here, and those writes merge or win by the store's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from respdyn import errors
from respdyn.commands import notify
from respdyn.commands.context import Context
from respdyn.commands.registry import CommandTable
from respdyn.protocol.reply import OK
from respdyn.session import Session

if TYPE_CHECKING:
    from respdyn.commands.spec import CommandSpec

table = CommandTable("transactions")

#: session.extra keys
MULTI = "multi"
WATCHED = "watched"
#: set while EXEC runs the queued commands: blocking commands try once and do not block
EXECUTING = "exec.running"

#: commands a client in MULTI runs at once instead of queueing them (Redis' list)
IMMEDIATE = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})

Snapshot = tuple[int, bytes, int] | None  #: (kind, payload, expire_at) of a watched key


@dataclass
class Transaction:
    queue: list[tuple[CommandSpec, list[bytes]]] = field(default_factory=list)
    failed: bool = False  #: a command was refused while queueing: EXEC answers EXECABORT


def flag(session: Session) -> None:
    """A command was refused (unknown, arity, auth...) while in MULTI: EXEC must abort."""
    tx = session.extra.get(MULTI)
    if tx is not None:
        tx.failed = True


def snapshot(ctx: Context, db: int, key: bytes) -> Snapshot:
    entry = ctx.keyspace.lookup(db, key)
    return None if entry is None else (entry.kind, entry.payload, entry.expire_at)


def watched_changed(ctx: Context, session: Session, watched: dict) -> bool:
    """True if any watched key was written or changed since WATCH (caller holds the locks)."""
    notifier = notify.of(ctx)
    for (db, key), (version, seen) in watched.items():
        if notifier.version(db, key) != version or snapshot(ctx, db, key) != seen:
            return True
    return False


def unwatch_all(ctx: Context, session: Session) -> None:
    forget(ctx, session, session.extra.pop(WATCHED, None) or {})


def forget(ctx: Context, session: Session, watched: dict) -> None:
    """Stop counting writes for the client's watched keys (after EXEC checked them)."""
    notifier = notify.of(ctx)
    for db, key in watched:
        notifier.unwatch(session, db, key)


def abort(ctx: Context, session: Session, reason: errors.ReplyError) -> errors.ReplyError:
    """EXEC itself refused (its arity): Redis discards the transaction, in MULTI or not."""
    session.extra.pop(MULTI, None)
    unwatch_all(ctx, session)
    exc = errors.ExecAbort()
    exc.message = f"Transaction discarded because of: {reason.message}"
    return exc


def lock_keys(tx: Transaction, watched: dict, db: int) -> list[bytes]:
    """Every key of `db` the transaction writes, reads or watches: EXEC locks them all."""
    keys = [key for wdb, key in watched if wdb == db]
    for spec, args in tx.queue:
        keys += spec.keys.keys_in_args(args)
    return keys


@table.command("multi", 1, "noscript loading stale fast allow_busy", since="1.2.0",
               summary="Starts a transaction.", complexity="O(1)")
def multi(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if MULTI in session.extra:
        raise errors.ReplyError("MULTI calls can not be nested")
    session.extra[MULTI] = Transaction()
    return OK


@table.command("exec", 1, "noscript loading stale skip_slowlog", since="1.2.0",
               summary="Executes all commands in a transaction.",
               complexity="Depends on commands in the transaction")
def exec_(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Reached only outside MULTI: the dispatcher runs a transaction's EXEC itself."""
    raise errors.ReplyError("EXEC without MULTI")


@table.command("discard", 1, "noscript loading stale fast allow_busy", since="2.0.0",
               summary="Discards a transaction.",
               complexity="O(N), when N is the number of queued commands")
def discard(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if session.extra.pop(MULTI, None) is None:
        raise errors.ReplyError("DISCARD without MULTI")
    unwatch_all(ctx, session)
    return OK


@table.command("watch", -2, "noscript loading stale fast allow_busy", keys=(1, -1, 1),
               since="2.2.0",
               summary="Monitors changes to keys to determine the execution of a transaction.",
               complexity="O(1) for every key.")
def watch(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if MULTI in session.extra:
        raise errors.ReplyError("WATCH inside MULTI is not allowed")
    watched = session.extra.setdefault(WATCHED, {})
    notifier, db = notify.of(ctx), session.db
    for key in args:
        if (db, key) not in watched:
            version = notifier.watch(session, db, key)
            watched[(db, key)] = (version, snapshot(ctx, db, key))
    return OK


@table.command("unwatch", 1, "noscript loading stale fast allow_busy", since="2.2.0",
               summary="Forgets about watched keys of a transaction.", complexity="O(1)")
def unwatch(ctx: Context, session: Session, args: list[bytes]) -> Any:
    unwatch_all(ctx, session)
    return OK
