"""Runs one request: look the command up, check arity and authentication BEFORE the handler
runs (CVE-2025-46686: never work for a request that will be refused), call the handler, count
it, and turn every typed error into a reply value. This is the one place errors become replies.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from respdyn import errors
from respdyn.commands import notify, pubsub, transactions
from respdyn.commands.context import Context
from respdyn.commands.spec import CommandSpec
from respdyn.errors import ReplyError
from respdyn.keyspace import request
from respdyn.protocol.reply import NULL_ARRAY, QUEUED
from respdyn.session import Session
from storage.errors import PersistenceError, StorageError

log = logging.getLogger(__name__)
_monotonic = time.monotonic
_perf_counter = time.perf_counter

#: distinct raw command-name spellings remembered by `Dispatcher.lookup` (a client sending
#: random case variants cannot grow it further; those are looked up the slow way)
NAME_CACHE_MAX = 1024

#: how the fast path takes a write command's key locks (see `_Plan`)
_NO_LOCKS, _FIRST_KEY, _KEY_SPEC = 0, 1, 2


class _Plan:
    """What the fast path needs of a plain (non-container) command, computed once per raw
    name spelling instead of per request: the spec's properties (`locks_keys`, `keys`) are
    derived values, and reading them on every request cost more than the handler of a GET."""

    __slots__ = ("arity", "handler", "inline", "lock", "name", "spec")

    def __init__(self, spec: CommandSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.handler = spec.handler
        self.arity = spec.arity
        self.inline = not spec.may_wait  #: may run in the event loop's callback (`inline`)
        keys = spec.keys
        if not spec.locks_keys:
            self.lock = _NO_LOCKS
        elif keys.first == 1 and keys.last == 1:  # SET, INCR, APPEND...: the key is args[0]
            self.lock = _FIRST_KEY
        else:
            self.lock = _KEY_SPEC


class Dispatcher:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.registry = ctx.registry
        self.stats = ctx.stats
        self.keylocks = ctx.keylocks
        self._by_name: dict[bytes, CommandSpec] = {}
        self._plans: dict[bytes, _Plan] = {}  #: raw name -> plan, for non-container commands

    def execute(self, session: Session, argv: list[bytes]) -> Any:
        """Run `argv` (name first) for `session`; returns a reply value, never raises.

        The fast path: a known plain command with the right arity, for an authenticated
        client in no special state (`session.extra` empty: no MULTI, no subscriptions, no
        consistency override), which is every request of a benchmark. Anything else (and every
        refusal) takes `_execute`, the general path, so the checks and their order are the
        same: lookup, arity, then auth, MULTI and subscribed mode."""
        self.stats.total_commands_processed += 1
        plan = self._plans.get(argv[0])
        if plan is None or session.extra or not session.authenticated:
            return self._execute(session, argv)
        argc, arity = len(argv), plan.arity
        if argc != arity and (arity >= 0 or argc < -arity):
            return self._execute(session, argv)
        args = argv[1:]
        if not plan.lock:
            return self._call(plan, session, args)
        if plan.lock == _FIRST_KEY:
            one = self.keylocks.acquire_one(session.db, args[0])
            try:
                return self._call(plan, session, args)
            finally:
                self.keylocks.release_one(one)
        held = self.keylocks.acquire(session.db, keys) if (
            keys := plan.spec.keys.keys_in_args(args)) else None
        try:
            return self._call(plan, session, args)
        finally:
            if held is not None:
                self.keylocks.release(held)

    __call__ = execute  # the connection calls the dispatcher: no extra frame per request

    def inline(self, session: Session, argv: list[bytes]) -> Any:
        """`execute` for a request the connection runs in the event loop's own callback, with
        no greenlet switch (see respdyn/server/connection.py): the reply, or NotImplemented
        when the request must run in the client's greenlet instead. That is every request
        `execute` would send down its general path, a command that may wait (blocking pops,
        DEBUG SLEEP), and a write to a key whose lock another client's command holds (an
        EXEC waiting in DEBUG SLEEP). A command run here cannot be interleaved with any other
        (it cannot switch greenlets), so it takes no key lock of its own.

        Only for a node whose commands never wait for I/O: one node, fsync other than always
        (the node decides; a cluster's coordinator waits for its replicas)."""
        plan = self._plans.get(argv[0])
        if plan is None or not plan.inline or session.extra or not session.authenticated:
            return NotImplemented
        argc, arity = len(argv), plan.arity
        if argc != arity and (arity >= 0 or argc < -arity):
            return NotImplemented
        args = argv[1:]
        if plan.lock and self.keylocks:  # someone holds a lock: is it one of ours?
            db = session.db
            keys = [args[0]] if plan.lock == _FIRST_KEY else plan.spec.keys.keys_in_args(args)
            if any(self.keylocks.held(db, key) for key in keys):
                return NotImplemented
        self.stats.total_commands_processed += 1
        return self._call(plan, session, args)

    def _call(self, plan: _Plan, session: Session, args: list[bytes]) -> Any:
        """Run a fast-path command: the handler, its statistics, its errors as replies."""
        session.last_interaction = _monotonic()  # Session.touch, inlined
        session.last_command = name = plan.name
        started = _perf_counter()
        try:
            reply = plan.handler(self.ctx, session, args)  # type: ignore[misc]
        except ReplyError as exc:
            reply = exc
        except Exception as exc:
            reply = _reply_for(name, exc)
        stats = self.stats
        entry = stats.commands.get(name)
        if entry is None:
            entry = stats.command(name)
        entry.calls += 1
        entry.usec += int((_perf_counter() - started) * 1_000_000)
        if isinstance(reply, ReplyError):
            entry.failed_calls += 1
            stats.total_error_replies += 1
        return reply

    def _execute(self, session: Session, argv: list[bytes]) -> Any:
        """The general path of `execute` (its counter already counted)."""
        try:
            spec, args = self.resolve(argv)
        except ReplyError as exc:  # unknown command or wrong arity: count it as Redis does
            spec = self.lookup(argv[0])
            if spec is not None and spec.name == "exec":
                exc = transactions.abort(self.ctx, session, exc)
            elif session.extra:
                transactions.flag(session)
            return self._rejected(spec, exc)
        session.touch(spec.name)
        if not session.authenticated and "no_auth" not in spec.flags:
            if session.extra:
                transactions.flag(session)
            return self._rejected(spec, errors.NoAuth())
        if session.extra:  # the one extra check on the hot path: MULTI, subscribed mode
            gated = self.gate(spec, session, args)
            if gated is not None:
                return gated
        return self.run(spec, session, args)

    def gate(self, spec: CommandSpec, session: Session, args: list[bytes]) -> Any:
        """A reply for a client in a special state (None: run the command as usual): a RESP2
        subscriber may only (un)subscribe, PING, QUIT and RESET; a client in MULTI gets its
        commands queued, and its EXEC runs them."""
        subs = session.extra.get(notify.SUBSCRIPTIONS)
        if subs is not None and subs.count() and session.protocol == 2:
            if spec.name == "ping" and len(args) <= 1:
                return [b"pong", args[0] if args else b""]
            if spec.name not in pubsub.SUBSCRIBED_ALLOWED:
                transactions.flag(session)
                return self._rejected(spec, pubsub.not_allowed(spec.name))
        tx = session.extra.get(transactions.MULTI)
        if tx is None:
            return None
        if spec.name == "exec":
            return self.exec(spec, session, tx)
        if spec.name in transactions.IMMEDIATE:
            return None
        tx.queue.append((spec, args))
        return QUEUED

    def exec(self, spec: CommandSpec, session: Session, tx: transactions.Transaction) -> Any:
        """EXEC: under this node's locks of every queued and watched key, check WATCH, then
        run the queued commands in order (see respdyn/commands/transactions.py)."""
        del session.extra[transactions.MULTI]
        watched = session.extra.pop(transactions.WATCHED, None) or {}
        if tx.failed:
            transactions.forget(self.ctx, session, watched)
            return self._rejected(spec, errors.ExecAbort())
        db = session.db
        held = self.keylocks.acquire(db, keys) if (
            keys := transactions.lock_keys(tx, watched, db)) else None
        session.extra[transactions.EXECUTING] = True
        try:
            if watched and transactions.watched_changed(self.ctx, session, watched):
                return NULL_ARRAY
            # a queued SELECT moves later commands to a database whose keys we do not hold
            return [self.run(s, session, a, locked=session.db == db) for s, a in tx.queue]
        finally:
            session.extra.pop(transactions.EXECUTING, None)
            transactions.forget(self.ctx, session, watched)
            if held is not None:
                self.keylocks.release(held)
            self.stats.command(spec.name).calls += 1

    def lookup(self, name: bytes) -> CommandSpec | None:
        """`Registry.lookup` remembered by the raw name: clients send the same few spellings
        (b"SET", b"get"), and decoding and lower-casing the name of every request cost more
        than a dict hit."""
        spec = self._by_name.get(name)
        if spec is None:
            spec = self.registry.lookup(name)
            if spec is not None and len(self._by_name) < NAME_CACHE_MAX:
                self._by_name[name] = spec
                if not spec.is_container and spec.handler is not None:
                    self._plans[name] = _Plan(spec)
        return spec

    def resolve(self, argv: list[bytes]) -> tuple[CommandSpec, list[bytes]]:
        """The spec to run and its arguments (without the command/subcommand names)."""
        spec = self.lookup(argv[0])
        if spec is None:
            raise errors.unknown_command(argv[0], argv[1:])
        if not spec.is_container:
            if not spec.arity_ok(len(argv)):
                raise errors.wrong_arity(spec.name)
            return spec, argv[1:]
        if len(argv) < 2:
            if spec.handler is not None and spec.arity_ok(len(argv)):
                return spec, []  # a container that also runs bare: COMMAND
            raise errors.wrong_arity(spec.name)
        sub = spec.subcommands.get(argv[1].decode("latin-1").lower())
        if sub is None:
            raise errors.unknown_subcommand(argv[1], spec.name)
        if not sub.arity_ok(len(argv)):
            raise errors.wrong_arity(sub.name)
        return sub, argv[2:]

    def run(
        self, spec: CommandSpec, session: Session, args: list[bytes], locked: bool = False
    ) -> Any:
        """Call the handler with the counters and the error mapping around it; `locked`: the
        caller (EXEC) already holds the keys' locks."""
        started = time.perf_counter()
        # the consistency override is set only for a session that has one (CONSISTENCY):
        # a ContextVar set/reset pair on every command costs more than the rest of this frame
        override = session.extra.get(request.SESSION_KEY) if session.extra else None
        token = request.consistency.set(override) if override is not None else None
        held = self.keylocks.acquire(session.db, keys) if spec.locks_keys and not locked and (
            keys := spec.keys.keys_in_args(args)) else None
        try:
            reply = spec.handler(self.ctx, session, args)  # type: ignore[misc]
        except ReplyError as exc:
            reply = exc
        except Exception as exc:
            reply = _reply_for(spec.name, exc)
        finally:
            if token is not None:
                request.consistency.reset(token)
            if held is not None:
                self.keylocks.release(held)
        entry = self.stats.command(spec.name)
        entry.calls += 1
        entry.usec += int((time.perf_counter() - started) * 1_000_000)
        if isinstance(reply, ReplyError):
            entry.failed_calls += 1
            self.stats.total_error_replies += 1
        return reply

    def _rejected(self, spec: CommandSpec | None, exc: ReplyError) -> ReplyError:
        if spec is not None:
            self.stats.command(spec.name).rejected_calls += 1
        self.stats.total_error_replies += 1
        return exc


def _reply_for(name: str, exc: Exception) -> ReplyError:
    """The reply for an unexpected exception of command `name` (called in its except block,
    so `log.exception` has the traceback)."""
    if isinstance(exc, PersistenceError):
        return errors.Misconf(f"Errors writing to disk, writes are refused: {exc}")
    if isinstance(exc, StorageError):
        log.error("storage error in %s: %s", name, exc)
        return ReplyError(f"storage error: {exc}")
    log.exception("internal error in %s", name)
    return ReplyError("internal error")
