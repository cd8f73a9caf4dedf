"""RequestReader: bytes in, requests (or Redis' exact protocol errors) out.

Every table row was checked against redis-server 7.0 (raw bytes over a socket). Each case runs
three ways: the whole input in one feed (hiredis fast path), one byte per feed (the strict
walker), and split in two at every offset for short inputs, since the two paths must agree.
"""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respdyn.errors import HttpProbe, ProtocolError
from respdyn.protocol.reader import RequestReader, split_args, string2ll


def frame(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def drain(reader: RequestReader) -> list[list[bytes]]:
    out = []
    while (req := reader.gets()) is not None:
        out.append(req)
    return out


def run(chunks: list[bytes], **kw: object) -> list[object]:
    """Requests parsed, then the error text (or 'HTTP') if parsing stopped on garbage."""
    unauth = bool(kw.pop("unauthenticated", False))
    reader = RequestReader(**kw)  # type: ignore[arg-type]
    reader.unauthenticated = unauth
    out: list[object] = []
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while (req := reader.gets()) is not None:
                out.append(req)
    except ProtocolError as exc:
        out.append(exc.message)
    except HttpProbe:
        out.append("HTTP")
    return out


def ways(data: bytes) -> list[list[bytes]]:
    splits = [[data], [data[i : i + 1] for i in range(len(data))]]
    if len(data) < 80:
        splits += [[data[:i], data[i:]] for i in range(1, len(data))]
    return splits


def check(data: bytes, expected: list[object], **kw: object) -> None:
    for chunks in ways(data):
        assert run(chunks, **dict(kw)) == expected, chunks


PE = "Protocol error: "

WELL_FORMED = [
    (frame(b"PING"), [[b"PING"]]),
    (frame(b"SET", b"k", b"v") * 3, [[b"SET", b"k", b"v"]] * 3),
    (frame(b"SET", b"k", b""), [[b"SET", b"k", b""]]),
    (frame(b"SET", b"k", b"a\r\nb\x00"), [[b"SET", b"k", b"a\r\nb\x00"]]),
    (frame(b"ECHO", b"+x") + frame(b"ECHO", b"=y"), [[b"ECHO", b"+x"], [b"ECHO", b"=y"]]),
    (frame(b"ECHO", b"(1") + frame(b"ECHO", b"*10000"), [[b"ECHO", b"(1"], [b"ECHO", b"*10000"]]),
    (b"*0\r\n" + frame(b"PING"), [[b"PING"]]),
    (b"*-1\r\n*-10\r\n" + frame(b"PING"), [[b"PING"]]),
    (
        frame(b"GET", b"k") + b"PING\r\n" + frame(b"GET", b"j"),
        [[b"GET", b"k"], [b"PING"], [b"GET", b"j"]],
    ),
    # Redis only skips the byte after a header's '\r' and the two after a payload
    (b"*1\rx$4\r\nPING\r\n", [[b"PING"]]),
    (b"*1\r\n$4\r\nPINGxx", [[b"PING"]]),
    (b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", [[b"ECHO", b""]]),
]


@pytest.mark.parametrize(("data", "expected"), WELL_FORMED)
def test_well_formed(data: bytes, expected: list[object]) -> None:
    check(data, expected)


ERRORS = [
    (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
    (b"*1\r\n:1\r\n", "expected '$', got ':'"),
    (b"*1\r\n*1\r\n$1\r\na\r\n", "expected '$', got '*'"),
    (b"*1\r\n=8\r\ntxt:PING\r\n", "expected '$', got '='"),
    (b"*1\r\n(12\r\n", "expected '$', got '('"),
    (b"*1\r\n~4294967295\r\n", "expected '$', got '~'"),
    (b"*1\r\n>4294967295\r\n", "expected '$', got '>'"),
    (b"*1\r\n%4294967295\r\n", "expected '$', got '%'"),
    (b"*1\r\n|1\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "expected '$', got '|'"),
    (b"*1\r\n*4294967295\r\n", "expected '$', got '*'"),
    (b"*1\r\n$-1\r\n", "invalid bulk length"),
    (b"*1\r\n$-0\r\n", "invalid bulk length"),
    (b"*1\r\n$+4\r\nPING\r\n", "invalid bulk length"),
    (b"*1\r\n$ 4\r\nPING\r\n", "invalid bulk length"),
    (b"*1\r\n$4 \r\nPING\r\n", "invalid bulk length"),
    (b"*1\r\n$04\r\nPING\r\n", "invalid bulk length"),
    (b"*1\r\n$1_0\r\n", "invalid bulk length"),
    (b"*1\r\n$x\r\n", "invalid bulk length"),
    (b"*1\r\n$\r\n", "invalid bulk length"),
    (b"*1\r\n$536870913\r\n", "invalid bulk length"),
    (b"*1\r\n$2147483648\r\n", "invalid bulk length"),
    (b"*1\r\n$4294967296\r\n", "invalid bulk length"),
    (b"*1\r\n$9223372036854775807\r\n", "invalid bulk length"),
    (b"*1\r\n$9223372036854775808\r\n", "invalid bulk length"),
    (b"*+1\r\n", "invalid multibulk length"),
    (b"* 1\r\n", "invalid multibulk length"),
    (b"*1 \r\n", "invalid multibulk length"),
    (b"*01\r\n", "invalid multibulk length"),
    (b"*-0\r\n", "invalid multibulk length"),
    (b"*1_0\r\n", "invalid multibulk length"),
    (b"*x\r\n", "invalid multibulk length"),
    (b"*\r\n", "invalid multibulk length"),
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*4294967296\r\n", "invalid multibulk length"),
    (b"*9223372036854775808\r\n", "invalid multibulk length"),
    (b"*-9223372036854775809\r\n", "invalid multibulk length"),
    (b'ECHO "ab\r\n', "unbalanced quotes in request"),
    (b'ECHO "ab"c\r\n', "unbalanced quotes in request"),
    (b"ECHO 'ab\r\n", "unbalanced quotes in request"),
    (b'ECHO "a\\"\r\n', "unbalanced quotes in request"),
    (b"ECHO 'a\\'\r\n", "unbalanced quotes in request"),
    (b'ECHO a"b c"d\r\n', "unbalanced quotes in request"),
]


@pytest.mark.parametrize(("data", "error"), ERRORS)
def test_protocol_errors(data: bytes, error: str) -> None:
    check(data, [PE + error])


def test_commands_before_an_error_are_returned_first() -> None:
    check(frame(b"PING") + b"*1\r\n+X\r\n", [[b"PING"], PE + "expected '$', got '+'"])


def test_expected_dollar_shows_the_raw_byte() -> None:
    reader = RequestReader()
    reader.feed(b"*1\r\n\xff\r\n")
    with pytest.raises(ProtocolError) as info:
        reader.gets()
    assert info.value.message == "Protocol error: expected '$', got '\udcff'"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"*1\r\n" + b"x" * (64 * 1024 + 1), "too big bulk count string"),
        (b"*" + b"1" * (64 * 1024 + 1), "too big mbulk count string"),
        (b"x" * (64 * 1024 + 1), "too big inline request"),
        (b"*1\r\n$" + b"1" * 70000 + b"\r\n", "invalid bulk length"),  # a CR exists: a number
    ],
)
def test_too_long_lines(data: bytes, error: str) -> None:
    assert run([data]) == [PE + error]
    assert run([data[:40000], data[40000:]]) == [PE + error]


def test_lines_at_the_limit_still_wait() -> None:
    assert run([b"*1\r\n$" + b"1" * (64 * 1024 - 2)]) == []
    assert run([b"PING " + b"x" * (64 * 1024 - 5)]) == []


def test_long_inline_line_with_newline_is_fine() -> None:
    assert run([b"ECHO " + b"x" * 70000 + b"\r\n"]) == [[b"ECHO", b"x" * 70000]]


def test_int_max_count_is_accepted_and_waits() -> None:
    check(b"*2147483647\r\n", [])
    check(b"*1\r\n$536870912\r\n", [])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PING\r\n", [[b"PING"]]),
        (b"PING\n", [[b"PING"]]),
        (b"\r\n\n\r\nPING\r\n", [[b"PING"]]),
        (b"   \r\n", []),
        (b"  SET  k   v \t\r\n", [[b"SET", b"k", b"v"]]),
        (b"ECHO \"a\\x41b\\n\" 'c\\'d'\r\n", [[b"ECHO", b"aAb\n", b"c'd"]]),
        (b'ECHO "\\xZZ\\q\\t\\r\\b\\a"\r\n', [[b"ECHO", b"xZZq\t\r\b\a"]]),
        (b"ECHO \"x y\" 'p q'\r\n", [[b"ECHO", b"x y", b"p q"]]),
        (b'ECHO ""\r\n', [[b"ECHO", b""]]),
        (b'ECHO ab"c d"\r\n', [[b"ECHO", b"abc d"]]),
        (b"ECHO \x0ba\x0bb\r\n", [[b"ECHO", b"a\x0bb"]]),
        (b"ECHO a\rb\r\n", [[b"ECHO", b"a", b"b"]]),
        (b"ECHO a\x00b\r\n", []),  # Redis' strchr stops at the NUL: the line is incomplete
    ],
)
def test_inline(data: bytes, expected: list[object]) -> None:
    check(data, expected)


def test_split_args_matches_sdssplitargs() -> None:
    assert split_args(b"") == []
    assert split_args(b'a "b c" d') == [b"a", b"b c", b"d"]
    assert split_args(b'"\\x4a\\x4B"') == [b"JK"]
    assert split_args(b"'\\n'") == [b"\\n"]  # no escapes in single quotes except \'
    assert split_args(b"a\x00 b") == [b"a"]


@pytest.mark.parametrize(
    "data",
    [b"POST / HTTP/1.1\r\n", b"Host: example.com\r\n", b"post\r\n", frame(b"HOST:", b"x")],
)
def test_http_probe(data: bytes) -> None:
    check(data, ["HTTP"])


def test_http_probe_after_a_valid_command() -> None:
    check(frame(b"PING") + b"POST /x HTTP/1.1\r\n", [[b"PING"], "HTTP"])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"*11\r\n", [PE + "unauthenticated multibulk length"]),
        (b"*10\r\n", []),
        (b"*1\r\n$16385\r\n", [PE + "unauthenticated bulk length"]),
        (b"*1\r\n$536870913\r\n", [PE + "invalid bulk length"]),
        (frame(b"AUTH", b"x" * 16384), [[b"AUTH", b"x" * 16384]]),
        (b"PING " + b"a " * 20 + b"\r\n", [[b"PING"] + [b"a"] * 20]),  # inline: no arg limit
    ],
)
def test_unauthenticated_limits(data: bytes, expected: list[object]) -> None:
    check(data, expected, unauthenticated=True)


def test_authentication_lifts_the_limits_for_the_next_frame() -> None:
    reader = RequestReader()
    reader.unauthenticated = True
    reader.feed(frame(b"AUTH", b"pw") + frame(*[b"x"] * 11))
    assert reader.gets() == [b"AUTH", b"pw"]
    reader.unauthenticated = False  # the connection does this after AUTH succeeds
    assert reader.gets() == [b"x"] * 11


def test_max_bulk_len_setting() -> None:
    check(frame(b"ECHO", b"x" * 16), [[b"ECHO", b"x" * 16]], max_bulk_len=16)
    check(frame(b"ECHO", b"x" * 17), [PE + "invalid bulk length"], max_bulk_len=16)


def test_huge_declared_lengths_do_not_allocate() -> None:
    tracemalloc.start()
    try:
        readers = []
        for header in (b"*2147483647\r\n", b"*1\r\n$536870912\r\n", b"*1000000\r\n$3\r\nSET\r\n"):
            for _ in range(20):
                reader = RequestReader()
                reader.feed(header + b"abc")
                assert reader.gets() is None
                readers.append(reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024


@pytest.mark.parametrize("kind", [b"*", b"~", b">", b"%"])
def test_nested_huge_counts_are_rejected_before_hiredis_preallocates(kind: bytes) -> None:
    """hiredis sizes a list from the header alone: 200M slots would be a 1.6 GB allocation."""
    tracemalloc.start()
    try:
        reader = RequestReader()
        reader.feed(b"*1\r\n" + kind + b"200000000\r\n")
        with pytest.raises(ProtocolError, match="expected"):
            reader.gets()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_buffer_holds_only_what_was_sent() -> None:
    reader = RequestReader()
    reader.feed(b"*1\r\n$536870912\r\n")
    for _ in range(10):
        reader.feed(b"x" * 1000)
        assert reader.gets() is None
    assert reader.buffered == len(b"*1\r\n$536870912\r\n") + 10000


def test_big_value_arriving_in_many_reads() -> None:
    value = bytes(range(256)) * 4096  # 1 MiB
    data = frame(b"SET", b"k", value) + frame(b"GET", b"k")
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    assert run(chunks) == [[b"SET", b"k", value], [b"GET", b"k"]]


def test_partial_frame_after_complete_ones_keeps_its_offset() -> None:
    data = frame(b"A") + b"*0\r\n" + frame(b"B", b"cc") + frame(b"SET", b"k", b"v" * 100)
    for cut in range(1, len(data)):
        assert run([data[:cut], data[cut:]]) == [[b"A"], [b"B", b"cc"], [b"SET", b"k", b"v" * 100]]


def test_nothing_then_gets_is_none() -> None:
    reader = RequestReader()
    assert reader.gets() is None
    reader.feed(b"")
    assert reader.gets() is None


@pytest.mark.parametrize(
    ("digits", "value"),
    [(b"0", 0), (b"12", 12), (b"-12", -12), (b"9223372036854775807", 2**63 - 1)]
    + [(b"-9223372036854775808", -(2**63))]
    + [(d, None) for d in (b"", b"-", b"+1", b" 1", b"1 ", b"01", b"-0", b"1_0", b"1e3")]
    + [(b"9223372036854775808", None), (b"\xd9\xa1", None), (b"00", None)],
)
def test_string2ll(digits: bytes, value: int | None) -> None:
    assert string2ll(digits) == value


arg_st = st.binary(max_size=40) | st.sampled_from([b"+x", b"\r\n", b"*1\r\n", b"$3\r\n", b"=x"])
request_st = st.lists(arg_st, min_size=1, max_size=6).filter(
    lambda args: args[0].upper() not in (b"POST", b"HOST:")
)


@settings(max_examples=300, deadline=None)
@given(requests=st.lists(request_st, min_size=1, max_size=8), data=st.data())
def test_any_chunking_of_well_formed_requests(
    requests: list[list[bytes]], data: st.DataObject
) -> None:
    wire = b"".join(frame(*args) for args in requests)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    assert run(chunks) == requests


@settings(max_examples=200, deadline=None)
@given(junk=st.binary(min_size=1, max_size=60), data=st.data())
def test_any_bytes_parse_the_same_whatever_the_chunking(junk: bytes, data: st.DataObject) -> None:
    """Garbage too: the fast path and the walker give the same requests and the same error."""
    whole = run([junk])
    cut = data.draw(st.integers(0, len(junk)))
    assert run([junk[:cut], junk[cut:]]) == whole
    assert run([junk[i : i + 1] for i in range(len(junk))]) == whole


def test_big_complete_frame_in_one_buffer() -> None:
    """A frame over 1 MiB that is complete in one buffer (behind a partial inline line)."""
    value = bytes(range(256)) * 8192  # 2 MiB
    reader = RequestReader()
    reader.feed(b"PING")
    assert reader.gets() is None
    reader.feed(b"\r\n" + frame(b"SET", b"k", value) + frame(b"GET", b"k"))
    assert reader.gets() == [b"PING"]
    assert reader.gets() == [b"SET", b"k", value]
    assert reader.gets() == [b"GET", b"k"]
    assert reader.gets() is None
