"""Redis' glob semantics (stringmatchlen), checked case by case against redis-server 7.0's
KEYS replies, and the matcher's linear bound on CVE-2022-36021 style patterns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respdyn.commands import glob

# (pattern, string, matches) — each row verified with KEYS on redis-server 7.0
CASES = [
    (b"", b"", True),
    (b"", b"a", False),
    (b"a", b"a", True),
    (b"a", b"A", False),
    (b"abc", b"ab", False),
    (b"*", b"anything", True),
    (b"*", b"", False),  # Redis' quirk: KEYS/SCAN short-cut "*" before matching
    (b"**", b"", False),
    (b"a*", b"a", True),
    (b"a*", b"abc", True),
    (b"*c", b"abc", True),
    (b"*c", b"abd", False),
    (b"a*c", b"ac", True),
    (b"a*c", b"abbbc", True),
    (b"a*c*", b"abcd", True),
    (b"a**c", b"abc", True),
    (b"?", b"a", True),
    (b"?", b"", False),
    (b"?", b"ab", False),
    (b"a?c", b"abc", True),
    (b"h?llo", b"hllo", False),
    (b"h[ae]llo", b"hello", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hallo", True),  # reversed range is swapped
    (b"h[a-b]llo", b"hcllo", False),
    (b"[a-]", b"]", True),  # "a-]" is the range ']'..'a'
    (b"[a-]", b"a", True),
    (b"[a-]", b"-", False),
    (b"[a-]b", b"b", True),  # ... so the class did not end and also holds 'b'
    (b"[]", b"]", False),
    (b"[]a]", b"]", False),  # an empty class, then a literal "a]"
    (b"[]a]", b"a]", False),
    (b"[\\]]", b"]", True),
    (b"[\\-]", b"-", True),
    (b"[abc", b"b", True),  # unterminated class runs to the end
    (b"[abc", b"d", False),
    (b"[^", b"x", True),
    (b"[", b"x", False),
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"\\?", b"?", True),
    (b"\\[a]", b"[a]", True),
    (b"a\\", b"a\\", True),  # trailing backslash is literal
    (b"\\a", b"a", True),
    (b"*\\", b"x\\", True),
    (b"[\x80-\xff]", b"\x90", True),  # high bytes compare as signed chars: -128..-1
    (b"[a-\xff]", b"b", False),  # 'a'..-1 swaps to -1..97: holds '0', not 'b'
    (b"[a-\xff]", b"0", True),
    (b"*a*a*a*b", b"aaaab", True),
    (b"*a*a*a*b", b"aaaa", False),
]


@pytest.mark.parametrize(("pattern", "string", "expected"), CASES)
def test_match(pattern: bytes, string: bytes, expected: bool) -> None:
    assert glob.match(pattern, string) is expected
    assert glob.matcher(pattern)(string) is expected


@pytest.mark.parametrize(
    ("pattern", "string", "expected"),
    [(b"HELLO", b"hello", True), (b"h[A-C]llo", b"hbllo", True), (b"[^H]i", b"hi", False)],
)
def test_nocase(pattern: bytes, string: bytes, expected: bool) -> None:
    assert glob.match(pattern, string, nocase=True) is expected


def test_literal_pattern_uses_equality() -> None:
    assert glob.matcher(b"plain")(b"plain")
    assert not glob.matcher(b"plain")(b"plain2")


@pytest.mark.parametrize(
    "pattern",
    [
        b"*a*a*a*a*a*a*a*a*a*b",
        b"*a" * 40 + b"b",
        b"*aab",
        b"*?*?*?*?*?*?*?*?*b",
        b"*[a]" * 20 + b"c",
    ],
)
def test_backtracking_patterns_stay_linear(pattern: bytes) -> None:
    """CVE-2022-36021: Redis' recursive matcher took exponential time on these."""
    tokens = glob.tokenize(pattern)
    string = b"a" * 20_000
    matched, steps = glob.run(tokens, string)
    assert not matched
    assert steps <= len(string) * len(tokens)
    # the bound is not just theoretical: these finish in a small multiple of the string length
    assert steps <= 4 * len(string)


def test_quadratic_worst_case_is_bounded() -> None:
    tokens = glob.tokenize(b"*" + b"a" * 50 + b"b")
    string = b"a" * 2_000
    matched, steps = glob.run(tokens, string)
    assert not matched
    assert steps <= len(string) * len(tokens)


def test_stars_collapse() -> None:
    assert glob.tokenize(b"a***b") == glob.tokenize(b"a*b")


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [(b"plain", True), (b"", True), (b"a*", False), (b"a?", False), (b"[a]", False),
     (b"a\\b", False), (b"a]b", True), (b"a-^b", True)],
)
def test_is_literal(pattern: bytes, literal: bool) -> None:
    assert glob.is_literal(pattern) is literal


# --- property: equal to a direct port of Redis' recursive matcher on short inputs -----------


def reference_match(p: bytes, s: bytes) -> bool:
    """Redis 7.0's recursive stringmatchlen, transcribed (exponential: short inputs only)."""
    pi = si = 0
    while pi < len(p) and si < len(s):
        c = p[pi]
        if c == 0x2A:
            while pi + 1 < len(p) and p[pi + 1] == 0x2A:
                pi += 1
            if pi + 1 == len(p):
                return True
            return any(reference_match(p[pi + 1 :], s[k:]) for k in range(si, len(s)))
        if c == 0x3F:
            si += 1
        elif c == 0x5B:
            pi += 1
            negate = pi < len(p) and p[pi] == 0x5E
            pi += negate
            hit = False
            while True:
                if pi < len(p) and p[pi] == 0x5C and len(p) - pi >= 2:
                    pi += 1
                    hit |= p[pi] == s[si]
                elif pi < len(p) and p[pi] == 0x5D:
                    break
                elif pi >= len(p):
                    pi -= 1
                    break
                elif len(p) - pi >= 3 and p[pi + 1] == 0x2D:
                    lo, hi = sorted((glob._signed(p[pi]), glob._signed(p[pi + 2])))
                    hit |= lo <= glob._signed(s[si]) <= hi
                    pi += 2
                else:
                    hit |= p[pi] == s[si]
                pi += 1
            if hit == negate:
                return False
            si += 1
        else:
            if c == 0x5C and len(p) - pi >= 2:
                pi += 1
            if p[pi] != s[si]:
                return False
            si += 1
        pi += 1
        if si == len(s):
            while pi < len(p) and p[pi] == 0x2A:
                pi += 1
            break
    return pi == len(p) and si == len(s)


PATTERN_BYTES = b"ab*?[]^-\\\x80"
STRING_BYTES = b"ab]-^\\*\x80"


@settings(max_examples=1500, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(PATTERN_BYTES), max_size=8).map(bytes),
    string=st.lists(st.sampled_from(STRING_BYTES), max_size=8).map(bytes),
)
def test_equals_redis_recursive_matcher(pattern: bytes, string: bytes) -> None:
    assert glob.match(pattern, string) == reference_match(pattern, string)
