"""The same command sequences sent to a real redis-server 7.0 (raw RESP over a socket) and to
respdyn's dispatcher (encoded with the production encoder), in RESP2 and RESP3; the reply bytes
must be equal.

Only commands whose output order Redis leaves unspecified (KEYS, SCAN) are compared after
sorting. A Hypothesis test adds random sequences over a few keys on top of the fixed scenarios.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from harness import redis_server, redis_server_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respdyn.keyspace.record import Kind
from respdyn.protocol.encoder import encode

# --- a raw RESP2 client ----------------------------------------------------------------------


def encode_command(argv: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(argv)]
    for arg in argv:
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


def read_reply(stream: Any) -> tuple[Any, bytes]:
    """(normalised value, raw bytes) of one RESP2 or RESP3 reply. Simple types keep their
    marker (("+", text), ("-", text), (",", text)...) so a status never equals a bulk string."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"truncated reply {line!r}")
    kind, body = line[:1], line[1:-2]
    if kind in (b"+", b"-", b",", b"#", b"("):
        return (kind.decode(), body), line
    if kind == b":":
        return int(body), line
    if kind == b"_":
        return None, line
    if kind in (b"$", b"=", b"!"):
        size = int(body)
        if size < 0:
            return None, line
        data = stream.read(size + 2)
        return (data[:-2] if kind == b"$" else (kind.decode(), data[:-2])), line + data
    if kind in (b"*", b"~", b">", b"%"):
        size = int(body)
        if size < 0:
            return None, line
        items, raws = [], [line]
        for _ in range(size * 2 if kind == b"%" else size):
            value, raw = read_reply(stream)
            items.append(value)
            raws.append(raw)
        return items, b"".join(raws)
    raise ConnectionError(f"unexpected reply line {line!r}")


class RawClient:
    """One connection to redis-server, speaking raw RESP (2 or 3, after HELLO)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.stream = self.sock.makefile("rb")

    def __call__(self, argv: list[bytes]) -> tuple[Any, bytes]:
        self.sock.sendall(encode_command(argv))
        return read_reply(self.stream)

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@pytest.fixture(scope="module")
def redis(tmp_path_factory) -> Iterator[RawClient]:
    if redis_server_path() is None:
        pytest.skip("redis-server binary not found: the differential tests need a real Redis")
    with redis_server(tmp_path_factory.mktemp("redis")) as (host, port):
        client = RawClient(host, port)
        try:
            yield client
        finally:
            client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(request, redis: RawClient, call) -> Any:
    """Send one command to both servers and compare, in RESP2 and in RESP3; databases start
    empty."""
    protocol = request.param
    redis([b"HELLO", b"%d" % protocol])
    call.session.protocol = protocol
    redis([b"FLUSHALL"])
    redis([b"SELECT", b"0"])

    def send(*argv: bytes | str | int, unordered: bool = False) -> Any:
        if argv[0] == MAKE:
            return make(redis, call, str(argv[1]), str(argv[2]))
        args = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
        expected, expected_raw = redis(args)
        reply = call(*args)
        if args[0].upper() == b"SELECT" and not isinstance(reply, Exception):
            call.session.db = int(args[1])  # in case SELECT is not served by this dispatcher
        actual_raw = encode(reply, protocol)
        if unordered:
            actual, _ = read_reply(io.BytesIO(actual_raw))
            assert _sorted(actual) == _sorted(expected), argv
        else:
            assert actual_raw == expected_raw, argv
        return expected

    return send


MAKE = "@make"  #: pseudo-command: create a non-string key on both sides
_MAKERS = {
    "list": ([b"RPUSH"], Kind.LIST), "hash": ([b"HSET", b"f"], Kind.HASH),
    "set": ([b"SADD"], Kind.SET), "zset": ([b"ZADD", b"1"], Kind.ZSET),
}


def make(redis: RawClient, call: Any, kind: str, key: str) -> None:
    """A key of another type: Redis gets a real one, respdyn a record of that kind written
    straight into the keyspace, so these tests do not depend on the other command families."""
    command, record_kind = _MAKERS[kind]
    value, _ = redis([command[0], key.encode(), *command[1:], b"member"])
    assert value == 1
    call.ctx.keyspace.put(call.session.db, key.encode(), record_kind, b"member")


def _sorted(value: Any) -> Any:
    """KEYS' list, or SCAN's [cursor, keys] with the keys sorted."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
        return [value[0], sorted(value[1])]
    return sorted(value) if isinstance(value, list) else value


def run(both: Any, script: list[list[Any]]) -> None:
    for argv in script:
        unordered = str(argv[0]).upper() in ("KEYS", "SCAN")
        both(*argv, unordered=unordered)


# --- fixed scenarios -------------------------------------------------------------------------

S = "SET"
FAR = 33177117420  # a Unix time in seconds far in the future (year 3021)

SCENARIOS: dict[str, list[list[Any]]] = {
    "get_set": [
        ["GET", "k"], [S, "k", "v"], ["GET", "k"], [S, "k", b"\x00\xff\r\n"], ["GET", "k"],
        [S, "k", ""], ["GET", "k"], ["GET"], ["SET", "k"], ["GET", "k", "x"],
    ],
    "set_options": [
        [S, "k", "1", "NX"], [S, "k", "2", "NX"], [S, "k", "3", "XX"], [S, "n", "1", "XX"],
        [S, "k", "4", "GET"], [S, "k", "5", "NX", "GET"], [S, "n", "1", "XX", "GET"],
        [S, "k", "6", "xx", "get", "keepttl"], [S, "k", "7", "EX", "100"], ["TTL", "k"],
        [S, "k", "8", "KEEPTTL"], ["TTL", "k"], [S, "k", "9"], ["TTL", "k"],
        [S, "k", "1", "EXAT", FAR], ["EXPIRETIME", "k"], [S, "k", "1", "PXAT", FAR * 1000 + 1],
        ["PEXPIRETIME", "k"], ["EXPIRETIME", "k"], [S, "k", "1", "EX", "10", "EX", "20"],
        ["TTL", "k"], [S, "k", "1", "NX", "NX"], [S, "k", "1", "EXAT", "1"], ["EXISTS", "k"],
        [S, "k", "x"], [S, "k", "y", "PXAT", "1", "GET"], ["GET", "k"],
    ],
    "set_errors": [
        [S, "k", "v", "NX", "XX"], [S, "k", "v", "XX", "NX"], [S, "k", "v", "EX", "1", "PX", "1"],
        [S, "k", "v", "KEEPTTL", "EX", "1"], [S, "k", "v", "EX", "1", "KEEPTTL"],
        [S, "k", "v", "EX"], [S, "k", "v", "PERSIST"], [S, "k", "v", "BAD"],
        [S, "k", "v", "EX", "0"], [S, "k", "v", "EX", "-1"], [S, "k", "v", "PX", "0"],
        [S, "k", "v", "EXAT", "0"], [S, "k", "v", "EX", "x"], [S, "k", "v", "EX", "1.5"],
        [S, "k", "v", "EX", "9223372036854775"], [S, "k", "v", "EX", "9223372036854776"],
        [S, "k", "v", "PX", "9223372036854775807"], [S, "k", "v", "EXAT", "9223372036854775807"],
        [S, "k", "v", "EX", "+1"], [S, "k", "v", "EX", " 1"], ["GET", "k"],
    ],
    "set_family": [
        ["SETNX", "k", "1"], ["SETNX", "k", "2"], ["GET", "k"], ["SETEX", "k", "100", "v"],
        ["TTL", "k"], ["PSETEX", "k", "100000", "w"], ["TTL", "k"], ["SETEX", "k", "0", "v"],
        ["PSETEX", "k", "-1", "v"], ["SETEX", "k", "x", "v"], ["GETSET", "k", "z"],
        ["TTL", "k"], ["GETSET", "new", "1"], ["GETDEL", "k"], ["GETDEL", "k"], ["EXISTS", "k"],
    ],
    "getex": [
        ["GETEX", "k"], [S, "k", "v"], ["GETEX", "k"], ["GETEX", "k", "EX", "100"], ["TTL", "k"],
        ["GETEX", "k", "PERSIST"], ["TTL", "k"], ["GETEX", "k", "EXAT", FAR],
        ["EXPIRETIME", "k"], ["GETEX", "k", "PXAT", FAR * 1000 + 7], ["PEXPIRETIME", "k"],
        ["GETEX", "k", "EX", "1", "PERSIST"], ["GETEX", "k", "PERSIST", "EX", "1"],
        ["GETEX", "k", "NX"], ["GETEX", "k", "KEEPTTL"], ["GETEX", "k", "GET"],
        ["GETEX", "k", "EX"], ["GETEX", "k", "EX", "-1"], ["GETEX", "k", "EX", "x"],
        ["GETEX", "missing", "EX", "-1"], ["GETEX", "k", "PERSIST", "PERSIST"],
        ["GETEX", "k", "EXAT", "1"], ["EXISTS", "k"],
    ],
    "multi": [
        ["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "c", "a"], ["MSET", "a"],
        ["MSET", "a", "1", "b"], ["MSETNX", "c", "3", "a", "x"], ["MGET", "a", "c"],
        ["MSETNX", "c", "3", "d", "4"], ["MGET", "c", "d"], ["MSETNX", "a", "1", "b"],
        [MAKE, "list", "l"], ["MGET", "l", "a"], ["MSETNX", "l", "1", "z", "2"], ["EXISTS", "z"],
    ],
    "append_strlen_ranges": [
        ["APPEND", "k", "Hello"], ["APPEND", "k", " World"], ["STRLEN", "k"], ["STRLEN", "no"],
        ["GETRANGE", "k", "0", "4"], ["GETRANGE", "k", "-5", "-1"], ["GETRANGE", "k", "0", "-1"],
        ["GETRANGE", "k", "5", "3"], ["GETRANGE", "k", "-1", "-5"], ["GETRANGE", "k", "100", "200"],
        ["GETRANGE", "k", "-100", "-50"], ["GETRANGE", "k", "-100", "2"], ["SUBSTR", "k", "1", "3"],
        ["GETRANGE", "no", "0", "-1"], ["GETRANGE", "k", "a", "1"], ["GETRANGE", "no", "0", "x"],
        ["SETRANGE", "k", "6", "Redis"], ["GET", "k"], ["SETRANGE", "n", "3", "abc"], ["GET", "n"],
        ["SETRANGE", "e", "5", ""], ["EXISTS", "e"], ["SETRANGE", "k", "0", ""],
        ["SETRANGE", "k", "-1", "x"], ["SETRANGE", "k", "x", "x"],
        ["SETRANGE", "k", "536870912", "x"], ["SETRANGE", "k", "9223372036854775807", "x"],
        ["SETRANGE", "k", "20", "tail"], ["GET", "k"],
    ],
    "counters": [
        ["INCR", "c"], ["INCRBY", "c", "10"], ["DECR", "c"], ["DECRBY", "c", "-5"],
        ["DECRBY", "c", "100"], ["INCRBY", "c", "x"], ["INCRBY", "c", "+1"], ["INCRBY", "c", " 1"],
        [S, "c", "9223372036854775807"], ["INCR", "c"], ["DECRBY", "c", "-1"],
        [S, "c", "-9223372036854775808"], ["DECR", "c"], ["DECRBY", "d", "-9223372036854775808"],
        [S, "c", "abc"], ["INCR", "c"], [S, "c", "1.5"], ["INCR", "c"], [S, "c", "007"],
        ["INCR", "c"], [S, "c", "10"], ["EXPIRE", "c", "100"], ["INCR", "c"], ["TTL", "c"],
    ],
    "incrbyfloat": [
        ["INCRBYFLOAT", "f", "10.5"], ["INCRBYFLOAT", "f", "0.1"], ["INCRBYFLOAT", "f", "-5"],
        [S, "f", "5.0e3"], ["INCRBYFLOAT", "f", "2.0e2"], [S, "f", "0.1"],
        ["INCRBYFLOAT", "f", "0.2"], ["INCRBYFLOAT", "f", "1e300"], ["INCRBYFLOAT", "f", "inf"],
        ["INCRBYFLOAT", "f", "nan"], ["INCRBYFLOAT", "f", "abc"], ["INCRBYFLOAT", "f", ""],
        [S, "f", "abc"], ["INCRBYFLOAT", "f", "1"], [S, "f", "3"], ["INCRBYFLOAT", "f", "-3"],
        ["INCRBYFLOAT", "f", "1.23456789012345678"], ["INCRBYFLOAT", "f", ".5"],
    ],
    "wrongtype": [
        [MAKE, "list", "l"], ["GET", "l"], [S, "l", "v", "GET"], ["GETSET", "l", "v"],
        ["GETDEL", "l"], ["GETEX", "l", "EX", "-1"], ["APPEND", "l", "x"], ["STRLEN", "l"],
        ["GETRANGE", "l", "0", "1"], ["SETRANGE", "l", "0", ""], ["INCR", "l"],
        ["INCRBYFLOAT", "l", "x"], ["DECRBY", "l", "1"], ["SETNX", "l", "x"], ["TYPE", "l"],
        [S, "l", "v"], ["TYPE", "l"],
    ],
    "del_exists_type": [
        ["MSET", "a", "1", "b", "2"], [MAKE, "hash", "h"], ["EXISTS", "a", "a", "h", "x"],
        ["TOUCH", "a", "b", "x"], ["TYPE", "a"], ["TYPE", "h"], ["TYPE", "x"],
        ["DEL", "a", "h", "x", "a"], ["UNLINK", "b", "b"], ["EXISTS", "a", "b", "h"], ["DEL"],
    ],
    "rename_copy": [
        ["RENAME", "a", "b"], ["RENAMENX", "a", "b"], [S, "a", "1", "EX", "100"],
        ["RENAME", "a", "a"], ["RENAMENX", "a", "a"], ["RENAME", "a", "b"], ["TTL", "b"],
        ["EXISTS", "a"], [S, "c", "3"], ["RENAMENX", "b", "c"], ["RENAMENX", "b", "d"],
        ["MGET", "b", "c", "d"], ["COPY", "d", "e"], ["TTL", "e"], ["COPY", "d", "e"],
        ["COPY", "c", "e", "REPLACE"], ["GET", "e"], ["TTL", "e"], ["COPY", "x", "y"],
        ["COPY", "c", "c"], ["COPY", "c", "c", "DB", "0"], ["COPY", "c", "c", "DB", "1"],
        ["COPY", "c", "c", "DB", "1"], ["COPY", "c", "c", "DB", "16"], ["COPY", "c", "c", "DB"],
        ["COPY", "c", "c", "DB", "x"], ["COPY", "c", "c", "DB", "2147483648"],
        ["COPY", "c", "c", "DB", "99", "FOO"], ["COPY", "c", "c", "FOO", "DB", "99"],
        ["COPY", "c", "f", "REPLACE", "REPLACE"], ["SELECT", "1"], ["GET", "c"], ["SELECT", "0"],
    ],
    "expire": [
        ["EXPIRE", "k", "100"], [S, "k", "v"], ["TTL", "k"], ["PTTL", "k"], ["EXPIRETIME", "k"],
        ["EXPIRE", "k", "100", "XX"], ["EXPIRE", "k", "100", "GT"], ["EXPIRE", "k", "100", "LT"],
        ["TTL", "k"], ["EXPIRE", "k", "200", "LT"], ["EXPIRE", "k", "50", "NX"],
        ["EXPIRE", "k", "200", "GT"], ["EXPIRE", "k", "300", "xx", "gt"], ["TTL", "k"],
        ["EXPIRE", "k", "10", "NX", "XX"], ["EXPIRE", "k", "10", "GT", "LT"],
        ["EXPIRE", "k", "10", "foo"], ["EXPIRE", "k", "abc", "nx", "lt"], ["EXPIRE", "k", "1.5"],
        ["EXPIRE", "k", "9223372036854775807"], ["EXPIRE", "k", "-9223372036854775808"],
        ["PEXPIRE", "k", "9223372036854775807"], ["EXPIREAT", "k", "9223372036854776"],
        ["EXPIREAT", "k", FAR], ["EXPIRETIME", "k"], ["PEXPIREAT", "k", FAR * 1000 + 499],
        ["EXPIRETIME", "k"], ["PEXPIRETIME", "k"], ["PERSIST", "k"], ["PERSIST", "k"],
        ["TTL", "k"], ["PEXPIRE", "k", "100000"], ["TTL", "k"], ["EXPIRE", "k", "0"],
        ["EXISTS", "k"], [S, "k", "v"], ["EXPIREAT", "k", "1"], ["EXISTS", "k"],
        [S, "k", "v"], ["PEXPIREAT", "k", "-9223372036854775808"], ["EXISTS", "k"],
        [S, "k", "v"], ["EXPIRE", "k", "-9223372036854775"], ["TTL", "k"], ["PTTL", "missing"],
        ["EXPIRETIME", "missing"], ["PEXPIRETIME", "missing"], ["PERSIST", "missing"],
    ],
    "keys_scan": [
        ["MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1"],
        ["MSET", "a*b", "1", "user:1", "1", "user:2", "1", "", "1"], [MAKE, "hash", "user:h"],
        ["KEYS", "*"], ["KEYS", "**"], ["KEYS", "h?llo"], ["KEYS", "h*llo"], ["KEYS", "h[ae]llo"],
        ["KEYS", "h[^e]llo"], ["KEYS", "h[a-b]llo"], ["KEYS", "h[b-a]llo"], ["KEYS", "a\\*b"],
        ["KEYS", ""], ["KEYS", "[a-"], ["KEYS", "user:[^1]"], ["KEYS", "*\\"],
        ["SCAN", "0", "COUNT", "1000"], ["SCAN", "0", "MATCH", "user:*", "COUNT", "1000"],
        ["SCAN", "0", "TYPE", "hash", "COUNT", "1000"],
        ["SCAN", "0", "TYPE", "HASH", "COUNT", "100"],
        ["SCAN", "0", "TYPE", "nosuch", "COUNT", "1000"],
        ["SCAN", "0", "MATCH", "*", "COUNT", "99"],
        ["SCAN", "x"], ["SCAN", " 0"], ["SCAN", "0", "COUNT"], ["SCAN", "0", "COUNT", "0"],
        ["SCAN", "0", "COUNT", "x"], ["SCAN", "0", "FOO", "bar"], ["SCAN", "0", "MATCH"],
        ["SCAN", "18446744073709551616"], ["SCAN", "+"], ["KEYS"], ["SCAN"],
    ],
    "lcs": [
        ["MSET", "key1", "ohmytext", "key2", "mynewtext"], ["LCS", "key1", "key2"],
        ["LCS", "key1", "key2", "LEN"], ["LCS", "key1", "key2", "IDX"],
        ["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
        ["LCS", "key1", "key2", "IDX", "LEN"], ["LCS", "key1", "key2", "FOO"],
        ["LCS", "key1", "key2", "MINMATCHLEN"], ["LCS", "key1", "key2", "MINMATCHLEN", "x"],
        [MAKE, "list", "l"], ["LCS", "l", "key2", "FOO"], ["LCS", "no1", "no2"],
        ["LCS", "no1", "no2", "IDX"], ["LCS", "key1", "key2", "LEN", "len"],
        ["LCS", "key1", "key2", "minmatchlen", "-5", "idx", "withmatchlen"], ["LCS", "key1"],
    ],
    "randomkey_object": [
        ["RANDOMKEY"], [S, "only", "1"], ["RANDOMKEY"], ["OBJECT", "ENCODING", "only"],
        [S, "s", "x" * 44], ["OBJECT", "ENCODING", "s"], [S, "s", "x" * 45],
        ["OBJECT", "ENCODING", "s"], [S, "s", "12345678901234567890"],
        ["OBJECT", "ENCODING", "s"], ["OBJECT", "REFCOUNT", "only"], [S, "n", "10000"],
        ["OBJECT", "REFCOUNT", "n"], ["OBJECT", "ENCODING", "missing"],
        ["OBJECT", "FREQ", "missing"], ["OBJECT", "FREQ", "only"], ["OBJECT", "IDLETIME", "x"],
        ["OBJECT", "HELP"], ["OBJECT", "foo"], ["OBJECT"], ["OBJECT", "ENCODING"],
        ["OBJECT", "help", "x"],
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(both, name: str) -> None:
    run(both, SCENARIOS[name])


def test_scan_walk_matches_key_set(both) -> None:
    """A full SCAN walk returns the same key set on both (batches and cursors differ)."""
    for i in range(0, 200, 20):
        both("MSET", *[x for j in range(i, i + 20) for x in (f"key:{j}", "v")])
    keys = both("KEYS", "*", unordered=True)
    assert len(keys) == 200


# --- random sequences ------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.sampled_from(["", "0", "1", "-1", "9223372036854775807", "1.5", "abc", "x" * 50])
INTS = st.sampled_from(["0", "1", "-1", "5", "100", "x", "9223372036854775807"])

COMMANDS = st.one_of(
    st.tuples(st.just("GET"), KEYS),
    st.tuples(st.just("SET"), KEYS, VALUES),
    st.tuples(st.just("SET"), KEYS, VALUES, st.sampled_from(["NX", "XX", "GET", "KEEPTTL"])),
    st.tuples(st.just("SETNX"), KEYS, VALUES),
    st.tuples(st.just("GETSET"), KEYS, VALUES),
    st.tuples(st.just("GETDEL"), KEYS),
    st.tuples(st.just("APPEND"), KEYS, VALUES),
    st.tuples(st.just("STRLEN"), KEYS),
    st.tuples(st.just("INCR"), KEYS),
    st.tuples(st.just("DECRBY"), KEYS, INTS),
    st.tuples(st.just("INCRBYFLOAT"), KEYS, st.sampled_from(["0.1", "-2.5", "1e3", "x"])),
    st.tuples(st.just("GETRANGE"), KEYS, INTS, INTS),
    st.tuples(st.just("SETRANGE"), KEYS, st.sampled_from(["0", "3", "-1"]), VALUES),
    st.tuples(st.just("MGET"), KEYS, KEYS),
    st.tuples(st.just("LCS"), KEYS, KEYS, st.sampled_from(["LEN", "IDX", "WITHMATCHLEN"])),
    st.tuples(st.just("MSETNX"), KEYS, VALUES, KEYS, VALUES),
    st.tuples(st.just("DEL"), KEYS, KEYS),
    st.tuples(st.just("EXISTS"), KEYS, KEYS),
    st.tuples(st.just("TYPE"), KEYS),
    st.tuples(st.just("RENAME"), KEYS, KEYS),
    st.tuples(st.just("RENAMENX"), KEYS, KEYS),
    st.tuples(st.just("COPY"), KEYS, KEYS, st.sampled_from(["REPLACE", "DB", "FOO"])),
    st.tuples(st.sampled_from(["EXPIRE", "PERSIST"]), KEYS, st.sampled_from(["100", "0"])),
    st.tuples(st.just("EXPIRE"), KEYS, st.sampled_from(["100", "200"]),
              st.sampled_from(["NX", "XX", "GT", "LT"])),
    st.tuples(st.just("TTL"), KEYS),
    st.tuples(st.just(MAKE), st.sampled_from(["hash", "list"]), KEYS),
    st.tuples(st.just("KEYS"), st.sampled_from(["*", "[ab]", "?", "c*"])),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=st.lists(COMMANDS, min_size=1, max_size=25))
def test_random_sequences(redis, call, script: list[tuple[str, ...]]) -> None:
    redis([b"HELLO", b"2"])
    call.session.protocol = 2
    redis([b"FLUSHALL"])
    call.ctx.keyspace.flushall()
    call.session.db = 0
    for argv in script:
        if argv[0] == MAKE:
            if call("EXISTS", argv[2]) == 0:
                make(redis, call, argv[1], argv[2])
            continue
        args = [a.encode() for a in argv]
        expected, expected_raw = redis(args)
        actual_raw = encode(call(*args), 2)
        if argv[0] == "KEYS":
            actual, _ = read_reply(io.BytesIO(actual_raw))
            assert sorted(actual) == sorted(expected), argv
        else:
            assert actual_raw == expected_raw, (argv, script)
