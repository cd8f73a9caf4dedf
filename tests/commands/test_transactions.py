"""MULTI/EXEC/WATCH through the dispatcher: queueing, aborts, what WATCH notices (writes through
this node, writes that reached the store another way, expiry, flushes) and what it does not
(no-op writes), EXEC's locks, blocking commands inside EXEC, and state cleanup."""

from __future__ import annotations

import gevent

from respdyn import errors
from respdyn.commands import notify
from respdyn.keyspace import layout
from respdyn.keyspace.record import Kind, Sibling
from respdyn.protocol.reply import NULL_ARRAY, OK, QUEUED

WAIT = 5.0


def test_queued_commands_run_in_order_at_exec(call):
    assert call("MULTI") == OK
    assert call("SET", "k", "1") == QUEUED
    assert call("INCR", "k") == QUEUED
    assert call("RPUSH", "l", "a") == QUEUED
    assert call("GET", "k") == QUEUED
    assert call.other()("GET", "k") is None  # nothing ran yet
    assert call("EXEC") == [OK, 2, 1, b"2"]


def test_runtime_errors_are_replies_inside_exec(call):
    call("SET", "s", "x")
    call("MULTI")
    call("INCR", "s")
    call("SET", "t", "1")
    replies = call("EXEC")
    assert isinstance(replies[0], errors.ReplyError) and replies[1] == OK


def test_queue_time_errors_abort_the_transaction(call):
    call("MULTI")
    call("SET", "k", "1")
    assert isinstance(call("NOSUCH"), errors.ReplyError)
    assert isinstance(call("EXEC"), errors.ExecAbort)
    assert call("GET", "k") is None
    assert "multi" not in call.session.extra


def test_exec_with_bad_arity_discards_with_the_reason(call):
    call("MULTI")
    call("SET", "k", "1")
    reply = call("EXEC", "now")
    assert isinstance(reply, errors.ExecAbort)
    assert reply.message.startswith("Transaction discarded because of: wrong number")
    assert isinstance(call("EXEC"), errors.ReplyError)  # no transaction left


def test_watch_fails_exec_after_another_clients_write(call):
    call("SET", "k", "1")
    call("WATCH", "k")
    call.other()("SET", "k", "1")  # the same value still counts as a write (Redis)
    call("MULTI")
    call("SET", "k", "mine")
    assert call("EXEC") is NULL_ARRAY
    assert call("GET", "k") == b"1"


def test_watch_ignores_writes_that_change_nothing(call):
    call("WATCH", "missing", "k")
    other = call.other()
    other("DEL", "missing")
    other("LREM", "k", 0, "x")
    other("SET", "k", "v", "XX")
    call("MULTI")
    call("SET", "k", "mine")
    assert call("EXEC") == [OK]


def test_watch_sees_a_write_that_reached_the_store_another_way(call):
    """A write coordinated by another node is not a local write command: the value comparison
    at EXEC still notices it."""
    call("SET", "k", "1")
    call("WATCH", "k")
    call.ctx.keyspace.store.write(layout.data_key(0, b"k"), Sibling(Kind.STRING, b"2"), None)
    call("MULTI")
    call("GET", "k")
    assert call("EXEC") is NULL_ARRAY


def test_watch_sees_expiry_and_flush(call):
    call("SET", "k", "1", "PX", "20")
    call("WATCH", "k")
    gevent.sleep(0.05)
    call("MULTI")
    assert call("EXEC") is NULL_ARRAY
    call("SET", "k", "1")
    call("WATCH", "k")
    call.other()("FLUSHALL")
    call("MULTI")
    assert call("EXEC") is NULL_ARRAY


def test_unwatch_discard_and_exec_forget_the_watched_keys(call):
    notifier = notify.of(call.ctx)
    call("WATCH", "a", "b")
    assert len(notifier.watched) == 2
    call("UNWATCH")
    assert not notifier.watched
    call("WATCH", "a")
    call("MULTI")
    call("DISCARD")
    assert not notifier.watched
    call("WATCH", "a")
    call("MULTI")
    call("EXEC")
    assert not notifier.watched and "watched" not in call.session.extra


def test_reset_leaves_multi(call):
    call("MULTI")
    call("SET", "k", "1")
    call("RESET")
    assert isinstance(call("EXEC"), errors.ReplyError)
    assert call("GET", "k") is None


def test_blocking_pop_inside_exec_does_not_block(call):
    call("MULTI")
    call("BLPOP", "nothing", "0")
    call("RPUSH", "q", "a")
    call("BLPOP", "q", "0")
    with gevent.Timeout(WAIT):
        assert call("EXEC") == [NULL_ARRAY, 1, [b"q", b"a"]]


def test_exec_holds_every_queued_key_until_it_ends(call):
    """Another client's write of a queued key waits for the whole EXEC (its keys are locked
    before the first queued command runs)."""
    ctx, order = call.ctx, []
    held = ctx.keylocks.acquire(0, [b"b"])  # a third party is busy with `b`
    call("MULTI")
    call("SET", "a", "1")
    call("SET", "b", "1")
    runner = gevent.spawn(call, "EXEC")
    gevent.sleep(0.01)
    assert not runner.ready()  # EXEC waits for `b` before running anything
    other = call.other()
    writer = gevent.spawn(lambda: order.append(("writer", other("SET", "a", "2"))))
    gevent.sleep(0.01)
    assert call.other()("GET", "a") is None  # the first queued SET has not run either
    ctx.keylocks.release(held)
    assert runner.get(timeout=WAIT) == [OK, OK]
    writer.join(timeout=WAIT)
    assert call("GET", "a") == b"2"  # the writer ran after EXEC, not between its commands


def test_select_inside_multi(call):
    call("MULTI")
    call("SELECT", "1")
    call("SET", "k", "db1")
    assert call("EXEC") == [OK, OK]
    assert call.session.db == 1
    assert call("GET", "k") == b"db1"
