"""String commands through the dispatcher: every option and error text as redis-server 7.0
answers them (expected values below were read from a real 7.0 server)."""

from __future__ import annotations

import pytest

from respdyn.commands import args, strings
from respdyn.commands.context import Context
from respdyn.errors import ReplyError
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import OK, Map, Status

# --- INCRBYFLOAT's long double arithmetic (respdyn.commands.args) ---------------------------

# (stored value, increment, Redis 7.0's result) — checked with redis-server 7.0 on x86-64
LONG_DOUBLE_SUMS = [
    (b"0.1", b"0.2", b"0.3"),  # a double would say 0.30000000000000004
    (b"10.50", b"0.1", b"10.6"),
    (b"10.6", b"-5", b"5.6"),
    (b"5.0e3", b"2.0e2", b"5200"),
    (b"1", b"-1", b"0"),
    (b"-0.1", b"0.1", b"0"),
    (b"-0", b"-0", b"0"),
    (b"3", b"1.1e-20", b"3"),
    (b".5", b"5.", b"5.5"),
    (b"0", b"1e-300", b"0"),
    (
        b"1e300",
        b"1e300",
        b'200000000000000000001799464815911838774104788854658149587652016464253129319236187151'
        b'169830416750099438070074501722854967180718511236934596782619252104149729257465427128'
        b'368730658816851021521203357945330586474006110276589524198908058954556377924121235853'
        b'5223254194821301134374772211380178849830208012288',
    ),
]


@pytest.mark.parametrize(("value", "incr", "expected"), LONG_DOUBLE_SUMS)
def test_add_long_double(value: bytes, incr: bytes, expected: bytes) -> None:
    assert args.add_long_double(value, incr) == expected


@pytest.mark.parametrize(
    ("value", "incr", "error"),
    [
        (b"abc", b"1", "value is not a valid float"),
        (b"1", b"abc", "value is not a valid float"),
        (b" 1", b"1", "value is not a valid float"),
        (b"1", b"nan", "value is not a valid float"),
        (b"1e5000", b"0", "value is not a valid float"),  # strtold overflow
        (b"1e-5000", b"1", "value is not a valid float"),  # strtold underflow to zero
        (b"1", b"inf", "increment would produce NaN or Infinity"),
        (b"-inf", b"1", "increment would produce NaN or Infinity"),
        (b"1e4932", b"1e4932", "increment would produce NaN or Infinity"),
    ],
)
def test_add_long_double_errors(value: bytes, incr: bytes, error: str) -> None:
    with pytest.raises(ReplyError) as exc:
        args.add_long_double(value, incr)
    assert exc.value.message == error


# --- helpers ---------------------------------------------------------------------------------

NOW = 1_700_000_000_000  #: the fake clock's start, unix ms




def err(reply: object) -> str:
    """The error line a client would see (without the leading '-')."""
    assert isinstance(reply, ReplyError), f"expected an error, got {reply!r}"
    return reply.resp_text()


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INT = "ERR value is not an integer or out of range"


def make_hash(ctx: Context, key: bytes = b"h") -> None:
    ctx.keyspace.put(0, key, Kind.HASH, b"not a string")


# --- command declarations --------------------------------------------------------------------

# name -> (arity, flags, first key, last key, step) as redis-server 7.0's COMMAND INFO reports
REDIS_COMMAND_INFO = {
    "get": (2, {"readonly", "fast"}, 1, 1, 1),
    "set": (-3, {"write", "denyoom"}, 1, 1, 1),
    "setnx": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "setex": (4, {"write", "denyoom"}, 1, 1, 1),
    "psetex": (4, {"write", "denyoom"}, 1, 1, 1),
    "getset": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "getdel": (2, {"write", "fast"}, 1, 1, 1),
    "getex": (-2, {"write", "fast"}, 1, 1, 1),
    "mget": (-2, {"readonly", "fast"}, 1, -1, 1),
    "mset": (-3, {"write", "denyoom"}, 1, -1, 2),
    "msetnx": (-3, {"write", "denyoom"}, 1, -1, 2),
    "append": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "strlen": (2, {"readonly", "fast"}, 1, 1, 1),
    "getrange": (4, {"readonly"}, 1, 1, 1),
    "substr": (4, {"readonly"}, 1, 1, 1),
    "setrange": (4, {"write", "denyoom"}, 1, 1, 1),
    "incr": (2, {"write", "denyoom", "fast"}, 1, 1, 1),
    "decr": (2, {"write", "denyoom", "fast"}, 1, 1, 1),
    "incrby": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "decrby": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "incrbyfloat": (3, {"write", "denyoom", "fast"}, 1, 1, 1),
    "lcs": (-3, {"readonly"}, 1, 2, 1),
}


def test_declarations_match_redis() -> None:
    declared = {spec.name: spec for spec in strings.table.specs}
    assert set(REDIS_COMMAND_INFO) <= set(declared)
    for name, (arity, flags, first, last, step) in REDIS_COMMAND_INFO.items():
        spec = declared[name]
        assert (spec.arity, set(spec.flags)) == (arity, flags), name
        assert (spec.keys.first, spec.keys.last, spec.keys.step) == (first, last, step), name


@pytest.mark.parametrize(
    "argv",
    [["GET"], ["GET", "a", "b"], ["SET", "k"], ["SETNX", "k"], ["SETEX", "k", "1"],
     ["GETDEL"], ["GETEX"], ["MGET"], ["MSET", "k"], ["GETRANGE", "k", "0"], ["INCR"],
     ["INCRBY", "k"], ["APPEND", "k"], ["SETRANGE", "k", "0"]],
)
def test_wrong_arity(call, argv: list[str]) -> None:
    assert err(call(*argv)) == f"ERR wrong number of arguments for '{argv[0].lower()}' command"


# --- GET / SET -------------------------------------------------------------------------------


def test_get_and_set(call) -> None:
    assert call("GET", "k") is None
    assert call("SET", "k", "v") == OK
    assert call("GET", "k") == b"v"
    assert call("SET", "k", b"\x00\xff") == OK
    assert call("GET", "k") == b"\x00\xff"


def test_get_wrong_type(ctx, call) -> None:
    make_hash(ctx)
    assert err(call("GET", "h")) == WRONGTYPE


def test_set_overwrites_other_types(ctx, call) -> None:
    make_hash(ctx)
    assert call("SET", "h", "v") == OK
    assert call("GET", "h") == b"v"


def test_databases_are_separate(call) -> None:
    call("SET", "k", "zero")
    call.session.db = 1
    assert call("GET", "k") is None
    call("SET", "k", "one")
    call.session.db = 0
    assert call("GET", "k") == b"zero"


@pytest.mark.parametrize(
    "options",
    [
        ["NX", "XX"], ["XX", "NX"], ["EX", "10", "PX", "10"], ["PX", "10", "EX", "10"],
        ["EX", "10", "EXAT", "10"], ["PXAT", "10", "EX", "10"], ["EX", "10", "KEEPTTL"],
        ["KEEPTTL", "PX", "10"], ["EX"], ["PX"], ["PERSIST"], ["FOO"], ["EX", "10", "FOO"],
        ["NX", "GET", "X"],
    ],
)
def test_set_syntax_errors(call, options: list[str]) -> None:
    call("SET", "k", "old")
    assert err(call("SET", "k", "new", *options)) == SYNTAX
    assert call("GET", "k") == b"old"


@pytest.mark.parametrize(
    "options",
    [["NX", "NX"], ["KEEPTTL", "KEEPTTL"], ["GET", "GET"], ["ex", "10", "ex", "20"],
     ["xx", "get", "keepttl"], ["nx", "get"]],
)
def test_set_repeated_or_compatible_options(call, options: list[str]) -> None:
    reply = call("SET", "k", "v", *options)
    assert not isinstance(reply, ReplyError)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["EX", "0"], "ERR invalid expire time in 'set' command"),
        (["EX", "-1"], "ERR invalid expire time in 'set' command"),
        (["PX", "0"], "ERR invalid expire time in 'set' command"),
        (["EXAT", "0"], "ERR invalid expire time in 'set' command"),
        (["PXAT", "-5"], "ERR invalid expire time in 'set' command"),
        (["EX", "9223372036854776"], "ERR invalid expire time in 'set' command"),  # *1000
        (["EX", "9223372036854775"], "ERR invalid expire time in 'set' command"),  # +now
        (["PX", "9223372036854775807"], "ERR invalid expire time in 'set' command"),
        (["EXAT", "9223372036854775807"], "ERR invalid expire time in 'set' command"),
        (["EX", "ten"], NOT_INT),
        (["EX", "1.5"], NOT_INT),
        (["PX", "9223372036854775808"], NOT_INT),
    ],
)
def test_set_invalid_expire(call, options: list[str], error: str) -> None:
    assert err(call("SET", "k", "v", *options)) == error
    assert call("GET", "k") is None


@pytest.mark.parametrize(
    ("options", "pexpiretime"),
    [
        (["EX", "10"], NOW + 10_000),
        (["PX", "1500"], NOW + 1500),
        (["EXAT", str(NOW // 1000 + 100)], NOW + 100_000),
        (["PXAT", str(NOW + 1)], NOW + 1),
        (["PXAT", "9223372036854775807"], 9223372036854775807),
        (["px", "1", "px", "20"], NOW + 20),  # the last one wins
    ],
)
def test_set_expiry(clock, call, options: list[str], pexpiretime: int) -> None:
    assert call("SET", "k", "v", *options) == OK
    assert call("PEXPIRETIME", "k") == pexpiretime
    clock.now = pexpiretime - 1
    assert call("GET", "k") == b"v"
    clock.now = pexpiretime
    assert call("GET", "k") is None


@pytest.mark.parametrize("options", [["EXAT", "1"], ["PXAT", str(NOW)]])
def test_set_with_time_in_the_past_deletes(clock, call, options: list[str]) -> None:
    call("SET", "k", "old")
    assert call("SET", "k", "v", *options, "GET") == b"old"
    assert call("EXISTS", "k") == 0


def test_set_clears_ttl_unless_keepttl(clock, call) -> None:
    call("SET", "k", "v", "EX", "100")
    assert call("SET", "k", "v2", "KEEPTTL") == OK
    assert call("PTTL", "k") == 100_000
    assert call("SET", "k", "v3") == OK
    assert call("PTTL", "k") == -1
    assert call("SET", "new", "v", "KEEPTTL") == OK
    assert call("PTTL", "new") == -1


@pytest.mark.parametrize(
    ("exists", "options", "reply", "value"),
    [
        (False, ["NX"], OK, b"new"),
        (True, ["NX"], None, b"old"),
        (False, ["XX"], None, None),
        (True, ["XX"], OK, b"new"),
        (False, ["GET"], None, b"new"),
        (True, ["GET"], b"old", b"new"),
        (True, ["NX", "GET"], b"old", b"old"),
        (False, ["NX", "GET"], None, b"new"),
        (False, ["XX", "GET"], None, None),
        (True, ["XX", "GET"], b"old", b"new"),
    ],
)
def test_set_conditions(call, exists: bool, options, reply, value) -> None:
    if exists:
        call("SET", "k", "old")
    assert call("SET", "k", "new", *options) == reply
    assert call("GET", "k") == value


def test_set_get_wrong_type_keeps_the_key(ctx, call) -> None:
    make_hash(ctx)
    assert err(call("SET", "h", "v", "GET")) == WRONGTYPE
    assert call("TYPE", "h") == Status("hash")


def test_set_nx_xx_on_other_type_counts_as_existing(ctx, call) -> None:
    make_hash(ctx)
    assert call("SET", "h", "v", "NX") is None
    assert call("SET", "h", "v", "XX") == OK
    assert call("GET", "h") == b"v"


# --- SETNX SETEX PSETEX GETSET ---------------------------------------------------------------


def test_setnx(ctx, call) -> None:
    assert call("SETNX", "k", "a") == 1
    assert call("SETNX", "k", "b") == 0
    assert call("GET", "k") == b"a"
    make_hash(ctx)
    assert call("SETNX", "h", "b") == 0


@pytest.mark.parametrize(("command", "ttl", "pttl"), [("SETEX", "10", 10_000),
                                                      ("PSETEX", "1500", 1500)])
def test_setex_psetex(clock, call, command: str, ttl: str, pttl: int) -> None:
    assert call(command, "k", ttl, "v") == OK
    assert call("GET", "k") == b"v"
    assert call("PTTL", "k") == pttl


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["SETEX", "k", "0", "v"], "ERR invalid expire time in 'setex' command"),
        (["SETEX", "k", "-1", "v"], "ERR invalid expire time in 'setex' command"),
        (["PSETEX", "k", "0", "v"], "ERR invalid expire time in 'psetex' command"),
        (["SETEX", "k", "a", "v"], NOT_INT),
        (["PSETEX", "k", " 1", "v"], NOT_INT),
    ],
)
def test_setex_errors(call, argv: list[str], error: str) -> None:
    assert err(call(*argv)) == error


def test_getset(ctx, clock, call) -> None:
    assert call("GETSET", "k", "a") is None
    call("EXPIRE", "k", "100")
    assert call("GETSET", "k", "b") == b"a"
    assert call("GET", "k") == b"b"
    assert call("TTL", "k") == -1
    make_hash(ctx)
    assert err(call("GETSET", "h", "x")) == WRONGTYPE


# --- GETDEL GETEX ----------------------------------------------------------------------------


def test_getdel(ctx, call) -> None:
    assert call("GETDEL", "k") is None
    call("SET", "k", "v")
    assert call("GETDEL", "k") == b"v"
    assert call("EXISTS", "k") == 0
    make_hash(ctx)
    assert err(call("GETDEL", "h")) == WRONGTYPE
    assert call("EXISTS", "h") == 1


@pytest.mark.parametrize(
    ("options", "pttl"),
    [
        ([], 5000),
        (["EX", "10"], 10_000),
        (["PX", "10"], 10),
        (["EXAT", str(NOW // 1000 + 20)], 20_000),
        (["PXAT", str(NOW + 7)], 7),
        (["PERSIST"], -1),
        (["persist", "PERSIST"], -1),
    ],
)
def test_getex(clock, call, options: list[str], pttl: int) -> None:
    call("SET", "k", "v", "PX", "5000")
    assert call("GETEX", "k", *options) == b"v"
    assert call("PTTL", "k") == pttl


def test_getex_persist_without_ttl(call) -> None:
    call("SET", "k", "v")
    assert call("GETEX", "k", "PERSIST") == b"v"
    assert call("PTTL", "k") == -1


def test_getex_time_in_the_past_deletes(clock, call) -> None:
    call("SET", "k", "v")
    assert call("GETEX", "k", "PXAT", str(NOW - 1)) == b"v"
    assert call("EXISTS", "k") == 0


@pytest.mark.parametrize(
    "options",
    [["NX"], ["XX"], ["GET"], ["KEEPTTL"], ["EX", "1", "PERSIST"], ["PERSIST", "EX", "1"],
     ["EX", "1", "PX", "1"], ["EX"], ["BAD"]],
)
def test_getex_syntax_errors(call, options: list[str]) -> None:
    assert err(call("GETEX", "missing", *options)) == SYNTAX


def test_getex_time_checked_only_for_an_existing_key(ctx, call) -> None:
    assert call("GETEX", "missing", "EX", "-1") is None
    assert call("GETEX", "missing", "EX", "x") is None
    call("SET", "k", "v")
    assert err(call("GETEX", "k", "EX", "-1")) == "ERR invalid expire time in 'getex' command"
    assert err(call("GETEX", "k", "EX", "x")) == NOT_INT
    make_hash(ctx)
    assert err(call("GETEX", "h", "EX", "-1")) == WRONGTYPE


# --- MGET MSET MSETNX ------------------------------------------------------------------------


def test_mget(ctx, call) -> None:
    call("SET", "a", "1")
    make_hash(ctx)
    assert call("MGET", "a", "h", "missing", "a") == [b"1", None, None, b"1"]


def test_mset(clock, call) -> None:
    call("SET", "a", "old", "EX", "10")
    assert call("MSET", "a", "1", "b", "2", "a", "3") == OK
    assert call("MGET", "a", "b") == [b"3", b"2"]
    assert call("TTL", "a") == -1
    assert err(call("MSET", "a", "1", "b")) == "ERR wrong number of arguments for 'mset' command"


def test_msetnx(ctx, call) -> None:
    assert call("MSETNX", "a", "1", "b", "2") == 1
    assert call("MSETNX", "b", "x", "c", "3") == 0
    assert call("MGET", "a", "b", "c") == [b"1", b"2", None]
    make_hash(ctx)
    assert call("MSETNX", "h", "x", "d", "4") == 0
    assert call("EXISTS", "d") == 0
    assert err(call("MSETNX", "a", "1", "b")) == (
        "ERR wrong number of arguments for 'msetnx' command"
    )


# --- APPEND STRLEN GETRANGE SETRANGE ---------------------------------------------------------


def test_append(ctx, clock, call) -> None:
    assert call("APPEND", "k", "Hello") == 5
    call("PEXPIRE", "k", "1000")
    assert call("APPEND", "k", " World") == 11
    assert call("GET", "k") == b"Hello World"
    assert call("PTTL", "k") == 1000
    make_hash(ctx)
    assert err(call("APPEND", "h", "x")) == WRONGTYPE


def test_append_beyond_proto_max_bulk_len(ctx, call) -> None:
    ctx.config.proto_max_bulk_len = 10
    call("SET", "k", "12345")
    assert call("APPEND", "k", "67890") == 10
    assert err(call("APPEND", "k", "x")) == (
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    )
    assert call("STRLEN", "k") == 10


def test_strlen(ctx, call) -> None:
    assert call("STRLEN", "k") == 0
    call("SET", "k", "Hello world")
    assert call("STRLEN", "k") == 11
    make_hash(ctx)
    assert err(call("STRLEN", "h")) == WRONGTYPE


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 3, b"This"),
        (-3, -1, b"ing"),
        (0, -1, b"This is a string"),
        (10, 100, b"string"),
        (-100, 3, b"This"),
        (-100, -100, b"T"),  # both clamp to 0
        (5, 3, b""),
        (-1, -5, b""),
        (16, 20, b""),
        (15, 15, b"g"),
        (0, -100, b"T"),  # end clamps to 0
    ],
)
@pytest.mark.parametrize("command", ["GETRANGE", "SUBSTR"])
def test_getrange(call, command: str, start: int, end: int, expected: bytes) -> None:
    call("SET", "k", "This is a string")
    assert call(command, "k", start, end) == expected


def test_getrange_missing_errors_and_types(ctx, call) -> None:
    assert call("GETRANGE", "missing", 0, -1) == b""
    call("SET", "empty", "")
    assert call("GETRANGE", "empty", 0, -1) == b""
    assert err(call("GETRANGE", "missing", "a", 1)) == NOT_INT
    make_hash(ctx)
    assert err(call("GETRANGE", "h", 0, 1)) == WRONGTYPE


@pytest.mark.parametrize(
    ("initial", "offset", "value", "reply", "result"),
    [
        (b"Hello World", 6, b"Redis", 11, b"Hello Redis"),
        (None, 6, b"Redis", 11, b"\x00" * 6 + b"Redis"),
        (b"abc", 5, b"x", 6, b"abc\x00\x00x"),
        (b"abcdef", 1, b"XY", 6, b"aXYdef"),
        (b"abc", 2, b"XYZ", 5, b"abXYZ"),
        (b"abc", 0, b"", 3, b"abc"),
        (None, 3, b"", 0, None),  # nothing written: the key is not created
    ],
)
def test_setrange(call, initial, offset: int, value: bytes, reply: int, result) -> None:
    if initial is not None:
        call("SET", "k", initial)
    assert call("SETRANGE", "k", offset, value) == reply
    assert call("GET", "k") == result


def test_setrange_errors(ctx, clock, call) -> None:
    assert err(call("SETRANGE", "k", -1, "x")) == "ERR offset is out of range"
    assert err(call("SETRANGE", "k", "x", "x")) == NOT_INT
    make_hash(ctx)
    assert err(call("SETRANGE", "h", 0, "")) == WRONGTYPE
    call("SET", "t", "abc", "PX", "500")
    assert call("SETRANGE", "t", 1, "X") == 3
    assert call("PTTL", "t") == 500


@pytest.mark.parametrize("initial", [None, b"abc"])
def test_setrange_checks_size_before_allocating(ctx, call, initial) -> None:
    """CVE-2022-35977: a huge offset is refused without building the string."""
    if initial is not None:
        call("SET", "k", initial)
    limit = ctx.config.proto_max_bulk_len  # 512 MB: allocating it would show
    assert err(call("SETRANGE", "k", limit, "x")) == (
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    )
    assert err(call("SETRANGE", "k", 9223372036854775807, "x")) == (
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    )
    ctx.config.proto_max_bulk_len = 8
    assert call("SETRANGE", "k", 7, "x") == 8
    assert err(call("SETRANGE", "k", 7, "xy")).startswith("ERR string exceeds")


# --- counters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initial", "argv", "reply"),
    [
        (None, ["INCR", "k"], 1),
        (None, ["DECR", "k"], -1),
        (b"10", ["INCR", "k"], 11),
        (b"10", ["DECR", "k"], 9),
        (b"10", ["INCRBY", "k", "5"], 15),
        (b"10", ["INCRBY", "k", "-15"], -5),
        (b"10", ["DECRBY", "k", "3"], 7),
        (b"10", ["DECRBY", "k", "-3"], 13),
        (b"-9223372036854775807", ["DECR", "k"], -9223372036854775808),
        (b"9223372036854775806", ["INCR", "k"], 9223372036854775807),
        (b"0", ["DECRBY", "k", "9223372036854775807"], -9223372036854775807),
    ],
)
def test_incr_family(call, initial, argv: list[str], reply: int) -> None:
    if initial is not None:
        call("SET", "k", initial)
    assert call(*argv) == reply
    assert call("GET", "k") == str(reply).encode()


@pytest.mark.parametrize(
    ("initial", "argv", "error"),
    [
        (b"9223372036854775807", ["INCR", "k"], "ERR increment or decrement would overflow"),
        (b"-9223372036854775808", ["DECR", "k"], "ERR increment or decrement would overflow"),
        (b"1", ["INCRBY", "k", "9223372036854775807"],
         "ERR increment or decrement would overflow"),
        (b"1", ["DECRBY", "k", "-9223372036854775808"], "ERR decrement would overflow"),
        (b"abc", ["INCR", "k"], NOT_INT),
        (b" 1", ["INCR", "k"], NOT_INT),
        (b"1.5", ["INCR", "k"], NOT_INT),
        (b"", ["INCR", "k"], NOT_INT),
        (b"99999999999999999999", ["INCR", "k"], NOT_INT),
        (b"1", ["INCRBY", "k", "x"], NOT_INT),
        (b"1", ["INCRBY", "k", "+1"], NOT_INT),
        (b"1", ["DECRBY", "k", "01"], NOT_INT),
        (b"1", ["INCRBY", "k", "9223372036854775808"], NOT_INT),
    ],
)
def test_incr_errors(call, initial: bytes, argv: list[str], error: str) -> None:
    call("SET", "k", initial)
    assert err(call(*argv)) == error
    assert call("GET", "k") == initial


def test_incr_keeps_ttl_and_checks_type(ctx, clock, call) -> None:
    call("SET", "k", "1", "PX", "700")
    assert call("INCRBY", "k", "2") == 3
    assert call("PTTL", "k") == 700
    make_hash(ctx)
    for argv in (["INCR", "h"], ["DECRBY", "h", "1"], ["INCRBYFLOAT", "h", "x"]):
        assert err(call(*argv)) == WRONGTYPE


def test_incrbyfloat(clock, call) -> None:
    assert call("INCRBYFLOAT", "k", "10.5") == b"10.5"
    call("PEXPIRE", "k", "900")
    assert call("INCRBYFLOAT", "k", "0.1") == b"10.6"
    assert call("INCRBYFLOAT", "k", "-5") == b"5.6"
    assert call("GET", "k") == b"5.6"
    assert call("PTTL", "k") == 900
    call("SET", "e", "5.0e3")
    assert call("INCRBYFLOAT", "e", "2.0e2") == b"5200"


@pytest.mark.parametrize(
    ("initial", "incr", "error"),
    [
        (b"abc", "1", "ERR value is not a valid float"),
        (b"1", "abc", "ERR value is not a valid float"),
        (b"1", "inf", "ERR increment would produce NaN or Infinity"),
    ],
)
def test_incrbyfloat_errors(call, initial: bytes, incr: str, error: str) -> None:
    call("SET", "k", initial)
    assert err(call("INCRBYFLOAT", "k", incr)) == error
    assert call("GET", "k") == initial


# --- LCS -------------------------------------------------------------------------------------


def naive_lcs_table(a: bytes, b: bytes) -> list[list[int]]:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table


@pytest.mark.parametrize(
    ("a", "b"),
    [(b"", b""), (b"abc", b""), (b"ohmytext", b"mynewtext"), (b"abcabcabc", b"cbacba"),
     (b"\x00\xff\x00", b"\xff\x00"), (bytes(range(256)), bytes(range(255, -1, -1)))],
)
def test_lcs_bit_rows_equal_the_dynamic_programming_table(a: bytes, b: bytes) -> None:
    rows = strings.lcs_rows(a, b)
    table = naive_lcs_table(a, b)
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            assert j - (rows[i] & ((1 << j) - 1)).bit_count() == table[i][j]


def test_lcs(call) -> None:
    """The example of Redis' LCS documentation."""
    call("MSET", "key1", "ohmytext", "key2", "mynewtext")
    assert call("LCS", "key1", "key2") == b"mytext"
    assert call("LCS", "key1", "key2", "LEN") == 6
    assert call("LCS", "key1", "key2", "IDX") == Map(
        [(b"matches", [[[4, 7], [5, 8]], [[2, 3], [0, 1]]]), (b"len", 6)]
    )
    assert call("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN") == Map(
        [(b"matches", [[[4, 7], [5, 8], 4]]), (b"len", 6)]
    )
    assert call("LCS", "key1", "key2", "idx", "minmatchlen", "-5") == call(
        "LCS", "key1", "key2", "IDX"
    )
    assert call("LCS", "no1", "no2") == b""
    assert call("LCS", "no1", "no2", "IDX") == Map([(b"matches", []), (b"len", 0)])


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["IDX", "LEN"], "ERR If you want both the length and indexes, please just use IDX."),
        (["FOO"], SYNTAX),
        (["MINMATCHLEN"], SYNTAX),
        (["MINMATCHLEN", "x"], NOT_INT),
    ],
)
def test_lcs_errors(call, options: list[str], error: str) -> None:
    call("SET", "a", "abc")
    assert err(call("LCS", "a", "b", *options)) == error


def test_lcs_wrong_type_reported_before_syntax(ctx, call) -> None:
    make_hash(ctx)
    text = "ERR The specified keys must contain string values"
    assert err(call("LCS", "h", "x")) == text
    assert err(call("LCS", "x", "h", "FOO")) == text


def test_lcs_refuses_huge_tables(call, monkeypatch) -> None:
    monkeypatch.setattr(strings, "LCS_MAX_CELLS", 121)
    call("MSET", "a", "x" * 10, "b", "x" * 10)
    assert call("LCS", "a", "b", "LEN") == 10  # (10 + 1) * (10 + 1) cells: allowed
    call("SET", "a", "x" * 11)  # 132 cells: refused
    assert err(call("LCS", "a", "b")) == (
        "ERR Insufficient memory, failed allocating transient memory for LCS"
    )


@pytest.mark.parametrize(
    ("start", "increment", "expected"),
    [
        (b"10", b"0x10", b"26"),  # strtold reads hexadecimal floats
        (b"0x10", b"1", b"17"),
        (b"0", b"-0x1.8p1", b"-3"),
        (b"0", b"0X1P3", b"8"),
        (b"0", b"0x.8", b"0.5"),
    ],
)
def test_incrbyfloat_reads_hex_floats_as_redis(call, start, increment, expected):
    call("SET", "f", start)
    assert call("INCRBYFLOAT", "f", increment) == expected


@pytest.mark.parametrize("increment", [b"1e999999", b"1e-999999", b"0x1p99999999", b"0x",
                                       b"0xp1", b"1e4933", b"0x1p16384", b" 0x10"])
def test_incrbyfloat_refuses_out_of_range_without_big_number_work(call, increment):
    """1e999999 once made the server build 10**999999 (a hang): refused up front now."""
    call("SET", "f", "0")
    reply = call("INCRBYFLOAT", "f", increment)
    assert isinstance(reply, ReplyError) and reply.message == "value is not a valid float"


def test_incrbyfloat_prints_the_largest_long_doubles_in_full(call):
    call("SET", "f", "0")
    reply = call("INCRBYFLOAT", "f", "1e4932")
    assert reply.startswith(b"1000") and len(reply) == 4933  # '%.17Lf' trimmed, as Redis
