"""Reply encoder: handler values (see reply.py's table) to RESP2 or RESP3 bytes.

The only place the two protocol versions differ. Sans-I/O. `encode_into` appends pieces to a
list so a whole pipeline of replies is joined once (one write); `encode`/`encode_many` wrap it.

Type rules that catch bugs early: `str` and `float` are not reply types (raise TypeError: a
handler must return bytes, or `Double(x)`); a plain `bool` is an `int` (Redis' 0/1 replies stay
integers in RESP3), while `Bool(b)` is RESP3's `#t`/`#f`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from respdyn.errors import ReplyError
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

CRLF = b"\r\n"
_NULL2 = b"$-1\r\n"
_NULL3 = b"_\r\n"
_FIXED_STATUS = {id(OK): b"+OK\r\n", id(PONG): b"+PONG\r\n", id(QUEUED): b"+QUEUED\r\n"}
# Small integers and bulk headers are the bulk of all replies: precompute them.
_INTS = [b":%d\r\n" % i for i in range(-1, 1024)]
_BULK_HEADERS = [b"$%d\r\n" % i for i in range(1024)]


def format_double(x: float) -> bytes:
    """Redis 7.0's addReplyDouble text: `%.17g`, with `inf`/`-inf`/`nan` spelled out.

    Examples: 1.5 -> b"1.5", 3.0 -> b"3", 0.1 -> b"0.10000000000000001", 1e20 -> b"1e+20".
    """
    if math.isinf(x):
        return b"inf" if x > 0 else b"-inf"
    if math.isnan(x):
        return b"nan"
    return b"%.17g" % x


def encode(value: Any, protocol: int) -> bytes:
    """One reply as bytes (b"" for NO_REPLY)."""
    out: list[bytes] = []
    encode_into(value, protocol, out.append)
    return b"".join(out)


def encode_many(values: Iterable[Any], protocol: int) -> bytes:
    """Several replies joined, for one write (pipelining)."""
    out: list[bytes] = []
    put = out.append
    for value in values:
        encode_into(value, protocol, put)
    return b"".join(out)


def encode_into(value: Any, protocol: int, put: Callable[[bytes], Any]) -> None:
    """Append the encoding of `value` via `put` (e.g. `list.append`); the hot path."""
    t = type(value)
    if t is bytes:
        size = len(value)
        put(_BULK_HEADERS[size] if size < 1024 else b"$%d\r\n" % size)
        put(value)
        put(CRLF)
    elif t is int:
        put(_INTS[value + 1] if -1 <= value < 1023 else b":%d\r\n" % value)
    elif value is None:
        put(_NULL2 if protocol == 2 else _NULL3)
    elif t is Status:
        if value is OK:
            put(b"+OK\r\n")
        else:
            fixed = _FIXED_STATUS.get(id(value))
            put(fixed if fixed is not None else b"+" + _line(value.text) + CRLF)
    elif t is list or t is tuple:
        put(b"*%d\r\n" % len(value))
        for item in value:
            encode_into(item, protocol, put)
    elif isinstance(value, ReplyError):
        put(b"-" + _line(value.resp_text()) + CRLF)
    else:
        _encode_other(value, protocol, put)


def _encode_other(value: Any, protocol: int, put: Callable[[bytes], Any]) -> None:
    """The markers whose encoding depends on the protocol version, and the type errors."""
    resp3 = protocol >= 3
    t = type(value)
    if t is bool:
        put(b":1\r\n" if value else b":0\r\n")
    elif t is bytearray or t is memoryview:
        encode_into(bytes(value), protocol, put)
    elif t is int or isinstance(value, int):  # int subclasses (IntEnum...)
        put(b":%d\r\n" % int(value))
    elif t is Map:
        pairs = value.items()
        put((b"%%%d\r\n" if resp3 else b"*%d\r\n") % (len(pairs) * (1 if resp3 else 2)))
        for k, v in pairs:
            encode_into(k, protocol, put)
            encode_into(v, protocol, put)
    elif t is Set or t is Push:
        items = value.items
        mark = (b"~" if t is Set else b">") if resp3 else b"*"
        put(mark + b"%d\r\n" % len(items))
        for item in items:
            encode_into(item, protocol, put)
    elif t is Double:
        text = format_double(value.value)
        put(b"," + text + CRLF if resp3 else b"$%d\r\n%b\r\n" % (len(text), text))
    elif t is Bool:
        if resp3:
            put(b"#t\r\n" if value.value else b"#f\r\n")
        else:
            put(b":1\r\n" if value.value else b":0\r\n")
    elif t is Verbatim:
        if resp3:
            put(b"=%d\r\n%b:%b\r\n" % (len(value.text) + 4, value.format[:3], value.text))
        else:
            encode_into(bytes(value.text), protocol, put)
    elif t is BigNumber:
        text = b"%d" % value.value
        put(b"(" + text + CRLF if resp3 else b"$%d\r\n%b\r\n" % (len(text), text))
    elif value is NULL_ARRAY:
        put(_NULL3 if resp3 else b"*-1\r\n")
    elif value is NO_REPLY:
        pass
    elif isinstance(value, Status):
        put(b"+" + _line(value.text) + CRLF)
    else:
        raise TypeError(f"not a reply value: {type(value).__name__} {value!r:.80}")


def _line(text: str) -> bytes:
    """Status/error text as one line; surrogateescape keeps raw client bytes as they were."""
    data = text.encode("utf-8", "surrogateescape")
    if b"\r" in data or b"\n" in data:
        data = data.replace(b"\r", b" ").replace(b"\n", b" ")
    return data
