"""Argument converters with Redis' strictness. Python's int() and float() accept `+1`, ` 1`,
`1_000` and `nan`, which Redis rejects, so wire text is checked against Redis' grammar first
(string2ll and strtod as used by getLongLongFromObject / getDoubleFromObject)."""

from __future__ import annotations

import math
import re

from respdyn import errors

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_INT = re.compile(rb"(?:0|-?[1-9][0-9]{0,19})\Z")
_FLOAT = re.compile(rb"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity)\Z", re.I)


def to_int(arg: bytes, error: errors.ReplyError | None = None) -> int:
    """A signed 64-bit integer exactly as Redis' string2ll accepts it."""
    if _INT.match(arg):
        value = int(arg)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    raise error or errors.not_integer()


def to_nonneg_int(arg: bytes, error: errors.ReplyError) -> int:
    value = to_int(arg)
    if value < 0:
        raise error
    return value


def to_float(arg: bytes, error: errors.ReplyError | None = None) -> float:
    """A double as Redis' strtod check accepts it: no spaces, no NaN, no trailing junk."""
    if _FLOAT.match(arg):
        value = float(arg)
        if not math.isnan(value):
            return value
    raise error or errors.not_float()


def upper(arg: bytes) -> bytes:
    return arg.upper()


def format_float(value: float) -> bytes:
    """Redis' human-friendly long double text (INCRBYFLOAT, HINCRBYFLOAT): '%.17Lg' trimmed,
    no exponent for ordinary magnitudes."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if value == int(value) and abs(value) < 1e17:
        return str(int(value)).encode()
    text = repr(value)
    if "e" in text or "E" in text:
        text = f"{value:.17f}".rstrip("0").rstrip(".")
    return text.encode()
