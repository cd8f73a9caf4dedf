"""Set commands through the dispatcher (replies and error texts as redis-server 7.0 gives
them), SSCAN over big sets, and the ORSWOT merge of concurrent siblings (Keyspace.resolve)."""

from __future__ import annotations

import gevent
import pytest

from respdyn.errors import ReplyError, WrongType
from respdyn.keyspace import layout
from respdyn.keyspace.crdt import orset
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import Double, Set


def members(reply) -> set[bytes]:
    assert isinstance(reply, Set)
    return set(reply.items)


def error(reply) -> str:
    assert isinstance(reply, ReplyError), reply
    return reply.message


# --- single-set commands -------------------------------------------------------------------


def test_sadd_srem_scard_sismember(call):
    assert call("SADD", "s", "a", "b", "a") == 2
    assert call("SADD", "s", "b", "c") == 1
    assert call("SCARD", "s") == 3
    assert call("SISMEMBER", "s", "a") == 1
    assert call("SISMEMBER", "s", "z") == 0
    assert call("SMISMEMBER", "s", "a", "z", "c") == [1, 0, 1]
    assert call("SREM", "s", "a", "z", "a") == 1
    assert members(call("SMEMBERS", "s")) == {b"b", b"c"}
    assert call("SREM", "s", "b", "c") == 2
    assert call("EXISTS", "s") == 0  # emptied: the key is gone
    assert call("SREM", "s", "b") == 0
    assert call("SCARD", "missing") == 0
    assert call("SMEMBERS", "missing") == Set([])


def test_integer_sets_in_numeric_order(call):
    call("SADD", "n", "10", "-1", "3", "2")
    assert call("SMEMBERS", "n") == Set([b"-1", b"2", b"3", b"10"])


def test_spop(call):
    call("SADD", "s", "a", "b", "c")
    popped = call("SPOP", "s")
    assert popped in (b"a", b"b", b"c")
    assert call("SCARD", "s") == 2
    rest = call("SPOP", "s", "5")
    assert members(rest) | {popped} == {b"a", b"b", b"c"}
    assert call("EXISTS", "s") == 0
    assert call("SPOP", "s") is None
    assert call("SPOP", "s", "2") == Set([])
    assert error(call("SPOP", "s", "-1")) == "value is out of range, must be positive"
    assert error(call("SPOP", "s", "x")) == "value is out of range, must be positive"
    assert error(call("SPOP", "s", "1", "2")) == "syntax error"


def test_srandmember(call):
    call("SADD", "s", "a", "b", "c")
    assert call("SRANDMEMBER", "s") in (b"a", b"b", b"c")
    assert sorted(call("SRANDMEMBER", "s", "10")) == [b"a", b"b", b"c"]
    picked = call("SRANDMEMBER", "s", "2")
    assert len(set(picked)) == 2
    repeated = call("SRANDMEMBER", "s", "-7")
    assert len(repeated) == 7 and set(repeated) <= {b"a", b"b", b"c"}
    assert call("SCARD", "s") == 3  # nothing removed
    assert call("SRANDMEMBER", "missing") is None
    assert call("SRANDMEMBER", "missing", "3") == []
    assert error(call("SRANDMEMBER", "s", "-9223372036854775808")) == (
        "value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807")
    assert error(call("SRANDMEMBER", "s", "x")) == "value is not an integer or out of range"


def test_smove(call):
    call("SADD", "a", "x", "y")
    call("SADD", "b", "z")
    assert call("SMOVE", "a", "b", "x") == 1
    assert call("SMOVE", "a", "b", "nope") == 0
    assert call("SMOVE", "missing", "b", "x") == 0
    assert call("SMOVE", "a", "a", "y") == 1
    assert call("SMOVE", "a", "a", "q") == 0
    assert members(call("SMEMBERS", "b")) == {b"x", b"z"}
    assert call("SMOVE", "a", "c", "y") == 1
    assert call("EXISTS", "a") == 0
    call("SET", "str", "v")
    assert isinstance(call("SMOVE", "c", "str", "y"), WrongType)
    assert isinstance(call("SMOVE", "str", "c", "y"), WrongType)
    assert call("SMOVE", "missing", "str", "y") == 0  # a missing source is checked first


# --- algebra -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["SINTER", "a", "b"], {b"2", b"3"}),
        (["SINTER", "a", "missing"], set()),
        (["SUNION", "a", "b", "missing"], {b"1", b"2", b"3", b"4", b"x"}),
        (["SDIFF", "a", "b"], {b"1", b"x"}),
        (["SDIFF", "missing", "a"], set()),
    ],
)
def test_set_algebra(call, command, expected):
    call("SADD", "a", "1", "2", "3", "x")
    call("SADD", "b", "2", "3", "4")
    assert members(call(*command)) == expected
    assert call(f"{command[0]}STORE", "dest", *command[1:]) == len(expected)
    assert set(call("SMEMBERS", "dest").items) == expected
    assert call("EXISTS", "dest") == int(bool(expected))


def test_store_overwrites_any_type_and_drops_the_ttl(call):
    call("SADD", "a", "1")
    call("SET", "d", "v", "EX", "100")
    assert call("SUNIONSTORE", "d", "a") == 1
    assert call("TYPE", "d").text == "set"
    assert call("TTL", "d") == -1


def test_algebra_checks_every_type(call):
    call("SET", "str", "v")
    for command in ("SINTER", "SUNION", "SDIFF"):
        assert isinstance(call(command, "missing", "str"), WrongType)
    assert isinstance(call("SINTERSTORE", "d", "missing", "str"), WrongType)
    assert isinstance(call("SINTERCARD", "2", "missing", "str"), WrongType)


def test_sintercard(call):
    call("SADD", "a", "1", "2", "3")
    call("SADD", "b", "2", "3")
    assert call("SINTERCARD", "2", "a", "b") == 2
    assert call("SINTERCARD", "2", "a", "b", "LIMIT", "1") == 1
    assert call("SINTERCARD", "2", "a", "b", "LIMIT", "0") == 2
    assert error(call("SINTERCARD", "0", "a")) == "numkeys should be greater than 0"
    assert error(call("SINTERCARD", "x", "a")) == "numkeys should be greater than 0"
    assert error(call("SINTERCARD", "3", "a", "b")) == (
        "Number of keys can't be greater than number of args")
    assert error(call("SINTERCARD", "1", "a", "LIMIT", "-1")) == "LIMIT can't be negative"
    assert error(call("SINTERCARD", "1", "a", "FOO", "1")) == "syntax error"


# --- SSCAN ---------------------------------------------------------------------------------


def test_sscan_small_set_comes_back_whole(call):
    call("SADD", "s", "a", "b", "c")
    assert call("SSCAN", "s", "0", "COUNT", "1") == [b"0", [b"a", b"b", b"c"]]
    assert call("SSCAN", "s", "0", "MATCH", "[ab]") == [b"0", [b"a", b"b"]]
    assert error(call("SSCAN", "s", "0", "COUNT", "0")) == "syntax error"
    assert error(call("SSCAN", "s", "0", "TYPE", "set")) == "syntax error"
    assert error(call("SSCAN", "s", "x")) == "invalid cursor"
    assert call("SSCAN", "missing", "0", "COUNT", "0") == [b"0", []]


def scan_all(call, key: str, count: int, between=None) -> list[bytes]:
    cursor, seen, steps = b"0", [], 0
    while True:
        cursor, batch = call("SSCAN", key, cursor, "COUNT", count)
        seen += batch
        steps += 1
        if between:
            between(steps)
        if cursor == b"0":
            return seen


def test_sscan_big_set_in_steps_returns_every_member(call):
    names = [b"m%d" % i for i in range(1000)]
    call("SADD", "s", *names)
    seen = scan_all(call, "s", 50)
    assert sorted(seen) == sorted(names)
    assert len(seen) == len(names)  # no repeats when nothing changes


def test_sscan_returns_members_present_throughout_despite_writes(call):
    names = [b"m%d" % i for i in range(500)]
    call("SADD", "s", *names)

    def churn(step: int) -> None:
        call("SREM", "s", names[step])  # removes some members
        call("SADD", "s", b"new%d" % step)

    seen = set(scan_all(call, "s", 20, churn))
    assert set(names[40:]) <= seen


# --- merges --------------------------------------------------------------------------------


def test_concurrent_sadd_and_srem_keep_the_member(sides):
    sides.a("SADD", "s", "x", "y")
    sides.sync("s")
    sides.a("SADD", "s", "x")  # re-add on one side...
    sides.b("SREM", "s", "x")  # ...remove on the other
    sides.heal("s")
    assert members(sides.a("SMEMBERS", "s")) == {b"x", b"y"}
    assert members(sides.b("SMEMBERS", "s")) == {b"x", b"y"}


def test_members_added_on_both_sides_are_all_kept(sides):
    sides.a("SADD", "s", "common")
    sides.sync("s")
    sides.a("SADD", "s", "left1", "left2")
    sides.b("SADD", "s", "right")
    sides.heal("s")
    assert sides.a("SCARD", "s") == 4
    assert members(sides.b("SMEMBERS", "s")) == {b"common", b"left1", b"left2", b"right"}


def test_a_remove_seen_by_both_sides_stays_removed(sides):
    sides.a("SADD", "s", "x", "y", "z")
    sides.sync("s")
    sides.a("SREM", "s", "x")
    sides.b("SREM", "s", "x")
    sides.b("SADD", "s", "w")
    sides.heal("s")
    assert members(sides.a("SMEMBERS", "s")) == {b"y", b"z", b"w"}


def test_the_next_write_after_a_merge_stores_one_merged_value(sides):
    sides.a("SADD", "s", "a")
    sides.sync("s")
    sides.a("SADD", "s", "b")
    sides.b("SADD", "s", "c")
    sides.heal("s")
    sides.a("SADD", "s", "d")
    record = sides.a.ctx.keyspace.store.read(layout.data_key(0, b"s"))
    assert len(record.siblings) == 1
    entry = sides.a.ctx.keyspace.lookup(0, b"s")
    state = orset.decode(entry.payload, orset.SET_FORMAT)
    assert set(state.elements()) == {b"a", b"b", b"c", b"d"}
    assert set(state.clock) == {b"n1", b"n2"}


def test_set_kind_and_wrongtype(call):
    call("SADD", "s", "m")
    assert call.ctx.keyspace.lookup(0, b"s").kind == Kind.SET
    assert call("TYPE", "s").text == "set"
    call("SET", "str", "v")
    for command in (["SADD", "str", "m"], ["SREM", "str", "m"], ["SMEMBERS", "str"],
                    ["SCARD", "str"], ["SPOP", "str"], ["SRANDMEMBER", "str"],
                    ["SSCAN", "str", "0"], ["SISMEMBER", "str", "m"]):
        assert isinstance(call(*command), WrongType), command


def test_a_huge_negative_count_is_refused_before_building_the_reply(call):
    call("SADD", "s", "a")
    call("HSET", "h", "f", "v")
    assert error(call("SRANDMEMBER", "s", "-9223372036854775807")).startswith(
        "value is out of range")
    assert error(call("HRANDFIELD", "h", "-9223372036854775807")).startswith(
        "value is out of range")
    assert call("SRANDMEMBER", "missing", "-9223372036854775807") == []


@pytest.mark.parametrize(
    ("command", "check", "expected"),
    [
        (lambda i: ["SADD", "k", f"m{i}"], ["SCARD", "k"], 40),
        (lambda i: ["HINCRBY", "k", "f", "1"], ["HGET", "k", "f"], b"40"),
        (lambda i: ["HSET", "k", f"f{i}", "v"], ["HLEN", "k"], 40),
        (lambda i: ["ZINCRBY", "k", "1", "m"], ["ZSCORE", "k", "m"], Double(40.0)),
        (lambda i: ["ZADD", "k", "1", f"m{i}"], ["ZCARD", "k"], 40),
    ],
    ids=["sadd", "hincrby", "hset", "zincrby", "zadd"],
)
def test_no_update_is_lost_when_commands_yield_mid_way(ctx, call, command, check, expected):
    """Read-modify-write of a whole value under the dispatcher's key lock: 40 concurrent
    updates from two clients, each yielding between its read and its write, all count."""
    store = ctx.keyspace.store
    original = store.write

    def yielding_write(*args):
        gevent.idle()  # another greenlet runs here, as during a cluster round trip
        return original(*args)

    store.write = yielding_write
    try:
        other = call.other()
        workers = [gevent.spawn(c, *command(2 * i + n)) for i in range(20)
                   for n, c in enumerate((call, other))]
        gevent.joinall(workers, timeout=30, raise_error=True)
    finally:
        store.write = original
    assert call(*check) == expected
