"""The dispatcher: arity and auth before handlers, containers, per-key locks for writes."""

from __future__ import annotations

import gevent
import pytest

from respdyn.commands.spec import KeySpec
from respdyn.errors import ReplyError
from respdyn.protocol.reply import Status


@pytest.mark.parametrize(
    ("argv", "keys"),
    [
        (["k"], [b"k"]),
        (["a", "1", "b", "2"], [b"a", b"b"]),  # MSET: (1, -1, 2)
    ],
)
def test_keys_in_args(argv, keys):
    spec = KeySpec(1, 1, 1) if len(argv) == 1 else KeySpec(1, -1, 2)
    assert spec.keys_in_args([a.encode() for a in argv]) == keys


def test_keys_in_args_ranges():
    assert KeySpec(1, -1, 1).keys_in_args([b"a", b"b", b"c"]) == [b"a", b"b", b"c"]
    assert KeySpec(1, -2, 1).keys_in_args([b"a", b"b", b"10"]) == [b"a", b"b"]  # BLPOP
    assert KeySpec(2, 2, 1).keys_in_args([b"x"]) == []
    assert KeySpec().keys_in_args([b"a"]) == []


def test_wrong_arity_is_checked_before_the_handler(call):
    reply = call("SET", "only-key")
    assert isinstance(reply, ReplyError)
    assert reply.message == "wrong number of arguments for 'set' command"
    assert call("EXISTS", "only-key") == 0


def test_bare_container_with_handler_runs(call, ctx):
    assert len(call("COMMAND")) == len(ctx.registry)
    reply = call("CLIENT")
    assert isinstance(reply, ReplyError)
    assert reply.message == "wrong number of arguments for 'client' command"


def test_unknown_subcommand(call):
    reply = call("CLIENT", "NOPE")
    assert reply.message == "unknown subcommand 'NOPE'. Try CLIENT HELP."


def test_write_commands_hold_their_key_lock_while_they_yield(ctx, call):
    """A read-modify-write that yields between read and write (as a cluster round trip or a
    threaded fsync does) must not interleave with another write of the same key."""
    store = ctx.keyspace.store
    original = store.write

    def slow_write(*args):
        gevent.sleep(0.001)  # yield to the other greenlet mid-command
        return original(*args)

    store.write = slow_write
    try:
        other = call.other()
        workers = [gevent.spawn(c, "INCR", "counter") for c in (call, other) for _ in range(20)]
        gevent.joinall(workers, timeout=30, raise_error=True)
    finally:
        store.write = original
    assert call("GET", "counter") == b"40"
    assert len(ctx.keylocks) == 0  # every lock released


def test_locks_released_after_errors(call, ctx):
    call("SET", "s", "text")
    assert isinstance(call("INCR", "s"), ReplyError)
    assert len(ctx.keylocks) == 0
    assert call("SET", "s", "x") == Status("OK")
