"""Argument converters with Redis' strictness. Python's int() and float() accept `+1`, ` 1`,
`1_000` and `nan`, which Redis rejects, so wire text is checked against Redis' grammar first
(string2ll and strtod as used by getLongLongFromObject / getDoubleFromObject)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

from respdyn import errors

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_INT = re.compile(rb"(?:0|-?[1-9][0-9]{0,19})\Z")
_FLOAT = re.compile(
    rb"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity)\Z", re.I
)


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


# --- long double arithmetic (INCRBYFLOAT, HINCRBYFLOAT) ---------------------------------------
# Redis adds in C `long double`, the x87 80-bit format (64-bit mantissa) on x86-64, and prints
# '%.17Lf' trimmed; doing it in a Python float gives 0.1 + 0.2 = "0.30000000000000004" where
# Redis answers "0.3". So the sum is computed exactly and rounded as the x87 unit would.

_LD_MANTISSA_BITS = 64
_LD_MAX = Fraction((1 << 64) - 1) * Fraction(2) ** (16383 - 63)
_LD_MIN_SUBNORMAL = Fraction(1, 2**16445)
#: Redis' MAX_LONG_DOUBLE_CHARS: longer input is not a number, longer output is empty
_LD_CHARS = 5 * 1024


def _round_long_double(x: Fraction) -> Fraction:
    """The long double nearest to x (ties to even), subnormals aside."""
    if x == 0:
        return x
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if a < Fraction(2) ** e:
        e -= 1
    unit = Fraction(2) ** (e - (_LD_MANTISSA_BITS - 1))
    rounded = round(a / unit) * unit
    return rounded if x > 0 else -rounded


def to_long_double(arg: bytes) -> Fraction | float:
    """Redis' string2ld: the exact long double value, or ±inf (a float) for infinities."""
    if len(arg) >= _LD_CHARS or not _FLOAT.match(arg):
        raise errors.not_float()
    if arg.lstrip(b"+-")[:1] in (b"i", b"I"):
        return float(arg)
    exact = Fraction(Decimal(arg.decode("ascii")))
    value = _round_long_double(exact)
    if abs(value) > _LD_MAX or (exact and abs(exact) <= _LD_MIN_SUBNORMAL / 2):
        raise errors.not_float()  # strtold's ERANGE: overflow, or underflow to zero
    return value


def format_long_double(value: Fraction) -> bytes:
    """Redis' ld2string LD_STR_HUMAN: '%.17Lf' with trailing zeros (and '-0') trimmed."""
    scaled = round(value * 10**17)
    digits = str(abs(scaled)).rjust(18, "0")
    text = f"{'-' if scaled < 0 else ''}{digits[:-17]}.{digits[-17:]}".rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return b"" if len(text) + 1 > _LD_CHARS else text.encode()


def add_long_double(value: bytes, increment: bytes) -> bytes:
    """INCRBYFLOAT's arithmetic: value + increment as Redis computes and prints it."""
    current = to_long_double(value)
    incr = to_long_double(increment)
    if isinstance(current, float) or isinstance(incr, float):
        raise errors.nan_or_infinity()  # inf + x is inf, inf - inf is NaN: both refused
    total = _round_long_double(current + incr)
    if abs(total) > _LD_MAX:
        raise errors.nan_or_infinity()
    return format_long_double(total)
