"""Request reader: bytes in, argument lists out, with Redis 7's framing rules and limits.

Sans-I/O (no socket, no gevent): the connection feeds whatever it read, then calls `gets()`
until it returns None. Two request shapes, chosen by the first byte (as networking.c does):

- multibulk: `*N\\r\\n` then N times `$L\\r\\n<L bytes>\\r\\n`
- inline: anything else, one line split like Redis' `sdssplitargs` (quotes, `\\xHH` escapes)

Why hiredis plus a validator: `hiredis.Reader` parses *replies*, so on its own it accepts any
top-level type, `+`/`:`/`*` elements, `$-1`, counts up to 2^32 and preallocates a list of the
declared count on the header alone. So every multibulk frame is first walked header by header
with a strict check (one regex match per header; `string2ll` rules: no sign but `-`, no spaces,
no leading zeros, no underscores, < 21 chars) and only a *complete, valid* frame is handed to
hiredis, which builds the argument list in C. The walk is incremental (a frame that arrives in
many reads is not re-walked), never allocates for a declared length, and holds only the bytes
the client actually sent: at most the declared (≤ limit) size of the frame in progress.

Deliberate differences from Redis, both on garbage input: a NUL byte inside a `*`/`$` header
line is rejected at once (Redis' `strchr` stops at the NUL and waits for more input).
"""

from __future__ import annotations

import re
from collections import deque

import hiredis

from respdyn.errors import HttpProbe, ProtocolError

INT_MAX = 2**31 - 1
LLONG_MAX = 2**63 - 1
#: Redis' PROTO_INLINE_MAX_SIZE: longest inline line / `*`/`$` header without a CR or LF.
PROTO_INLINE_MAX_SIZE = 64 * 1024
#: CVE-2021-32675: limits for a client that has not authenticated yet (password set).
UNAUTH_MAX_ARGS = 10
UNAUTH_MAX_BULK = 16384

_STAR = 0x2A  # '*'
#: Frames larger than this are sliced from our buffer instead of being fed to hiredis: the
#: walker has already located every argument, and hiredis would add two copies of a large
#: value (its buffer and its result) to the peak memory of a big SET.
_SLICE_ABOVE = 1024 * 1024
# Fast paths: a canonical header that string2ll accepts and that ends in CRLF.
_COUNT_RE = re.compile(rb"\*(0|-?[1-9][0-9]{0,17})\r\n")
_BULK_RE = re.compile(rb"\$(0|[1-9][0-9]{0,17})\r\n")
_LL_RE = re.compile(rb"(?:0|-?[1-9][0-9]{0,19})\Z")


def _all_cases(word: bytes) -> set[bytes]:
    """Every upper/lower-case spelling of an ASCII word."""
    spellings = {b""}
    for ch in word:
        alts = {bytes([ch]).lower(), bytes([ch]).upper()}
        spellings = {head + alt for head in spellings for alt in alts}
    return spellings


# One set lookup per request instead of .upper() and a compare.
_HTTP_ANY_CASE = frozenset(_all_cases(b"POST") | _all_cases(b"HOST:"))
# Bytes that would make hiredis accept a non-canonical frame as a list of bytes (`+`, `=`, `(`
# and `|` elements) or preallocate a big list (`*N` with N >= 1000, `~N`, `>N`, `%N`): such
# reads take the walker.
# Measured: `int in bytes` is a bare memchr (45 ns on a short read; `b"+" in data` costs 4x
# that); the 3-byte search runs only when the rare byte occurs (CRLF is everywhere: 1 us per
# 700 bytes); a regex alternation over the read took 8 us.
# `~`, `>` and `%` elements would come back as non-bytes anyway, but hiredis preallocates
# their declared size first, like `*N`'s.
_SUSPECT_PAIRS = tuple((byte, b"\r\n" + bytes([byte])) for byte in b"+=(|~>%")
_BIG_COUNT_RE = re.compile(rb"\*\d\d\d\d")


class _NotCanonical(Exception):
    """hiredis returned something a canonical request stream cannot produce."""


def string2ll(digits: bytes) -> int | None:
    """Redis' `string2ll`: the only integer syntax the wire accepts (None = not a number)."""
    if len(digits) >= 21 or not _LL_RE.match(digits):
        return None
    value = int(digits)  # safe: the regex admitted only an optional '-' and ASCII digits
    return value if -LLONG_MAX - 1 <= value <= LLONG_MAX else None


class RequestReader:
    """Incremental parser for client requests; raises ProtocolError / HttpProbe on garbage."""

    __slots__ = (
        "_buf",
        "_fstart",
        "_hi",
        "_left",
        "_need",
        "_odd",
        "_pos",
        "_ready",
        "_scan",
        "max_bulk_len",
        "max_inline",
        "unauthenticated",
    )

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, max_inline: int = 64 * 1024) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_inline = max_inline
        #: Redis' authRequired(c): set by the connection before each gets() that matters.
        self.unauthenticated = False
        self._hi = hiredis.Reader()
        self._buf: bytes | bytearray = b""
        self._pos = 0  # start of the unconsumed bytes in _buf
        # State of the multibulk frame being validated (it starts at _pos when _left >= 0).
        self._left = -1  # elements still to validate; -1 = no frame in progress
        self._scan = 0  # where validation resumes
        self._fstart = 0
        self._need = 0  # len(_buf) needed before a new walk can make progress
        self._odd = False  # a header ended in '\r' + non-'\n' (Redis accepts it; hiredis not)
        self._ready: deque[list[bytes]] = deque()  # frames parsed by the whole-read fast path

    # -- input ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Append bytes read from the client (kept by reference when nothing is pending)."""
        if not data:
            return
        if self._pos >= len(self._buf):
            if type(data) is not bytes:
                data = bytes(data)
            if self._left < 0 and not self.unauthenticated and self._parse_read(data):
                return
            self._buf = data
            self._pos = self._scan = self._fstart = self._need = 0
            return
        buf = self._buf
        if type(buf) is not bytearray:  # first partial tail: copy once, then append in place
            buf = self._buf = bytearray(memoryview(buf)[self._pos :])
            self._shift(self._pos)
        elif self._pos:
            del buf[: self._pos]  # O(1)-ish: CPython moves bytearray's start offset
            self._shift(self._pos)
        buf += data

    def _parse_read(self, data: bytes) -> bool:
        """Fast path: let hiredis parse a whole read that starts on a frame boundary.

        Safe because every way hiredis could accept a non-canonical frame yields either a
        non-list frame, a non-bytes element, a hiredis error, or one of the byte pairs that
        `_suspect` rejects up front; then the read goes to the strict walker instead (no
        request was returned yet, so nothing ran). A partial frame at the end is handed to
        the walker from its exact offset, so its limits and errors apply as soon as it arrives.
        """
        if data[0] != _STAR or len(data) > self.max_bulk_len or _suspect(data):
            return False
        hi = self._hi
        hi.feed(data)
        frames = []
        empty = 0  # `*0` frames: skipped like Redis does, but counted for the tail offset
        try:
            while (frame := hi.gets()) is not False:
                if type(frame) is not list:
                    raise _NotCanonical
                for arg in frame:
                    if type(arg) is not bytes:
                        raise _NotCanonical
                if frame:
                    if frame[0] in _HTTP_ANY_CASE:
                        raise _NotCanonical  # the walker raises HttpProbe in order
                    frames.append(frame)
                else:
                    empty += 1
        except (_NotCanonical, hiredis.ProtocolError, MemoryError):
            self._hi = hiredis.Reader()
            return False
        self._ready.extend(frames)
        if not _ends_on_boundary(hi):  # a partial frame: the walker takes over where it starts
            self._hi = hiredis.Reader()
            self._buf = data
            self._pos = _frames_size(frames) + 4 * empty
            self._scan = self._fstart = self._need = self._pos
        else:
            self._buf = b""
            self._pos = 0
        return True

    def _shift(self, n: int) -> None:
        self._scan -= n
        self._fstart -= n
        self._need -= n
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Unparsed bytes received (for client-query-buffer-limit; parsed requests waiting in
        the queue come from one read, so they are bounded by the read size)."""
        return len(self._buf) - self._pos

    # -- output -----------------------------------------------------------------------------

    def gets(self) -> list[bytes] | None:
        """The next complete request, or None when more bytes are needed."""
        if self._ready:
            return self._ready.popleft()  # checked by _parse_read, HTTP probe included
        if self._pos >= len(self._buf):
            return None  # everything read was parsed (the end of every batch)
        if self._left < 0:
            # Fast path: a whole, canonical frame at the front of the buffer, walked in one go.
            buf, pos = self._buf, self._pos
            m = _COUNT_RE.match(buf, pos)
            if m is not None:
                count = int(m[1])
                unauth = self.unauthenticated
                if 0 < count <= (UNAUTH_MAX_ARGS if unauth else INT_MAX):
                    limit = UNAUTH_MAX_BULK if unauth else self.max_bulk_len
                    n = len(buf)
                    scan = m.end()
                    bulk = _BULK_RE.match
                    while count:
                        m = bulk(buf, scan)
                        if m is None:
                            break
                        size = int(m[1])
                        if size > limit:
                            break
                        scan = m.end() + size + 2
                        if scan > n:
                            break
                        count -= 1
                    if not count:
                        if scan - pos > _SLICE_ABOVE:
                            args = _slice_frame(buf, pos, scan)
                        else:
                            hi = self._hi
                            hi.feed(buf, pos, scan - pos)
                            args = hi.gets()
                        self._pos = scan
                        first = args[0]
                        if first in _HTTP_ANY_CASE:
                            raise HttpProbe(first.decode("latin-1"))
                        return args
        return self._gets_slow()

    def _gets_slow(self) -> list[bytes] | None:
        """Everything but a complete canonical frame: partial input, inline, errors, `*0`."""
        while True:
            buf = self._buf
            n = len(buf)
            pos = self._pos
            if pos >= n or self._need > n:
                return None
            if self._left < 0 and buf[pos] != _STAR:
                args = self._inline(buf, pos, n)
            else:
                args = self._multibulk(buf, n)
            if args is None:
                return None
            if args:  # `*0`, `*-1` and empty lines are skipped, as Redis does
                first = args[0]
                if first in _HTTP_ANY_CASE:
                    raise HttpProbe(first.decode("latin-1"))
                return args

    def _multibulk(self, buf: bytes | bytearray, n: int) -> list[bytes] | None:
        if self._left < 0:
            pos = self._pos
            self._odd = False
            m = _COUNT_RE.match(buf, pos)
            if m is not None:
                count = int(m.group(1))
                scan = m.end()
            else:
                parsed = self._header(buf, pos, n, b"*")
                if parsed is None:
                    return None
                count, scan = parsed
            if count > INT_MAX:
                raise ProtocolError("invalid multibulk length")
            if count <= 0:
                self._pos = scan
                return []
            if self.unauthenticated and count > UNAUTH_MAX_ARGS:
                raise ProtocolError("unauthenticated multibulk length")
            self._fstart, self._scan, self._left = pos, scan, count
        if not self._walk(buf, n):
            return None
        start, end = self._fstart, self._scan
        self._pos, self._left = end, -1
        if self._odd or end - start > _SLICE_ABOVE:
            return _slice_frame(buf, start, end)
        hi = self._hi
        hi.feed(buf, start, end - start)
        return hi.gets()

    def _walk(self, buf: bytes | bytearray, n: int) -> bool:
        """Validate the `$` headers of the current frame; True when the frame is complete."""
        scan, left = self._scan, self._left
        match = _BULK_RE.match
        limit = UNAUTH_MAX_BULK if self.unauthenticated else self.max_bulk_len
        try:
            while left:
                m = match(buf, scan)
                if m is not None:
                    size = int(m.group(1))
                    body = m.end()
                else:
                    parsed = self._header(buf, scan, n, b"$")
                    if parsed is None:
                        return False
                    size, body = parsed
                if size > limit or size < 0:
                    if size < 0 or size > self.max_bulk_len:
                        raise ProtocolError("invalid bulk length")
                    raise ProtocolError("unauthenticated bulk length")
                end = body + size + 2
                if end > n:
                    self._need = end  # wait for the payload without re-walking
                    return False
                scan = end
                left -= 1
            return True
        finally:
            self._scan, self._left = scan, left

    def _header(
        self, buf: bytes | bytearray, pos: int, n: int, kind: bytes
    ) -> tuple[int, int] | None:
        """Slow path for a `*`/`$` line: Redis' exact checks and errors, or None for more bytes."""
        cr = buf.find(b"\r", pos)
        if cr < 0:
            if n - pos > self.max_inline:
                what = "mbulk" if kind == b"*" else "bulk"
                raise ProtocolError(f"too big {what} count string")
            self._need = n + 1
            return None
        if cr + 1 >= n:  # the byte after '\r' must be there too
            self._need = cr + 2
            return None
        if buf[pos] != kind[0]:
            got = bytes(buf[pos : pos + 1]).decode("utf-8", "surrogateescape")
            raise ProtocolError(f"expected '$', got '{got}'")
        value = string2ll(bytes(buf[pos + 1 : cr]))
        if value is None:
            raise ProtocolError(
                "invalid multibulk length" if kind == b"*" else "invalid bulk length"
            )
        if buf[cr + 1] != 0x0A:
            self._odd = True
        return value, cr + 2

    def _inline(self, buf: bytes | bytearray, pos: int, n: int) -> list[bytes] | None:
        nl = buf.find(b"\n", pos)
        if nl >= 0 and buf.find(b"\0", pos, nl) >= 0:
            nl = -1  # Redis' strchr stops at a NUL: the line is not complete yet
        if nl < 0:
            if n - pos > self.max_inline:
                raise ProtocolError("too big inline request")
            self._need = n + 1
            return None
        end = nl - 1 if nl > pos and buf[nl - 1] == 0x0D else nl
        args = split_args(bytes(buf[pos:end]))
        self._pos = nl + 1
        return args


def _suspect(data: bytes) -> bool:
    """Whether a read needs the strict walker (see _SUSPECT_PAIRS)."""
    for byte, pair in _SUSPECT_PAIRS:
        if byte in data and pair in data:
            return True
    return _BIG_COUNT_RE.search(data) is not None


def _ends_on_boundary(hi: hiredis.Reader) -> bool:
    """Whether hiredis stopped exactly between frames (its `has_data()` cannot tell: it has
    already consumed the type byte of a partial frame). Feed the 4-byte empty frame: it comes
    back as `[]` first only if no partial frame was pending (a pending one would absorb at
    least one of its bytes, leaving too few for another `*0\\r\\n`)."""
    hi.feed(b"*0\r\n")
    try:
        return hi.gets() == []
    except hiredis.ProtocolError:
        return False


def _frames_size(frames: list[list[bytes]]) -> int:
    """Wire size of canonical non-empty frames; used only when a read ends inside a frame."""
    total = 0
    for frame in frames:
        total += 3 + len(str(len(frame)))
        for arg in frame:
            total += 5 + len(str(len(arg))) + len(arg)
    return total


def _slice_frame(buf: bytes | bytearray, start: int, end: int) -> list[bytes]:
    """Arguments of an already validated frame (big, or with lines ending in '\\r' + any)."""
    pos = buf.find(b"\r", start) + 2
    args = []
    while pos < end:
        cr = buf.find(b"\r", pos)
        size = int(buf[pos + 1 : cr])
        args.append(bytes(buf[cr + 2 : cr + 2 + size]))
        pos = cr + 2 + size + 2
    return args


# -- inline commands ----------------------------------------------------------------------

_PLAIN_SPLIT_UNSAFE = re.compile(rb"[\"'\x00\x0b\x0c]")
_SPACE = b" \t\n\r\x0b\x0c"  # C isspace()
_TOKEN_END = b" \n\r\t"  # an unquoted token ends here (and at the end of the line)
_HEX = b"0123456789abcdefABCDEF"
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_UNBALANCED = "unbalanced quotes in request"


def split_args(line: bytes) -> list[bytes]:
    """Split an inline request like Redis' `sdssplitargs`; raise on unbalanced quotes."""
    if not _PLAIN_SPLIT_UNSAFE.search(line):
        return line.split()  # same result when there are no quotes, NULs, \\v or \\f
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]  # a C string ends at the first NUL
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        token, i = _token(line, i, n)
        args.append(token)


def _token(line: bytes, i: int, n: int) -> tuple[bytes, int]:
    out = bytearray()
    quote = 0  # 0, '"' or "'"
    while True:
        c = line[i] if i < n else 0
        if quote == 0x22:  # "..."
            if c == 0x5C and i + 1 < n and line[i + 1] == 0x78 and _is_hex2(line, i + 2):
                out.append(int(line[i + 2 : i + 4], 16))
                i += 4
                continue
            if c == 0x5C and i + 1 < n:
                nxt = line[i + 1]
                out += _ESCAPES.get(nxt, bytes((nxt,)))
                i += 2
                continue
            if c == 0x22:
                return _close_quote(line, i, n, out)
            if c == 0:
                raise ProtocolError(_UNBALANCED)
            out.append(c)
        elif quote == 0x27:  # '...'
            if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                out.append(0x27)
                i += 2
                continue
            if c == 0x27:
                return _close_quote(line, i, n, out)
            if c == 0:
                raise ProtocolError(_UNBALANCED)
            out.append(c)
        elif c == 0 or c in _TOKEN_END:
            return bytes(out), i + 1 if i < n else i
        elif c in (0x22, 0x27):
            quote = c
        else:
            out.append(c)
        i += 1


def _is_hex2(line: bytes, i: int) -> bool:
    return i + 1 < len(line) and line[i] in _HEX and line[i + 1] in _HEX


def _close_quote(line: bytes, i: int, n: int, out: bytearray) -> tuple[bytes, int]:
    """A closing quote must be followed by a space or the end of the line."""
    if i + 1 < n and line[i + 1] not in _SPACE:
        raise ProtocolError(_UNBALANCED)
    return bytes(out), i + 2
