"""Encoder: every reply marker in RESP2 and RESP3, and Redis 7.0's double formatting.

Expected bytes were read from redis-server 7.0 where a command produces the shape (ZSCORE for
doubles, HELLO 3 for maps, ...); the table in reply.py is the contract.
"""

from __future__ import annotations

import math

import hiredis
import pytest

from respdyn.errors import ProtocolError, ReplyError, WrongType
from respdyn.protocol.encoder import encode, encode_into, encode_many, format_double
from respdyn.protocol.reply import (
    NO_REPLY,
    NULL_ARRAY,
    OK,
    PONG,
    QUEUED,
    BigNumber,
    Bool,
    Double,
    Map,
    Push,
    Set,
    Status,
    Verbatim,
)

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
NESTED = b"*2\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n*0\r\n"
CASES = [
    # value, RESP2, RESP3
    (b"hi", b"$2\r\nhi\r\n", b"$2\r\nhi\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"x" * 2000, b"$2000\r\n" + b"x" * 2000 + b"\r\n", b"$2000\r\n" + b"x" * 2000 + b"\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-1, b":-1\r\n", b":-1\r\n"),
    (-2, b":-2\r\n", b":-2\r\n"),
    (1023, b":1023\r\n", b":1023\r\n"),
    (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (True, b":1\r\n", b":1\r\n"),
    (False, b":0\r\n", b":0\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (PONG, b"+PONG\r\n", b"+PONG\r\n"),
    (QUEUED, b"+QUEUED\r\n", b"+QUEUED\r\n"),
    (Status("FOO BAR"), b"+FOO BAR\r\n", b"+FOO BAR\r\n"),
    (Status("a\r\nb"), b"+a  b\r\n", b"+a  b\r\n"),
    (ReplyError("boom"), b"-ERR boom\r\n", b"-ERR boom\r\n"),
    (WrongType(), WRONGTYPE, WRONGTYPE),
    (ProtocolError("x"), b"-ERR Protocol error: x\r\n", b"-ERR Protocol error: x\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ((b"a", [b"b", []]), NESTED, NESTED),
    (
        Map({b"a": 1, b"b": [b"c"]}),
        b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*1\r\n$1\r\nc\r\n",
        b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*1\r\n$1\r\nc\r\n",
    ),
    (Map([(b"k", None)]), b"*2\r\n$1\r\nk\r\n$-1\r\n", b"%1\r\n$1\r\nk\r\n_\r\n"),
    (Set([b"x", b"y"]), b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n", b"~2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (Double(math.inf), b"$3\r\ninf\r\n", b",inf\r\n"),
    (Double(-math.inf), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (Double(math.nan), b"$3\r\nnan\r\n", b",nan\r\n"),
    (Bool(True), b":1\r\n", b"#t\r\n"),
    (Bool(False), b":0\r\n", b"#f\r\n"),
    (Verbatim(b"hello"), b"$5\r\nhello\r\n", b"=9\r\ntxt:hello\r\n"),
    (Verbatim(b"# x", b"mkd"), b"$3\r\n# x\r\n", b"=7\r\nmkd:# x\r\n"),
    (
        Push([b"message", b"ch", b"m"]),
        b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n",
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n",
    ),
    (BigNumber(10**30), b"$31\r\n1" + b"0" * 30 + b"\r\n", b"(1" + b"0" * 30 + b"\r\n"),
    (NO_REPLY, b"", b""),
    (bytearray(b"ab"), b"$2\r\nab\r\n", b"$2\r\nab\r\n"),
]


@pytest.mark.parametrize(("value", "resp2", "resp3"), CASES)
def test_encode(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3


@pytest.mark.parametrize(("value", "resp2", "resp3"), [c for c in CASES if c[1]])
def test_hiredis_parses_what_we_encode(value: object, resp2: bytes, resp3: bytes) -> None:
    """An independent parser must see exactly one complete reply in each encoding."""
    for data in (resp2, resp3):
        reader = hiredis.Reader()
        reader.feed(data)
        reader.gets()
        assert reader.gets() is False
        assert not reader.has_data()


def test_encode_many_is_the_concatenation() -> None:
    values = [OK, b"v", 7, None, [b"a"], ReplyError("x"), NO_REPLY]
    for protocol in (2, 3):
        assert encode_many(values, protocol) == b"".join(encode(v, protocol) for v in values)


def test_encode_into_appends_to_a_bytearray() -> None:
    out = bytearray(b"+X\r\n")
    encode_into([b"a", 1], 2, out.extend)
    assert out == b"+X\r\n*2\r\n$1\r\na\r\n:1\r\n"


def test_error_text_keeps_raw_client_bytes() -> None:
    """A wire byte decoded with surrogateescape goes back out as the same byte."""
    raw = b"\xff".decode("utf-8", "surrogateescape")
    err = ProtocolError(f"expected '$', got '{raw}'")
    assert encode(err, 2) == b"-ERR Protocol error: expected '$', got '\xff'\r\n"


@pytest.mark.parametrize("bad", ["text", 1.5, object(), {b"a": 1}, {b"a"}, [b"ok", "nested"]])
def test_handler_bugs_raise_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        encode(bad, 2)


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (1.5, b"1.5"),
        (3.0, b"3"),
        (0.1, b"0.10000000000000001"),  # redis 7.0 ZSCORE after ZADD 0.1
        (1e20, b"1e+20"),
        (123456789012345678.0, b"1.2345678901234568e+17"),
        (1e-5, b"1.0000000000000001e-05"),
        (2.5e-310, b"2.5000000000000171e-310"),  # subnormal
        (-2.5, b"-2.5"),
        (-0.0, b"-0"),
        (1e17, b"1e+17"),
        (12345678901234567.0, b"12345678901234568"),
        (math.inf, b"inf"),
        (-math.inf, b"-inf"),
        (math.nan, b"nan"),
    ],
)
def test_format_double(x: float, text: bytes) -> None:
    assert format_double(x) == text
