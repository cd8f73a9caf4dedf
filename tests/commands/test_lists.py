"""List commands through the dispatcher: what the differential tests cannot show. Blocking pops
with two clients as gevent greenlets (woken by a push, FIFO among blocked clients, re-check
after losing a race, timeouts, no key lock held while waiting), cluster-style polling, merges of
concurrent versions of one list, and the stored payload."""

from __future__ import annotations

import time

import gevent
import pytest

from respdyn.commands import lists, notify
from respdyn.keyspace import layout
from respdyn.keyspace.crdt import lists as crdt
from respdyn.keyspace.record import Kind, Record, Sibling
from respdyn.protocol.reply import NULL_ARRAY, OK

WAIT = 5.0  #: seconds any awaited event may take at most


def spawn_blocked(caller, *argv):
    """Run a blocking command in a greenlet and return once it is actually waiting."""
    before = notify.of(caller.ctx).blocked()
    g = gevent.spawn(caller, *argv)
    with gevent.Timeout(WAIT):
        while notify.of(caller.ctx).blocked() == before and not g.dead:
            gevent.sleep(0)
    return g


def test_push_then_pop_both_ends(call):
    assert call("RPUSH", "q", "a", "b") == 2
    assert call("LPUSH", "q", "z") == 3
    assert call("LRANGE", "q", 0, -1) == [b"z", b"a", b"b"]
    assert call("LPOP", "q") == b"z"
    assert call("RPOP", "q", 5) == [b"b", b"a"]
    assert call("EXISTS", "q") == 0


def test_blpop_waits_for_a_push_from_another_client(call):
    other = call.other()
    g = spawn_blocked(call, "BLPOP", "q1", "q2", "0")
    assert not g.ready()
    assert other("RPUSH", "q2", "job") == 1  # a pusher never waits for the blocked client
    assert g.get(timeout=WAIT) == [b"q2", b"job"]
    assert other("EXISTS", "q2") == 0
    assert notify.of(call.ctx).blocked() == 0


def test_blocked_clients_are_served_in_the_order_they_blocked(call):
    clients = [call.other() for _ in range(3)]
    waiting = [spawn_blocked(c, "BRPOP", "q", "0") for c in clients]
    call("LPUSH", "q", "1", "2", "3")
    assert [g.get(timeout=WAIT) for g in waiting] == [[b"q", b"1"], [b"q", b"2"], [b"q", b"3"]]


def test_a_woken_client_that_loses_the_race_keeps_waiting(call):
    thief = call.other()
    g = spawn_blocked(call, "BLPOP", "q", "0")
    # the push and a competing pop in one step: the blocked client wakes to an empty list
    call.ctx.keyspace.put(0, b"q", Kind.LIST, crdt.encode(crdt.from_values([b"x"], b"n", 1)))
    assert thief("LPOP", "q") == b"x"
    notify.of(call.ctx).key_changed(0, b"q")
    gevent.sleep(0.01)
    assert not g.ready()
    thief("RPUSH", "q", "y")
    assert g.get(timeout=WAIT) == [b"q", b"y"]


def test_blpop_times_out_with_a_nil_array(call):
    started = time.monotonic()
    assert call("BLPOP", "q", "0.05") is NULL_ARRAY
    assert 0.04 <= time.monotonic() - started < WAIT


def test_blmove_and_brpoplpush_wake_on_push(call):
    other = call.other()
    g = spawn_blocked(call, "BLMOVE", "src", "dst", "RIGHT", "LEFT", "0")
    other("RPUSH", "src", "a", "b")
    assert g.get(timeout=WAIT) == b"b"
    g = spawn_blocked(call, "BRPOPLPUSH", "empty", "dst", "0")
    other("LINSERT", "dst", "AFTER", "b", "c")  # an insert does not touch `empty`
    gevent.sleep(0.01)
    assert not g.ready()
    other("LMOVE", "src", "empty", "LEFT", "LEFT")  # a move pushes to its destination
    assert g.get(timeout=WAIT) == b"a"
    assert call("LRANGE", "dst", 0, -1) == [b"a", b"b", b"c"]


def test_a_key_that_turns_into_a_string_while_blocked_is_ignored(call):
    other = call.other()
    g = spawn_blocked(call, "BLPOP", "q", "0.3")
    other("SET", "q", "string")
    notify.of(call.ctx).key_changed(0, b"q")
    assert g.get(timeout=WAIT) is NULL_ARRAY  # as a blocked Redis client: no WRONGTYPE


def test_blocking_pop_holds_no_lock_while_waiting(call):
    g = spawn_blocked(call, "BLPOP", "q", "0")
    assert len(call.ctx.keylocks) == 0
    call.other()("RPUSH", "q", "v")
    g.get(timeout=WAIT)


def test_cluster_poll_sees_pushes_that_did_not_go_through_this_node(call):
    """In a cluster a push may land through another node; the blocked pop re-checks every
    poll_interval, so it is served without a local notification."""
    notify.of(call.ctx).poll_interval = 0.01
    g = spawn_blocked(call, "BLPOP", "q", "0")
    payload = crdt.encode(crdt.from_values([b"remote"], b"other-node", 1))
    call.ctx.keyspace.store.write(layout.data_key(0, b"q"), Sibling(Kind.LIST, payload), None)
    assert g.get(timeout=WAIT) == [b"q", b"remote"]


def test_kill_of_the_waiting_greenlet_unregisters_it(call):
    g = spawn_blocked(call, "BLPOP", "q", "0")
    g.kill()
    assert notify.of(call.ctx).blocked() == 0


@pytest.mark.parametrize("timeout", ["-1", "x", "nan", "inf"])
def test_bad_timeouts_are_refused_before_blocking(call, timeout):
    reply = call("BLPOP", "q", timeout)
    assert isinstance(reply, Exception)
    assert "timeout is" in str(reply)


def test_list_keeps_its_ttl_through_edits(call):
    call("RPUSH", "q", "a", "b")
    call("EXPIRE", "q", 100)
    call("LPOP", "q")
    call("RPUSH", "q", "c")
    call("LSET", "q", 0, "x")
    assert 0 < call("TTL", "q") <= 100


def test_concurrent_versions_of_a_list_merge(call):
    """Two siblings (pushes made on both sides of a partition) read as one list holding
    every element, the same whichever order the siblings are stored in."""
    base = crdt.from_values([b"x"], b"base", 1)
    a, b = crdt.decode(crdt.encode(base)), crdt.decode(crdt.encode(base))
    a.push([b"from-a"], False, b"A", 10)
    b.push([b"from-b"], False, b"B", 10)
    b.remove([0])  # B popped x concurrently
    siblings = [Sibling(Kind.LIST, crdt.encode(v), 0, 5, node)
                for v, node in ((a, b"A"), (b, b"B"))]
    raw = layout.data_key(0, b"q")
    engine = call.ctx.keyspace.store.engine
    from respdyn.keyspace.record import encode as encode_record

    for order in (siblings, siblings[::-1]):
        engine.put(raw, encode_record(Record(order)))
        assert call("LRANGE", "q", 0, -1) == [b"from-a", b"from-b"]
        assert call("LLEN", "q") == 2
    assert call("RPUSH", "q", "c") == 3  # a write resolves the siblings into one
    assert len(call.ctx.keyspace.store.read(raw).siblings) == 1


def test_stored_payload_is_the_list_format(call):
    call("RPUSH", "q", "a", "b")
    entry = call.ctx.keyspace.lookup(0, b"q")
    assert entry.kind == Kind.LIST
    assert entry.payload[0] == crdt.FORMAT
    assert crdt.decode(entry.payload).values() == [b"a", b"b"]


def test_lset_and_linsert_keep_other_elements_in_place(call):
    call("RPUSH", "q", *[str(i) for i in range(10)])
    for i in range(50):
        assert call("LINSERT", "q", "AFTER", "4", f"x{i}") == 11 + i
    assert call("LINDEX", "q", 5) == b"x49"
    assert call("LINDEX", "q", -1) == b"9"
    assert call("LSET", "q", 5, "y") == OK
    assert call("LPOS", "q", "y") == 5
    assert call("LRANGE", "q", 54, -1) == [b"x0", b"5", b"6", b"7", b"8", b"9"]


def test_a_killed_blocked_client_never_pops(call):
    """CLIENT KILL cannot interrupt the waiting greenlet; on its next look it gives up without
    taking an element the dead client could never receive."""
    g = spawn_blocked(call, "BLPOP", "q", "0")
    call.session.kill()
    call.session.extra[lists.BLOCKED].set()  # what the kill check does within KILL_CHECK_S
    assert g.get(timeout=WAIT) is NULL_ARRAY
    other = call.other()
    other("RPUSH", "q", "kept")
    assert other("LRANGE", "q", 0, -1) == [b"kept"]
