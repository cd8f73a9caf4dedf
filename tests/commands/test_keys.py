"""Generic key commands through the dispatcher, with Redis 7.0's replies and error texts
(expectations read from a real redis-server 7.0); expiry runs on a fake keyspace clock."""

from __future__ import annotations

import pytest

from respdyn.commands import keys
from respdyn.commands.context import Context
from respdyn.errors import ReplyError
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import OK, Status

NOW = 1_700_000_000_000  #: the fake clock's start, unix ms
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INT = "ERR value is not an integer or out of range"




def err(reply: object) -> str:
    assert isinstance(reply, ReplyError), f"expected an error, got {reply!r}"
    return reply.resp_text()


def put(ctx: Context, key: str, kind: Kind, payload: bytes = b"x", db: int = 0) -> None:
    ctx.keyspace.put(db, key.encode(), kind, payload)


# --- declarations ----------------------------------------------------------------------------

# name -> (arity, flags, first key, last key, step) as redis-server 7.0's COMMAND INFO reports
REDIS_COMMAND_INFO = {
    "del": (-2, {"write"}, 1, -1, 1),
    "unlink": (-2, {"write", "fast"}, 1, -1, 1),
    "exists": (-2, {"readonly", "fast"}, 1, -1, 1),
    "type": (2, {"readonly", "fast"}, 1, 1, 1),
    "rename": (3, {"write"}, 1, 2, 1),
    "renamenx": (3, {"write", "fast"}, 1, 2, 1),
    "copy": (-3, {"write", "denyoom"}, 1, 2, 1),
    "expire": (-3, {"write", "fast"}, 1, 1, 1),
    "pexpire": (-3, {"write", "fast"}, 1, 1, 1),
    "expireat": (-3, {"write", "fast"}, 1, 1, 1),
    "pexpireat": (-3, {"write", "fast"}, 1, 1, 1),
    "ttl": (2, {"readonly", "fast"}, 1, 1, 1),
    "pttl": (2, {"readonly", "fast"}, 1, 1, 1),
    "expiretime": (2, {"readonly", "fast"}, 1, 1, 1),
    "pexpiretime": (2, {"readonly", "fast"}, 1, 1, 1),
    "persist": (2, {"write", "fast"}, 1, 1, 1),
    "touch": (-2, {"readonly", "fast"}, 1, -1, 1),
    "keys": (2, {"readonly"}, 0, 0, 0),
    "scan": (-2, {"readonly"}, 0, 0, 0),
    "randomkey": (1, {"readonly"}, 0, 0, 0),
    "object": (-2, set(), 0, 0, 0),
    "object|encoding": (3, {"readonly"}, 2, 2, 1),
    "object|freq": (3, {"readonly"}, 2, 2, 1),
    "object|idletime": (3, {"readonly"}, 2, 2, 1),
    "object|refcount": (3, {"readonly"}, 2, 2, 1),
    "object|help": (2, {"loading", "stale"}, 0, 0, 0),
}


def test_declarations_match_redis() -> None:
    declared = {}
    for spec in keys.table.specs:
        declared[spec.name] = spec
        for sub in spec.subcommands.values():
            declared[sub.name] = sub
    assert set(REDIS_COMMAND_INFO) == set(declared)
    for name, (arity, flags, first, last, step) in REDIS_COMMAND_INFO.items():
        spec = declared[name]
        assert (spec.arity, set(spec.flags)) == (arity, flags), name
        assert (spec.keys.first, spec.keys.last, spec.keys.step) == (first, last, step), name


@pytest.mark.parametrize(
    ("argv", "name"),
    [(["DEL"], "del"), (["EXISTS"], "exists"), (["TYPE"], "type"), (["RENAME", "a"], "rename"),
     (["COPY", "a"], "copy"), (["EXPIRE", "a"], "expire"), (["TTL"], "ttl"),
     (["KEYS"], "keys"), (["SCAN"], "scan"), (["RANDOMKEY", "x"], "randomkey"),
     (["OBJECT"], "object"), (["OBJECT", "ENCODING"], "object|encoding"),
     (["OBJECT", "HELP", "x"], "object|help")],
)
def test_wrong_arity(call, argv: list[str], name: str) -> None:
    assert err(call(*argv)) == f"ERR wrong number of arguments for '{name}' command"


def test_object_unknown_subcommand(call) -> None:
    assert err(call("OBJECT", "foo")) == "ERR unknown subcommand 'foo'. Try OBJECT HELP."


# --- DEL UNLINK EXISTS TOUCH TYPE ------------------------------------------------------------


@pytest.mark.parametrize("command", ["DEL", "UNLINK"])
def test_del(ctx, call, command: str) -> None:
    call("SET", "a", "1")
    put(ctx, "h", Kind.HASH)
    assert call(command, "a", "h", "missing", "a") == 2
    assert call("EXISTS", "a", "h") == 0
    assert call(command, "a") == 0


@pytest.mark.parametrize("command", ["EXISTS", "TOUCH"])
def test_exists_counts_duplicates(ctx, call, command: str) -> None:
    call("SET", "a", "1")
    put(ctx, "h", Kind.HASH)
    assert call(command, "a", "a", "h", "missing") == 3
    assert call(command, "missing") == 0


@pytest.mark.parametrize(
    ("kind", "name"),
    [(Kind.STRING, "string"), (Kind.HASH, "hash"), (Kind.LIST, "list"), (Kind.SET, "set"),
     (Kind.ZSET, "zset")],
)
def test_type(ctx, call, kind: Kind, name: str) -> None:
    put(ctx, "k", kind)
    assert call("TYPE", "k") == Status(name)
    assert call("TYPE", "missing") == Status("none")


def test_expired_keys_are_invisible(clock, call) -> None:
    call("SET", "k", "v", "PX", "10")
    clock.now += 10
    assert call("EXISTS", "k") == 0
    assert call("TYPE", "k") == Status("none")
    assert call("DEL", "k") == 0
    assert call("KEYS", "*") == []
    assert call("RANDOMKEY") is None
    assert call("TTL", "k") == -2


# --- RENAME RENAMENX COPY --------------------------------------------------------------------


def test_rename_moves_value_and_ttl(ctx, clock, call) -> None:
    call("SET", "a", "1", "PX", "5000")
    call("SET", "b", "old")
    assert call("RENAME", "a", "b") == OK
    assert call("MGET", "a", "b") == [None, b"1"]
    assert call("PTTL", "b") == 5000
    put(ctx, "h", Kind.HASH, b"payload")
    assert call("RENAME", "h", "c") == OK
    assert call("TYPE", "c") == Status("hash")
    assert ctx.keyspace.lookup(0, b"c").payload == b"payload"


def test_rename_clears_destination_ttl(clock, call) -> None:
    call("SET", "a", "1")
    call("SET", "b", "2", "EX", "100")
    call("RENAME", "a", "b")
    assert call("TTL", "b") == -1


@pytest.mark.parametrize(
    ("argv", "reply"),
    [(["RENAME", "a", "a"], OK), (["RENAMENX", "a", "a"], 0), (["RENAMENX", "a", "b"], 0),
     (["RENAMENX", "a", "c"], 1)],
)
def test_rename_same_key_and_nx(call, argv: list[str], reply) -> None:
    call("SET", "a", "1")
    call("SET", "b", "2")
    assert call(*argv) == reply
    assert call("GET", "b") == b"2"


@pytest.mark.parametrize("command", ["RENAME", "RENAMENX"])
@pytest.mark.parametrize("dst", ["missing", "other"])
def test_rename_missing_source(call, command: str, dst: str) -> None:
    assert err(call(command, "missing", dst)) == "ERR no such key"


def test_copy(ctx, clock, call) -> None:
    call("SET", "a", "1", "EX", "100")
    assert call("COPY", "a", "b") == 1
    assert call("MGET", "a", "b") == [b"1", b"1"]
    assert call("TTL", "b") == 100
    assert call("COPY", "a", "b") == 0
    call("SET", "a", "2")
    assert call("COPY", "a", "b", "REPLACE") == 1
    assert call("GET", "b") == b"2"
    assert call("TTL", "b") == -1
    assert call("COPY", "missing", "b", "REPLACE") == 0
    put(ctx, "h", Kind.HASH)
    assert call("COPY", "h", "h2") == 1
    assert call("TYPE", "h2") == Status("hash")


def test_copy_to_another_db(call) -> None:
    call("SET", "a", "1")
    assert call("COPY", "a", "a", "DB", "3") == 1
    assert call("COPY", "a", "a", "db", "3") == 0
    call.session.db = 3
    assert call("GET", "a") == b"1"
    call.session.db = 0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["DB", "16"], "ERR DB index is out of range"),
        (["DB", "-1"], "ERR DB index is out of range"),
        (["DB", "99", "FOO"], "ERR DB index is out of range"),  # checked while parsing
        (["FOO", "DB", "99"], SYNTAX),
        (["DB"], SYNTAX),
        (["REPLACE", "X"], SYNTAX),
        (["DB", "x"], NOT_INT),
        (["DB", "2147483648"],
         "ERR value is out of range, value must between -2147483648 and 2147483647"),
        (["DB", "0"], "ERR source and destination objects are the same"),
        ([], "ERR source and destination objects are the same"),
    ],
)
def test_copy_errors(call, options: list[str], error: str) -> None:
    assert err(call("COPY", "a", "a", *options)) == error


# --- EXPIRE family ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "pexpiretime"),
    [
        (["EXPIRE", "k", "100"], NOW + 100_000),
        (["PEXPIRE", "k", "1500"], NOW + 1500),
        (["EXPIREAT", "k", str(NOW // 1000 + 50)], NOW + 50_000),
        (["PEXPIREAT", "k", str(NOW + 7)], NOW + 7),
        (["PEXPIREAT", "k", "9223372036854775807"], 9223372036854775807),
    ],
)
def test_expire_sets_ttl(clock, call, argv: list[str], pexpiretime: int) -> None:
    call("SET", "k", "v")
    assert call(*argv) == 1
    assert call("PEXPIRETIME", "k") == pexpiretime
    clock.now = pexpiretime
    assert call("EXISTS", "k") == 0


@pytest.mark.parametrize(
    "argv",
    [["EXPIRE", "k", "0"], ["EXPIRE", "k", "-10"], ["PEXPIRE", "k", "0"],
     ["EXPIREAT", "k", "1"], ["PEXPIREAT", "k", str(NOW)],
     ["PEXPIREAT", "k", "-9223372036854775808"]],
)
def test_expire_in_the_past_deletes(ctx, clock, call, argv: list[str]) -> None:
    put(ctx, "k", Kind.LIST)
    assert call(*argv) == 1
    assert call("EXISTS", "k") == 0


def test_expire_missing_key(call) -> None:
    assert call("EXPIRE", "missing", "100") == 0
    assert call("PEXPIREAT", "missing", "1") == 0


def test_expire_keeps_the_value_and_type(ctx, clock, call) -> None:
    put(ctx, "h", Kind.HASH, b"fields")
    assert call("EXPIRE", "h", "10") == 1
    entry = ctx.keyspace.lookup(0, b"h")
    assert (entry.kind, entry.payload, entry.expire_at) == (Kind.HASH, b"fields", NOW + 10_000)


# (current ttl in s or None, options, new ttl in s, reply) — the table of Redis' EXPIRE docs
EXPIRE_CONDITIONS = [
    (None, ["NX"], 100, 1),
    (50, ["NX"], 100, 0),
    (None, ["XX"], 100, 0),
    (50, ["XX"], 100, 1),
    (None, ["GT"], 100, 0),  # no TTL counts as infinite
    (50, ["GT"], 100, 1),
    (50, ["GT"], 50, 0),
    (50, ["GT"], 10, 0),
    (None, ["LT"], 100, 1),
    (50, ["LT"], 10, 1),
    (50, ["LT"], 50, 0),
    (50, ["LT"], 100, 0),
    (50, ["XX", "GT"], 100, 1),
    (None, ["XX", "LT"], 10, 0),
    (50, ["gt", "GT"], 100, 1),
]


@pytest.mark.parametrize(("current", "options", "ttl", "reply"), EXPIRE_CONDITIONS)
def test_expire_conditions(clock, call, current, options: list[str], ttl: int, reply) -> None:
    call("SET", "k", "v")
    if current is not None:
        call("EXPIRE", "k", current)
    assert call("EXPIRE", "k", ttl, *options) == reply
    assert call("TTL", "k") == (ttl if reply else (-1 if current is None else current))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["NX", "XX"], "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (["NX", "GT"], "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (["LT", "NX"], "ERR NX and XX, GT or LT options at the same time are not compatible"),
        (["GT", "LT"], "ERR GT and LT options at the same time are not compatible"),
        (["foo"], "ERR Unsupported option foo"),
        (["NX", "bar"], "ERR Unsupported option bar"),
    ],
)
@pytest.mark.parametrize("command", ["EXPIRE", "PEXPIREAT"])
def test_expire_option_errors(call, command: str, options: list[str], error: str) -> None:
    call("SET", "k", "v")
    assert err(call(command, "k", "100", *options)) == error
    assert err(call(command, "k", "abc", *options)) == error  # options are checked first
    assert call("TTL", "k") == -1


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["EXPIRE", "k", "9223372036854775807"], "ERR invalid expire time in 'expire' command"),
        (["EXPIRE", "k", "-9223372036854775808"], "ERR invalid expire time in 'expire' command"),
        (["EXPIRE", "k", "9223372036854775"], "ERR invalid expire time in 'expire' command"),
        (["PEXPIRE", "k", "9223372036854775807"],
         "ERR invalid expire time in 'pexpire' command"),
        (["EXPIREAT", "k", "9223372036854776"],
         "ERR invalid expire time in 'expireat' command"),
        (["EXPIRE", "k", "1.5"], NOT_INT),
        (["PEXPIRE", "k", ""], NOT_INT),
    ],
)
@pytest.mark.parametrize("key_exists", [True, False])
def test_expire_time_errors(call, argv: list[str], error: str, key_exists: bool) -> None:
    if key_exists:
        call("SET", "k", "v")
    assert err(call(*argv)) == error


def test_expire_seconds_boundary(clock, call) -> None:
    """-9223372036854775 s is the last that converts: C truncates LLONG_MIN / 1000."""
    call("SET", "k", "v")
    assert call("EXPIRE", "k", "-9223372036854775") == 1
    assert call("EXISTS", "k") == 0


# --- TTL family and PERSIST ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remaining_ms", "ttl", "pttl"),
    [(10_000, 10, 10_000), (1499, 1, 1499), (1500, 2, 1500), (499, 0, 499), (1, 0, 1)],
)
def test_ttl_rounds_to_nearest_second(clock, call, remaining_ms, ttl, pttl) -> None:
    call("SET", "k", "v", "PXAT", NOW + remaining_ms)
    assert call("TTL", "k") == ttl
    assert call("PTTL", "k") == pttl


@pytest.mark.parametrize(
    ("pxat", "expiretime"),
    [(NOW + 1499, (NOW + 1499 + 500) // 1000), (33177117420500, 33177117421)],
)
def test_expiretime(clock, call, pxat: int, expiretime: int) -> None:
    call("SET", "k", "v", "PXAT", pxat)
    assert call("EXPIRETIME", "k") == expiretime
    assert call("PEXPIRETIME", "k") == pxat


@pytest.mark.parametrize("command", ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"])
def test_ttl_missing_and_persistent(ctx, call, command: str) -> None:
    assert call(command, "missing") == -2
    call("SET", "k", "v")
    assert call(command, "k") == -1
    put(ctx, "h", Kind.HASH)
    assert call(command, "h") == -1


def test_persist(ctx, clock, call) -> None:
    assert call("PERSIST", "missing") == 0
    call("SET", "k", "v")
    assert call("PERSIST", "k") == 0
    call("EXPIRE", "k", "100")
    assert call("PERSIST", "k") == 1
    assert call("TTL", "k") == -1
    assert call("GET", "k") == b"v"
    clock.now += 200_000
    assert call("GET", "k") == b"v"


# --- KEYS SCAN RANDOMKEY ---------------------------------------------------------------------

NAMES = ["hello", "hallo", "hxllo", "hllo", "heeeello", "", "a*b", "user:1", "user:2"]


def fill(call, names: list[str] = NAMES) -> None:
    for name in names:
        call("SET", name, "1")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", NAMES),  # KEYS * includes the empty key (Redis skips matching for "*")
        ("**", [n for n in NAMES if n]),  # ... but the matcher does not match it
        ("h?llo", ["hello", "hallo", "hxllo"]),
        ("h*llo", ["hello", "hallo", "hxllo", "hllo", "heeeello"]),
        ("h[ae]llo", ["hello", "hallo"]),
        ("h[^e]llo", ["hallo", "hxllo"]),
        ("h[a-b]llo", ["hallo"]),
        ("a\\*b", ["a*b"]),
        ("user:*", ["user:1", "user:2"]),
        ("nothing", []),
        ("", [""]),
    ],
)
def test_keys(call, pattern: str, expected: list[str]) -> None:
    fill(call)
    assert sorted(call("KEYS", pattern)) == sorted(n.encode() for n in expected)


def test_keys_only_current_db(call) -> None:
    call("SET", "a", "1")
    call.session.db = 5
    assert call("KEYS", "*") == []


def scan_all(call, *options: str | int) -> list[bytes]:
    """Follow the cursor to 0; the number of steps is bounded."""
    cursor, found = b"0", []
    for _ in range(20_000):
        reply = call("SCAN", cursor, *options)
        assert not isinstance(reply, ReplyError), reply
        cursor, batch = reply
        found += batch
        if cursor == b"0":
            return found
    raise AssertionError("SCAN did not finish")


def test_scan_returns_every_key(call) -> None:
    names = [f"key:{i}" for i in range(300)]
    fill(call, names)
    assert sorted(scan_all(call)) == sorted(n.encode() for n in names)
    assert sorted(scan_all(call, "COUNT", 1000)) == sorted(n.encode() for n in names)


def test_scan_count_bounds_a_step(call) -> None:
    fill(call, [f"key:{i}" for i in range(100)])
    cursor, batch = call("SCAN", 0, "COUNT", 5)
    assert cursor != b"0"
    assert 5 <= len(batch) < 100


def test_scan_match_and_type(ctx, call) -> None:
    fill(call)
    put(ctx, "user:h", Kind.HASH)
    assert sorted(scan_all(call, "MATCH", "user:*")) == [b"user:1", b"user:2", b"user:h"]
    assert sorted(scan_all(call, "MATCH", "user:*", "TYPE", "HASH")) == [b"user:h"]
    assert scan_all(call, "TYPE", "list") == []
    assert scan_all(call, "TYPE", "nosuchtype") == []
    assert b"" in scan_all(call, "MATCH", "*")
    assert b"" not in scan_all(call, "MATCH", "**")


def test_scan_empty_db(call) -> None:
    assert call("SCAN", 0) == [b"0", []]


@pytest.mark.parametrize(
    ("cursor", "valid"),
    [("0", True), ("", True), ("+5", True), ("-0", True), ("-1", True),
     ("18446744073709551615", True), ("18446744073709551616", False), ("abc", False),
     (" 1", False), ("1 ", False), ("+", False), ("1.0", False)],
)
def test_scan_cursor_parsing(call, cursor: str, valid: bool) -> None:
    reply = call("SCAN", cursor)
    if valid:
        assert isinstance(reply, list)
    else:
        assert err(reply) == "ERR invalid cursor"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["COUNT"], SYNTAX),
        (["MATCH"], SYNTAX),
        (["TYPE"], SYNTAX),
        (["COUNT", "0"], SYNTAX),
        (["COUNT", "-1"], SYNTAX),
        (["COUNT", "x"], NOT_INT),
        (["COUNT", "99999999999999999999"], NOT_INT),
        (["FOO", "bar"], SYNTAX),
        (["MATCH", "*", "COUNT"], SYNTAX),
    ],
)
def test_scan_option_errors(call, options: list[str], error: str) -> None:
    assert err(call("SCAN", "0", *options)) == error


def test_scan_cursor_checked_before_options(call) -> None:
    assert err(call("SCAN", "x", "COUNT", "0")) == "ERR invalid cursor"


def test_randomkey(call) -> None:
    assert call("RANDOMKEY") is None
    fill(call, ["a", "b", "c"])
    seen = {call("RANDOMKEY") for _ in range(50)}
    assert seen <= {b"a", b"b", b"c"}
    assert seen


# --- OBJECT ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoding"),
    [
        (b"1", b"int"),
        (b"-9223372036854775808", b"int"),
        (b"12345678901234567890", b"embstr"),  # beyond 64 bits
        (b"01", b"embstr"),
        (b"x" * 44, b"embstr"),
        (b"x" * 45, b"raw"),
        (b"", b"embstr"),
    ],
)
def test_object_encoding_strings(call, value: bytes, encoding: bytes) -> None:
    call("SET", "k", value)
    assert call("OBJECT", "ENCODING", "k") == encoding


def test_object_encoding_other_types(ctx, call) -> None:
    assert call("OBJECT", "ENCODING", "missing") is None
    for kind, encoding in [(Kind.HASH, b"listpack"), (Kind.LIST, b"quicklist"),
                           (Kind.ZSET, b"listpack"), (Kind.SET, b"hashtable")]:
        put(ctx, "c", kind)
        assert call("object", "encoding", "c") == encoding


@pytest.mark.parametrize(
    ("value", "refcount"),
    [(b"0", 2147483647), (b"9999", 2147483647), (b"10000", 1), (b"-1", 1), (b"abc", 1)],
)
def test_object_refcount(call, value: bytes, refcount: int) -> None:
    call("SET", "k", value)
    assert call("OBJECT", "REFCOUNT", "k") == refcount


def test_object_missing_key_is_nil(call) -> None:
    for sub in ("ENCODING", "FREQ", "IDLETIME", "REFCOUNT"):
        assert call("OBJECT", sub, "missing") is None


def test_object_freq_and_idletime(call) -> None:
    call("SET", "k", "v")
    assert err(call("OBJECT", "FREQ", "k")).startswith(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked."
    )
    assert call("OBJECT", "IDLETIME", "k") == 0


def test_object_help(call) -> None:
    lines = call("OBJECT", "HELP")
    assert lines[0] == Status("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    assert Status("REFCOUNT <key>") in lines
    assert lines[-1] == Status("    Prints this help.")


def test_keys_literal_pattern_is_a_lookup(ctx, call, monkeypatch) -> None:
    """A pattern without wildcards can match one key only: no scan of the database."""
    fill(call)

    def no_scan(db: int) -> None:
        raise AssertionError("KEYS with a literal pattern scanned the database")

    monkeypatch.setattr(ctx.keyspace, "iter_keys", no_scan)
    assert call("KEYS", "hello") == [b"hello"]
    assert call("KEYS", "absent") == []
    assert call("KEYS", "") == [b""]
