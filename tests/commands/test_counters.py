"""The INCR family on PN-counters: replies as Redis gives them, the counter read as an integer
string by every string command, and concurrent increments on two sides of a partition adding
up when the siblings merge (Keyspace.resolve)."""

from __future__ import annotations

import pytest

from respdyn.errors import ReplyError, WrongType
from respdyn.keyspace.crdt import counter as pn
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import OK, Status


def kind_of(call, key: str) -> int:
    return call.ctx.keyspace.lookup(0, key.encode()).kind


def test_incr_family_replies(call):
    assert call("INCR", "c") == 1
    assert call("INCRBY", "c", "10") == 11
    assert call("DECR", "c") == 10
    assert call("DECRBY", "c", "-5") == 15
    assert call("GET", "c") == b"15"
    assert kind_of(call, "c") == Kind.COUNTER
    assert call("TYPE", "c") == Status("string")


@pytest.mark.parametrize(
    ("setup", "command", "error"),
    [
        ("abc", ["INCR", "c"], "value is not an integer or out of range"),
        ("1.5", ["INCR", "c"], "value is not an integer or out of range"),
        (None, ["INCRBY", "c", "x"], "value is not an integer or out of range"),
        ("9223372036854775807", ["INCR", "c"], "increment or decrement would overflow"),
        ("-9223372036854775808", ["DECR", "c"], "increment or decrement would overflow"),
        (None, ["DECRBY", "c", "-9223372036854775808"], "decrement would overflow"),
    ],
)
def test_incr_errors(call, setup, command, error):
    if setup is not None:
        call("SET", "c", setup)
    reply = call(*command)
    assert isinstance(reply, ReplyError) and reply.message == error


def test_incr_on_other_types_is_wrongtype(call):
    call("SADD", "s", "m")
    assert isinstance(call("INCR", "s"), WrongType)
    call("INCR", "c")
    assert isinstance(call("SADD", "c", "m"), WrongType)
    assert isinstance(call("HGET", "c", "f"), WrongType)


def test_overflow_check_sees_the_counter_value(call):
    call("SET", "c", "9223372036854775806")
    assert call("INCR", "c") == 9223372036854775807
    assert isinstance(call("INCR", "c"), ReplyError)
    assert call("GET", "c") == b"9223372036854775807"


def test_conversion_keeps_the_ttl_and_the_value(call):
    call("SET", "c", "41", "EX", "100")
    assert call("INCR", "c") == 42
    assert 0 < call("TTL", "c") <= 100
    assert kind_of(call, "c") == Kind.COUNTER


@pytest.mark.parametrize(
    ("command", "expected", "kind_after"),
    [
        (["GET", "c"], b"42", Kind.COUNTER),
        (["STRLEN", "c"], 2, Kind.COUNTER),
        (["GETRANGE", "c", "1", "1"], b"2", Kind.COUNTER),
        (["MGET", "c"], [b"42"], Kind.COUNTER),
        (["APPEND", "c", "x"], 3, Kind.STRING),
        (["SETRANGE", "c", "0", "5"], 2, Kind.STRING),
        (["INCRBYFLOAT", "c", "0.5"], b"42.5", Kind.STRING),
        (["SET", "c", "v"], OK, Kind.STRING),
        (["GETSET", "c", "v"], b"42", Kind.STRING),
        (["SET", "c", "v", "GET"], b"42", Kind.STRING),
        (["GETEX", "c", "EX", "100"], b"42", Kind.COUNTER),
    ],
)
def test_string_commands_read_a_counter_as_its_text(call, command, expected, kind_after):
    call("INCRBY", "c", "42")
    assert call(*command) == expected
    assert kind_of(call, "c") == kind_after


def test_getdel_and_lcs_on_a_counter(call):
    call("INCRBY", "c", "123")
    call("SET", "s", "x1y2")
    assert call("LCS", "c", "s") == b"12"
    assert call("GETDEL", "c") == b"123"
    assert call("EXISTS", "c") == 0


def test_counter_payload_records_this_nodes_contribution(call):
    call("INCRBY", "c", "5")
    call("DECRBY", "c", "2")
    state = pn.decode(call.ctx.keyspace.lookup(0, b"c").payload)
    node = call.ctx.keyspace.node_id
    assert state.entries == {node: (5, 2)}
    assert state.value() == 3


# --- merges --------------------------------------------------------------------------------


def test_concurrent_incrs_on_a_missing_key_sum(sides):
    sides.a("INCR", "c")
    sides.b("INCR", "c")
    sides.heal("c")
    assert sides.both("GET", "c") == (b"2", b"2")
    assert sides.a("INCR", "c") == 3  # the next write continues from the merged value


def test_concurrent_incrs_on_a_replicated_string_sum(sides):
    sides.a("SET", "c", "10")
    sides.sync("c")
    assert sides.a("INCRBY", "c", "5") == 15
    assert sides.b("DECR", "c") == 9
    sides.heal("c")
    assert sides.both("GET", "c") == (b"14", b"14")


def test_concurrent_increments_after_a_common_history(sides):
    sides.a("INCRBY", "c", "100")
    sides.sync("c")
    for _ in range(3):
        sides.a("INCR", "c")
    sides.b("INCRBY", "c", "-50")
    sides.heal("c")
    assert sides.both("GET", "c") == (b"53", b"53")


def test_a_later_set_then_incr_replaces_the_old_counter(sides):
    sides.a("INCRBY", "c", "7")
    sides.sync("c")
    sides.b("SET", "c", "100")
    sides.b("INCR", "c")
    sides.a("INCR", "c")
    sides.heal("c")
    # two incarnations: the converted string's (newer tag) wins whole
    assert sides.both("GET", "c") == (b"101", b"101")


def test_concurrent_expire_merges_persist_wins(sides):
    sides.a("INCR", "c")
    sides.sync("c")
    sides.a("EXPIRE", "c", "100")
    sides.b("INCR", "c")
    sides.heal("c")
    assert sides.both("TTL", "c") == (-1, -1)
    assert sides.a("GET", "c") == b"2"


def test_object_encoding_and_refcount_of_a_counter(call):
    call("INCRBY", "c", "5")
    assert call("OBJECT", "ENCODING", "c") == b"int"
    assert call("OBJECT", "REFCOUNT", "c") == 2147483647  # shared integer, as Redis
    call("INCRBY", "big", "123456789012")
    assert call("OBJECT", "ENCODING", "big") == b"int"
    assert call("OBJECT", "REFCOUNT", "big") == 1


@pytest.mark.parametrize("node", [b"", b"local", b"n" * 200])
@pytest.mark.parametrize(
    ("p", "n"), [(0, 0), (1, 0), (0, 1), (127, 128), (2**14, 3), (2**63 - 1, 2**63), (5, 2**70)]
)
def test_own_counter_fast_path_is_counter_py_byte_for_byte(node, p, n):
    from respdyn.commands import strings

    prefix = strings._own_prefix(node)
    data = pn.encode(pn.add(pn.add(pn.fresh(), node, p), node, -n) if n else pn.add(
        pn.fresh(), node, p))
    assert strings.encode_own_counter(prefix, p, n) == data
    assert strings.own_counter(data, prefix) == (p, n)
    assert pn.decode(strings.encode_own_counter(prefix, p, n)).entries == {node: (p, n)}


def test_own_counter_fast_path_leaves_other_counters_to_counter_py():
    from respdyn.commands import strings

    prefix = strings._own_prefix(b"me")
    two = pn.encode(pn.add(pn.add(pn.fresh(), b"me", 1), b"other", 1))
    converted = pn.encode(pn.add(pn.from_int(5, 123, b"x"), b"me", 1))
    someone_else = pn.encode(pn.add(pn.fresh(), b"mf", 1))
    truncated = (prefix, prefix + b"\x81", prefix + b"\x01\x00\x00")
    for payload in (two, converted, someone_else, *truncated):
        assert strings.own_counter(payload, prefix) is None


def test_incr_on_converted_and_merged_counters_still_adds_up(call):
    call("SET", "c", "41")
    assert call("INCR", "c") == 42  # converted from a string: counter.py's path
    assert call("INCRBY", "c", "-50") == -8
    assert call("INCR", "fresh") == 1  # the fast path from here on
    assert call("DECRBY", "fresh", "3") == -2
    assert call("INCRBY", "fresh", "9223372036854775807") == 9223372036854775805
    reply = call("INCRBY", "fresh", "3")
    assert isinstance(reply, ReplyError)
    assert reply.message == "increment or decrement would overflow"
    assert call("GET", "fresh") == b"9223372036854775805"
