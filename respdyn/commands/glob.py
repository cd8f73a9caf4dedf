"""Redis' glob matching (KEYS, SCAN MATCH, and anything else that takes a Redis pattern),
with Redis' exact semantics but in linear-ish time.

Semantics follow Redis 7's `stringmatchlen`, byte for byte:
- `*` any run of bytes, `?` any one byte, `\\x` the byte x literally (a trailing `\\` is literal);
- `[abc]`, `[^abc]`, `[a-z]` (reversed ranges are swapped; range ends compare as *signed*
  chars, as C's `char` does on x86-64), `\\x` inside a class is literal x; an unterminated
  class runs to the end of the pattern, and `[a-]` is the range from `a` to `]`;
- quirk kept on purpose: the empty string matches only the empty pattern (`*` does not match
  it; KEYS and SCAN short-cut the plain `*` pattern before matching).

Why not `re`/`fnmatch`: their translations backtrack, and Redis' own recursive matcher was
exponential on patterns like `*a*a*a*a*b` (CVE-2022-36021). Every token but `*` consumes exactly
one byte, so the classic greedy algorithm that only ever backtracks to the most recent star is
exact and takes at most len(string) * len(tokens) steps.
"""

from __future__ import annotations

from collections.abc import Callable

#: a compiled pattern token: None for `*`, else a 256-entry table (1 = the byte matches)
Token = bytes | None

_ALL = bytes([1]) * 256


def _signed(c: int) -> int:
    return c - 256 if c >= 128 else c


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def _literal(c: int, nocase: bool) -> bytearray:
    table = bytearray(256)
    table[c] = 1
    if nocase:
        for other in range(256):
            if _lower(other) == _lower(c):
                table[other] = 1
    return table


def _add_range(table: bytearray, start: int, end: int, nocase: bool) -> None:
    if nocase:
        start, end = _lower(start), _lower(end)
    lo, hi = sorted((_signed(start), _signed(end)))
    for c in range(256):
        value = _signed(_lower(c) if nocase else c)
        if lo <= value <= hi:
            table[c] = 1


def _parse_class(pattern: bytes, i: int, nocase: bool) -> tuple[bytes, int]:
    """The table of the class starting after `[` at `i`, and the index after its `]`."""
    n = len(pattern)
    negate = i < n and pattern[i] == 0x5E  # ^
    if negate:
        i += 1
    table = bytearray(256)
    while i < n:
        c = pattern[i]
        if c == 0x5C and n - i >= 2:  # backslash: next byte literally
            i += 1
            table = _or(table, _literal(pattern[i], nocase))
        elif c == 0x5D:  # ]
            i += 1
            break
        elif n - i >= 3 and pattern[i + 1] == 0x2D:  # a-z
            _add_range(table, c, pattern[i + 2], nocase)
            i += 2
        else:
            table = _or(table, _literal(c, nocase))
        i += 1
    if negate:
        table = bytearray(1 - b for b in table)
    return bytes(table), i


def _or(a: bytearray, b: bytearray) -> bytearray:
    return bytearray(x | y for x, y in zip(a, b, strict=True))


def tokenize(pattern: bytes, nocase: bool = False) -> list[Token]:
    """The pattern as tokens; consecutive stars collapse into one."""
    tokens: list[Token] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # *
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
            i += 1
        elif c == 0x3F:  # ?
            tokens.append(_ALL)
            i += 1
        elif c == 0x5B:  # [
            table, i = _parse_class(pattern, i + 1, nocase)
            tokens.append(table)
        else:
            if c == 0x5C and n - i >= 2:  # backslash escape
                i += 1
                c = pattern[i]
            tokens.append(bytes(_literal(c, nocase)))
            i += 1
    return tokens


def run(tokens: list[Token], string: bytes) -> tuple[bool, int]:
    """(matched, steps taken). Greedy with backtracking to the last star only."""
    if not string:
        return not tokens, 0
    t = s = steps = 0
    star = -1
    star_s = 0
    n_tok, n_str = len(tokens), len(string)
    while s < n_str:
        steps += 1
        token = tokens[t] if t < n_tok else _END
        if token is None:
            star, star_s = t, s
            t += 1
        elif token is not _END and token[string[s]]:
            t += 1
            s += 1
        elif star >= 0:
            t = star + 1
            star_s += 1
            s = star_s
        else:
            return False, steps
    while t < n_tok and tokens[t] is None:
        t += 1
    return t == n_tok, steps


_END = b""


def is_literal(pattern: bytes) -> bool:
    """True if the pattern matches exactly itself (no `*`, `?`, `[` or backslash)."""
    return not any(c in pattern for c in b"*?[\\")


def matcher(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A predicate for one pattern, compiled once for a whole KEYS/SCAN."""
    if pattern == b"*":
        return bool  # Redis' quirk: `*` does not match the empty string
    if not nocase and is_literal(pattern):
        return pattern.__eq__
    tokens = tokenize(pattern, nocase)
    return lambda s: run(tokens, s)[0]


def match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Redis' stringmatchlen(pattern, string, nocase) != 0."""
    return run(tokenize(pattern, nocase), string)[0]
