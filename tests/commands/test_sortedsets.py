"""Sorted-set commands through the dispatcher (replies and error texts as redis-server 7.0 gives
them; RESP3 pairs), ZSCAN, and the per-member merge of concurrent siblings."""

from __future__ import annotations

import pytest

from respdyn.errors import ReplyError, WrongType
from respdyn.protocol.reply import Double


def error(reply) -> str:
    assert isinstance(reply, ReplyError), reply
    return reply.message


def D(x: float) -> Double:
    return Double(x)


@pytest.fixture
def z(call):
    call("ZADD", "z", "1", "a", "2", "b", "2", "bb", "3", "c", "4", "d")
    return call


# --- ZADD and friends ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "reply", "scores_after"),
    [
        (["ZADD", "z", "5", "a", "9", "e"], 1, {b"a": 5.0, b"e": 9.0}),
        (["ZADD", "z", "CH", "5", "a", "1", "b", "9", "e"], 3, {b"a": 5.0, b"b": 1.0}),
        (["ZADD", "z", "NX", "5", "a", "9", "e"], 1, {b"a": 1.0, b"e": 9.0}),
        (["ZADD", "z", "XX", "5", "a", "9", "e"], 0, {b"a": 5.0, b"e": None}),
        (["ZADD", "z", "XX", "CH", "5", "a"], 1, {b"a": 5.0}),
        (["ZADD", "z", "GT", "CH", "0", "a", "7", "b"], 1, {b"a": 1.0, b"b": 7.0}),
        (["ZADD", "z", "LT", "CH", "0", "a", "7", "b"], 1, {b"a": 0.0, b"b": 2.0}),
        (["ZADD", "z", "INCR", "2", "a"], D(3.0), {b"a": 3.0}),
        (["ZADD", "z", "NX", "INCR", "2", "a"], None, {b"a": 1.0}),
        (["ZADD", "z", "XX", "INCR", "2", "new"], None, {b"new": None}),
        (["ZADD", "z", "GT", "INCR", "-1", "a"], None, {b"a": 1.0}),
        (["ZINCRBY", "z", "1.5", "a"], D(2.5), {b"a": 2.5}),
        (["ZINCRBY", "z", "1.5", "new"], D(1.5), {b"new": 1.5}),
        (["ZADD", "z", "-inf", "a", "+inf", "b"], 0, {b"a": float("-inf"), b"b": float("inf")}),
    ],
)
def test_zadd_options(z, command, reply, scores_after):
    assert z(*command) == reply
    for member, score in scores_after.items():
        assert z("ZSCORE", "z", member) == (None if score is None else D(score))


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["ZADD", "z", "XX", "NX", "1", "a"],
         "XX and NX options at the same time are not compatible"),
        (["ZADD", "z", "GT", "LT", "1", "a"],
         "GT, LT, and/or NX options at the same time are not compatible"),
        (["ZADD", "z", "NX", "GT", "1", "a"],
         "GT, LT, and/or NX options at the same time are not compatible"),
        (["ZADD", "z", "INCR", "1", "a", "2", "b"],
         "INCR option supports a single increment-element pair"),
        (["ZADD", "z", "1", "a", "2"], "syntax error"),
        (["ZADD", "z", "FOO", "1", "a"], "syntax error"),
        (["ZADD", "z", "x", "a"], "value is not a valid float"),
        (["ZADD", "z", "nan", "a"], "value is not a valid float"),
        (["ZINCRBY", "z", "x", "a"], "value is not a valid float"),
        (["ZADD", "z", "CH"], "wrong number of arguments for 'zadd' command"),
    ],
)
def test_zadd_errors_change_nothing(z, command, message):
    assert error(z(*command)) == message
    assert z("ZSCORE", "z", "a") == D(1.0)


def test_nan_result_is_refused(call):
    call("ZADD", "z", "inf", "a")
    assert error(call("ZINCRBY", "z", "-inf", "a")) == "resulting score is not a number (NaN)"
    assert call("ZSCORE", "z", "a") == D(float("inf"))


def test_zrem_zscore_zmscore_zcard_zcount_zrank(z):
    assert z("ZREM", "z", "a", "zz", "a") == 1
    assert z("ZREM", "missing", "a") == 0
    assert z("ZSCORE", "z", "b") == D(2.0)
    assert z("ZMSCORE", "z", "b", "a", "c") == [D(2.0), None, D(3.0)]
    assert z("ZMSCORE", "missing", "a") == [None]
    assert z("ZCARD", "z") == 4
    assert z("ZCOUNT", "z", "-inf", "+inf") == 4
    assert z("ZCOUNT", "z", "(2", "3") == 1
    assert error(z("ZCOUNT", "z", "x", "1")) == "min or max is not a float"
    assert z("ZRANK", "z", "bb") == 1
    assert z("ZREVRANK", "z", "bb") == 2
    assert z("ZRANK", "z", "zz") is None
    assert z("ZREM", "z", "b", "bb", "c", "d") == 4
    assert z("EXISTS", "z") == 0


# --- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["0", "-1"], [b"a", b"b", b"bb", b"c", b"d"]),
        (["1", "2"], [b"b", b"bb"]),
        (["-2", "-1"], [b"c", b"d"]),
        (["3", "1"], []),
        (["-100", "0"], [b"a"]),
        (["0", "1", "REV"], [b"d", b"c"]),
        (["(1", "3", "BYSCORE"], [b"b", b"bb", b"c"]),
        (["-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"], [b"b", b"bb"]),
        (["+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "2"], [b"d", b"c"]),
        (["3", "1", "BYSCORE", "REV", "LIMIT", "-1", "2"], []),
        (["1", "3", "BYSCORE", "LIMIT", "1", "-1"], [b"b", b"bb", b"c"]),
        (["0", "-1", "LIMIT", "0", "-1"], [b"a", b"b", b"bb", b"c", b"d"]),
    ],
)
def test_zrange(z, args, expected):
    assert z("ZRANGE", "z", *args) == expected


def test_zrange_withscores_resp2_flat_resp3_pairs(z):
    assert z("ZRANGE", "z", "0", "1", "WITHSCORES") == [b"a", D(1.0), b"b", D(2.0)]
    z.session.protocol = 3
    assert z("ZRANGE", "z", "0", "1", "WITHSCORES") == [[b"a", D(1.0)], [b"b", D(2.0)]]
    assert z("ZPOPMIN", "z") == [b"a", D(1.0)]  # no count: flat in both
    assert z("ZPOPMIN", "z", "1") == [[b"b", D(2.0)]]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"],
         "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"),
        (["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
         "syntax error, WITHSCORES not supported in combination with BYLEX"),
        (["ZRANGE", "z", "a", "b", "BYLEX"], "min or max not valid string range item"),
        (["ZRANGE", "z", "x", "y", "BYSCORE"], "min or max is not a float"),
        (["ZRANGE", "z", "x", "y"], "value is not an integer or out of range"),
        (["ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"], "syntax error"),
        (["ZRANGE", "z", "0", "-1", "REV", "REV"], "syntax error"),
        (["ZRANGEBYSCORE", "z", "0", "10", "REV"], "syntax error"),
        (["ZREVRANGE", "z", "0", "-1", "BYSCORE"], "syntax error"),
        (["ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"], "syntax error"),
    ],
)
def test_zrange_errors(z, command, message):
    assert error(z(*command)) == message


def test_bylex(call):
    call("ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d")
    assert call("ZRANGE", "z", "[b", "(d", "BYLEX") == [b"b", b"c"]
    assert call("ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", "1", "2") == [b"c", b"b"]
    assert call("ZRANGE", "z", "+", "-", "BYLEX") == []


def test_zrangebyscore_and_zrevrange(z):
    assert z("ZRANGEBYSCORE", "z", "2", "3", "WITHSCORES") == [
        b"b", D(2.0), b"bb", D(2.0), b"c", D(3.0)]
    assert z("ZRANGEBYSCORE", "z", "-inf", "(3", "LIMIT", "1", "1") == [b"b"]
    assert z("ZREVRANGE", "z", "0", "1", "WITHSCORES") == [b"d", D(4.0), b"c", D(3.0)]


def test_zrangestore(z):
    assert z("ZRANGESTORE", "d", "z", "(1", "3", "BYSCORE") == 3
    assert z("ZRANGE", "d", "0", "-1", "WITHSCORES") == [b"b", D(2.0), b"bb", D(2.0), b"c", D(3.0)]
    assert z("ZRANGESTORE", "d", "z", "10", "20") == 0
    assert z("EXISTS", "d") == 0
    z("SET", "str", "v")
    assert z("ZRANGESTORE", "str", "z", "0", "0") == 1
    assert z("TYPE", "str").text == "zset"


# --- pops, union, intersection ---------------------------------------------------------------


def test_zpopmin_zpopmax(z):
    assert z("ZPOPMIN", "z") == [b"a", D(1.0)]
    assert z("ZPOPMAX", "z", "2") == [b"d", D(4.0), b"c", D(3.0)]
    assert z("ZPOPMIN", "z", "0") == []
    assert z("ZPOPMIN", "z", "10") == [b"b", D(2.0), b"bb", D(2.0)]
    assert z("EXISTS", "z") == 0
    assert z("ZPOPMIN", "z") == []
    assert error(z("ZPOPMIN", "z", "-1")) == "value is out of range, must be positive"
    assert error(z("ZPOPMAX", "z", "1", "2")) == "syntax error"


def test_zunionstore_zinterstore(call):
    call("ZADD", "z", "1", "a", "2", "b", "3", "c")
    call("SADD", "s", "a", "b", "x")
    call("ZADD", "y", "10", "b", "20", "c")
    assert call("ZUNIONSTORE", "d", "2", "z", "y") == 3
    assert call("ZRANGE", "d", "0", "-1", "WITHSCORES") == [b"a", D(1), b"b", D(12), b"c", D(23)]
    assert call("ZUNIONSTORE", "d", "2", "z", "s", "WEIGHTS", "2", "3", "AGGREGATE", "MAX") == 4
    assert call("ZSCORE", "d", "x") == D(3.0)
    assert call("ZINTERSTORE", "d", "3", "z", "s", "y", "AGGREGATE", "min") == 1
    assert call("ZRANGE", "d", "0", "-1", "WITHSCORES") == [b"b", D(1.0)]
    assert call("ZINTERSTORE", "d", "2", "z", "missing") == 0
    assert call("EXISTS", "d") == 0
    call("ZADD", "i", "inf", "a")
    call("ZADD", "j", "-inf", "a")
    call("ZUNIONSTORE", "d", "2", "i", "j")
    assert call("ZSCORE", "d", "a") == D(0.0)  # inf + -inf is NaN: Redis stores 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0", "z"], "at least 1 input key is needed for 'zunionstore' command"),
        (["x", "z"], "value is not an integer or out of range"),
        (["2", "z"], "syntax error"),
        (["1", "z", "WEIGHTS", "x"], "weight value is not a float"),
        (["1", "z", "WEIGHTS", "1", "2"], "syntax error"),
        (["1", "z", "AGGREGATE", "foo"], "syntax error"),
        (["1", "z", "WITHSCORES"], "syntax error"),
    ],
)
def test_zunionstore_errors(call, args, message):
    call("ZADD", "z", "1", "a")
    assert error(call("ZUNIONSTORE", "d", *args)) == message


def test_wrongtype(call):
    call("SET", "str", "v")
    call("ZADD", "z", "1", "a")
    for command in (["ZADD", "str", "1", "m"], ["ZSCORE", "str", "m"], ["ZRANGE", "str", "0", "1"],
                    ["ZCARD", "str"], ["ZPOPMIN", "str"], ["ZSCAN", "str", "0"],
                    ["ZUNIONSTORE", "d", "2", "z", "str"], ["ZRANGESTORE", "d", "str", "0", "1"]):
        assert isinstance(call(*command), WrongType), command


def test_zscan(call):
    call("ZADD", "z", "1", "a", "2.5", "b", "0.1", "c")
    assert call("ZSCAN", "z", "0") == [
        b"0", [b"c", b"0.10000000000000001", b"a", b"1", b"b", b"2.5"]]
    assert call("ZSCAN", "z", "0", "MATCH", "a") == [b"0", [b"a", b"1"]]
    members = [b"m%d" % i for i in range(400)]
    call("ZADD", "big", *[x for i, m in enumerate(members) for x in (str(i), m)])
    cursor, seen = b"0", []
    while True:
        cursor, batch = call("ZSCAN", "big", cursor, "COUNT", "30")
        seen += batch[::2]
        if cursor == b"0":
            break
    assert sorted(seen) == sorted(members)


# --- merges --------------------------------------------------------------------------------


def test_concurrent_zadd_of_different_members_keeps_both(sides):
    sides.a("ZADD", "z", "1", "common")
    sides.sync("z")
    sides.a("ZADD", "z", "2", "left")
    sides.b("ZADD", "z", "3", "right")
    sides.heal("z")
    assert sides.a("ZRANGE", "z", "0", "-1") == [b"common", b"left", b"right"]


def test_concurrent_zadd_and_zrem_keep_the_member(sides):
    sides.a("ZADD", "z", "1", "m", "2", "n")
    sides.sync("z")
    sides.a("ZADD", "z", "5", "m")
    sides.b("ZREM", "z", "m")
    sides.heal("z")
    assert sides.b("ZSCORE", "z", "m") == D(5.0)


def test_concurrent_scores_of_one_member_newest_wins(sides):
    sides.a.ctx.keyspace.clock = lambda: 1_000
    sides.a("ZADD", "z", "1", "m")
    sides.sync("z")
    sides.a.ctx.keyspace.clock = lambda: 3_000
    sides.b.ctx.keyspace.clock = lambda: 2_000
    sides.a("ZINCRBY", "z", "10", "m")  # 11, newer
    sides.b("ZINCRBY", "z", "100", "m")  # 101, older: lost (a score is a register)
    sides.heal("z")
    assert sides.both("ZSCORE", "z", "m") == (D(11.0), D(11.0))
    assert sides.a("ZRANK", "z", "m") == 0
