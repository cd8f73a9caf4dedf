"""Hash commands through the dispatcher (replies and error texts as redis-server 7.0 gives
them), HSCAN over big hashes, and the per-field merge of concurrent siblings."""

from __future__ import annotations

import pytest

from respdyn.errors import ReplyError, WrongType
from respdyn.protocol.reply import OK, Map


def error(reply) -> str:
    assert isinstance(reply, ReplyError), reply
    return reply.message


def as_dict(reply) -> dict[bytes, bytes]:
    assert isinstance(reply, Map)
    return dict(reply.items())


# --- commands ------------------------------------------------------------------------------


def test_hset_hget_family(call):
    assert call("HSET", "h", "a", "1", "b", "2") == 2
    assert call("HSET", "h", "a", "x", "c", "3") == 1
    assert call("HGET", "h", "a") == b"x"
    assert call("HGET", "h", "zz") is None
    assert call("HGET", "missing", "a") is None
    assert call("HMGET", "h", "a", "zz", "c") == [b"x", None, b"3"]
    assert call("HMSET", "h", "d", "4") == OK
    assert call("HSETNX", "h", "a", "y") == 0
    assert call("HSETNX", "h", "n", "y") == 1
    assert as_dict(call("HGETALL", "h")) == {
        b"a": b"x", b"b": b"2", b"c": b"3", b"d": b"4", b"n": b"y"}
    assert call("HKEYS", "h") == [b"a", b"b", b"c", b"d", b"n"]
    assert call("HVALS", "h") == [b"x", b"2", b"3", b"4", b"y"]
    assert call("HLEN", "h") == 5
    assert call("HEXISTS", "h", "a") == 1
    assert call("HEXISTS", "h", "q") == 0
    assert call("HSTRLEN", "h", "a") == 1
    assert call("HSTRLEN", "h", "q") == 0
    assert call("HGETALL", "missing") == Map([])
    assert call("HLEN", "missing") == 0


@pytest.mark.parametrize("command", ["HSET", "HMSET"])
def test_odd_pairs_are_an_arity_error(call, command):
    assert error(call(command, "h", "a", "1", "b")) == (
        f"wrong number of arguments for '{command.lower()}' command")


def test_hdel_deletes_the_key_when_empty(call):
    call("HSET", "h", "a", "1", "b", "2")
    assert call("HDEL", "h", "a", "a", "zz") == 1
    assert call("HDEL", "missing", "a") == 0
    assert call("HDEL", "h", "b") == 1
    assert call("EXISTS", "h") == 0


def test_hincrby(call):
    assert call("HINCRBY", "h", "n", "5") == 5
    assert call("HINCRBY", "h", "n", "-7") == -2
    assert call("HGET", "h", "n") == b"-2"
    assert call("HSTRLEN", "h", "n") == 2
    call("HSET", "h", "s", "abc", "f", "1.5", "big", "9223372036854775807", "i", "10")
    assert call("HINCRBY", "h", "i", "1") == 11  # a register holding an integer converts
    assert error(call("HINCRBY", "h", "s", "1")) == "hash value is not an integer"
    assert error(call("HINCRBY", "h", "f", "1")) == "hash value is not an integer"
    assert error(call("HINCRBY", "h", "n", "x")) == "value is not an integer or out of range"
    assert error(call("HINCRBY", "h", "big", "1")) == "increment or decrement would overflow"
    call("HSET", "h", "i", "100")  # a register replaces the counter
    assert call("HINCRBY", "h", "i", "1") == 101


def test_hincrbyfloat(call):
    assert call("HINCRBYFLOAT", "h", "f", "10.5") == b"10.5"
    assert call("HINCRBYFLOAT", "h", "f", "0.1") == b"10.6"
    call("HSET", "h", "s", "abc")
    assert error(call("HINCRBYFLOAT", "h", "s", "1")) == "hash value is not a float"
    assert error(call("HINCRBYFLOAT", "h", "f", "x")) == "value is not a valid float"
    assert error(call("HINCRBYFLOAT", "h", "f", "inf")) == "value is NaN or Infinity"
    call("HINCRBY", "h", "c", "3")
    assert call("HINCRBYFLOAT", "h", "c", "0.5") == b"3.5"  # the counter becomes a register


def test_hrandfield(call):
    call("HSET", "h", "a", "1", "b", "2", "c", "3")
    assert call("HRANDFIELD", "h") in (b"a", b"b", b"c")
    assert sorted(call("HRANDFIELD", "h", "10")) == [b"a", b"b", b"c"]
    flat = call("HRANDFIELD", "h", "-4", "WITHVALUES")
    assert len(flat) == 8 and all(dict(a=b"1", b=b"2", c=b"3")[f.decode()] == v
                                  for f, v in zip(flat[::2], flat[1::2], strict=True))
    call.session.protocol = 3
    pairs = call("HRANDFIELD", "h", "2", "WITHVALUES")
    assert len(pairs) == 2 and all(len(p) == 2 for p in pairs)
    assert call("HRANDFIELD", "missing") is None
    assert call("HRANDFIELD", "missing", "2") == []
    assert error(call("HRANDFIELD", "h", "1", "WITHVALUE")) == "syntax error"
    assert error(call("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES")) == (
        "value is out of range")


def test_hscan(call):
    call("HSET", "h", "a", "1", "b", "2")
    assert call("HSCAN", "h", "0") == [b"0", [b"a", b"1", b"b", b"2"]]
    assert call("HSCAN", "h", "0", "MATCH", "b") == [b"0", [b"b", b"2"]]
    assert error(call("HSCAN", "h", "0", "NOVALUES")) == "syntax error"
    names = [b"f%d" % i for i in range(300)]
    call("HSET", "big", *[x for n in names for x in (n, n + b"!")])
    cursor, seen = b"0", {}
    while True:
        cursor, batch = call("HSCAN", "big", cursor, "COUNT", "25")
        seen.update(zip(batch[::2], batch[1::2], strict=True))
        if cursor == b"0":
            break
    assert seen == {n: n + b"!" for n in names}


def test_wrongtype(call):
    call("SET", "str", "v")
    for command in (["HSET", "str", "f", "v"], ["HGET", "str", "f"], ["HGETALL", "str"],
                    ["HDEL", "str", "f"], ["HINCRBY", "str", "f", "1"], ["HLEN", "str"],
                    ["HSCAN", "str", "0"], ["HRANDFIELD", "str"]):
        assert isinstance(call(*command), WrongType), command
    call("HSET", "h", "f", "v")
    assert isinstance(call("GET", "h"), WrongType)
    assert call("TYPE", "h").text == "hash"


# --- merges --------------------------------------------------------------------------------


def test_concurrent_hset_of_different_fields_keeps_both(sides):
    sides.a("HSET", "h", "common", "1")
    sides.sync("h")
    sides.a("HSET", "h", "left", "L")
    sides.b("HSET", "h", "right", "R")
    sides.heal("h")
    for side in (sides.a, sides.b):
        assert as_dict(side("HGETALL", "h")) == {b"common": b"1", b"left": b"L", b"right": b"R"}


@pytest.mark.parametrize(
    ("t_a", "t_b", "winner"),
    [(5_000, 4_000, b"from-a"), (4_000, 5_000, b"from-b"), (5_000, 5_000, b"from-b")],
    ids=["a-newer", "b-newer", "tie-greater-node-id"],
)
def test_concurrent_hset_of_one_field_has_a_deterministic_winner(sides, t_a, t_b, winner):
    sides.a.ctx.keyspace.clock = lambda: 1_000
    sides.a("HSET", "h", "f", "old", "other", "x")
    sides.sync("h")
    sides.a.ctx.keyspace.clock = lambda: t_a
    sides.b.ctx.keyspace.clock = lambda: t_b
    sides.a("HSET", "h", "f", "from-a")
    sides.b("HSET", "h", "f", "from-b")
    sides.heal("h")
    assert sides.both("HGET", "h", "f") == (winner, winner)
    assert sides.a("HGET", "h", "other") == b"x"


def test_concurrent_hincrby_of_one_field_adds_up(sides):
    sides.a("HSET", "h", "n", "10")
    sides.sync("h")
    assert sides.a("HINCRBY", "h", "n", "1") == 11
    assert sides.b("HINCRBY", "h", "n", "1") == 11
    sides.heal("h")
    assert sides.both("HGET", "h", "n") == (b"12", b"12")
    assert sides.b("HINCRBY", "h", "n", "3") == 15


def test_concurrent_hdel_and_hset_keep_the_field(sides):
    sides.a("HSET", "h", "f", "v", "g", "w")
    sides.sync("h")
    sides.a("HDEL", "h", "f")
    sides.b("HSET", "h", "f", "new")
    sides.heal("h")
    assert sides.a("HGET", "h", "f") == b"new"


def test_a_field_deleted_on_one_side_and_untouched_on_the_other_is_gone(sides):
    sides.a("HSET", "h", "f", "v", "g", "w")
    sides.sync("h")
    sides.a("HDEL", "h", "f")
    sides.b("HSET", "h", "x", "y")
    sides.heal("h")
    assert as_dict(sides.a("HGETALL", "h")) == {b"g": b"w", b"x": b"y"}
