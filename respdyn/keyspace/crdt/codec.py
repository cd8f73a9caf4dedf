"""Unsigned LEB128 varints and length-prefixed bytes, shared by the CRDT payload codecs.

    uvarint := 7 bits a byte, low group first, high bit set on all but the last byte
    svarint := zigzag(n) as uvarint (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...)
    blob    := length: uvarint, bytes[length]
"""

from __future__ import annotations

import struct

_F64 = struct.Struct("<d")


class PayloadError(ValueError):
    """Bytes are not a payload of the expected format (truncated, bad format byte)."""


class Writer:
    __slots__ = ("buf",)

    def __init__(self, format_byte: int | None = None) -> None:
        self.buf = bytearray() if format_byte is None else bytearray((format_byte,))

    def uint(self, n: int) -> None:
        buf = self.buf
        while n > 0x7F:
            buf.append((n & 0x7F) | 0x80)
            n >>= 7
        buf.append(n)

    def sint(self, n: int) -> None:
        self.uint(n * 2 if n >= 0 else -n * 2 - 1)

    def blob(self, data: bytes) -> None:
        self.uint(len(data))
        self.buf += data

    def f64(self, x: float) -> None:
        self.buf += _F64.pack(x)

    def raw(self, data: bytes) -> None:
        self.buf += data

    def bytes(self) -> bytes:
        return bytes(self.buf)


class Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise PayloadError("payload truncated")
        self.pos += 1
        return self.data[self.pos - 1]

    def uint(self) -> int:
        data, pos, shift, n = self.data, self.pos, 0, 0
        while True:
            if pos >= len(data):
                raise PayloadError("payload truncated in a varint")
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            if b < 0x80:
                self.pos = pos
                return n
            shift += 7

    def sint(self) -> int:
        z = self.uint()
        return z >> 1 if not z & 1 else -((z + 1) >> 1)

    def blob(self) -> bytes:
        size = self.uint()
        end = self.pos + size
        if end > len(self.data):
            raise PayloadError("payload truncated in a string")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def f64(self) -> float:
        if self.pos + 8 > len(self.data):
            raise PayloadError("payload truncated in a double")
        (x,) = _F64.unpack_from(self.data, self.pos)
        self.pos += 8
        return x

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def done(self) -> bool:
        return self.pos >= len(self.data)


def expect_format(reader: Reader, expected: int, what: str) -> None:
    got = reader.byte()
    if got != expected:
        raise PayloadError(f"{what}: unknown format byte 0x{got:02x}")


# --- fast paths for the per-element loops (a method call per varint costs ~1 us) ------------

_ONE_BYTE = [bytes((i,)) for i in range(128)]


def uvarint(n: int) -> bytes:
    if n < 128:
        return _ONE_BYTE[n]
    w = Writer()
    w.uint(n)
    return w.bytes()


def read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); IndexError when the data ends inside the varint."""
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    n, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, pos
        shift += 7
