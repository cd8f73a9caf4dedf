"""A small RESP2/RESP3 reply reader and request encoder, for comparing servers byte for byte.

The reader frames one reply at a time and keeps its raw bytes next to a parsed value, so a test
can compare the exact bytes first and fall back to a normalised form (differences.py) only when a
difference is declared. Parsed values keep the RESP type: status, error, double, big number,
verbatim, map, set and push replies become tagged tuples/classes, so `+OK` never equals `$2 OK`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tagged:
    """A reply whose RESP type matters beyond its Python value: kind is the type byte."""

    kind: str  #: "+", "-", ",", "(", "=", "%", "~", ">", "#", "_"
    value: Any


def encode_command(argv: list[bytes]) -> bytes:
    """A request as a RESP array of bulk strings, as every client library sends it."""
    parts = [b"*%d\r\n" % len(argv)]
    for arg in argv:
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


class ReplyReader:
    """Frames replies from a socket; `read()` returns (value, raw bytes) of the next one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def _line(self) -> bytes:
        while (end := self.buf.find(b"\r\n", self.pos)) < 0:
            self._fill()
        line = bytes(self.buf[self.pos : end])
        self.pos = end + 2
        return line

    def _exact(self, size: int) -> bytes:
        while len(self.buf) < self.pos + size + 2:
            self._fill()
        data = bytes(self.buf[self.pos : self.pos + size])
        self.pos += size + 2
        return data

    def read(self) -> tuple[Any, bytes]:
        start = self.pos
        value = self._value()
        raw = bytes(self.buf[start : self.pos])
        del self.buf[: self.pos]
        self.pos = 0
        return value, raw

    def _value(self) -> Any:
        line = self._line()
        kind, body = chr(line[0]), line[1:]
        if kind in "+-,(":
            return Tagged(kind, body)
        if kind == ":":
            return int(body)
        if kind == "#":
            return Tagged("#", body == b"t")
        if kind == "_":
            return None
        if kind in "$=!":
            size = int(body)
            if size < 0:
                return None
            data = self._exact(size)
            return data if kind == "$" else Tagged("-" if kind == "!" else "=", data)
        if kind in "*~>":
            size = int(body)
            if size < 0:
                return None
            items = [self._value() for _ in range(size)]
            return items if kind == "*" else Tagged(kind, items)
        if kind in "%|":
            pairs = [(self._value(), self._value()) for _ in range(int(body))]
            if kind == "|":  # an attribute precedes the real reply: keep both
                return Tagged("|", (pairs, self._value()))
            return Tagged("%", pairs)
        raise ConnectionError(f"unexpected reply line {line!r}")


class RawConnection:
    """One client connection speaking raw RESP: the same bytes go to every server."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.addr = (host, port)
        self.sock = socket.create_connection(self.addr, timeout=timeout)
        self.reader = ReplyReader(self.sock)

    def call(self, argv: list[bytes]) -> tuple[Any, bytes]:
        self.sock.sendall(encode_command(argv))
        return self.reader.read()

    def closed_by_peer(self, timeout: float = 2.0) -> bool:
        """True when the server has closed the connection (after QUIT)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (TimeoutError, OSError):
            return False

    def close(self) -> None:
        self.sock.close()


def is_error(value: Any) -> bool:
    return isinstance(value, Tagged) and value.kind == "-"


def to_text(value: Any) -> str:
    """A short, readable form of a reply for assertion messages and the report."""
    if isinstance(value, Tagged):
        return f"{value.kind}{to_text(value.value)}" if value.kind != "-" else (
            "(error) " + value.value.decode(errors="replace"))
    if isinstance(value, bytes):
        return repr(value)[1:]
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_text(v) for v in value) + "]"
    return repr(value)
