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


_STRTOD = re.compile(
    rb"([ \t\n\v\f\r]*)([-+]?)(?:(inf(?:inity)?|nan)"
    rb"|(0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[-+]?[0-9]+)?)"
    rb"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?))\Z",
    re.IGNORECASE,
)


def strtod(arg: bytes) -> tuple[float, bool, bool] | None:
    """C's strtod over the whole argument: (value, leading space, out of range), or None when
    it is not all a number. Hex floats (0x1p3) are numbers, as in C; out of range means
    overflow to infinity or underflow to zero (strtod's ERANGE)."""
    m = _STRTOD.match(arg)
    if m is None:
        return None
    space, sign, word, hexa, dec = m.groups()
    text = (sign + (word or hexa or dec)).decode("ascii")
    if word:
        return float(text), bool(space), False
    if hexa:
        try:
            value = float.fromhex(text)
        except OverflowError:
            return math.copysign(math.inf, -1.0 if sign == b"-" else 1.0), bool(space), True
        digits = hexa[2:].split(b"p")[0].split(b"P")[0]
    else:
        value = float(text)
        digits = dec.lower().split(b"e")[0]
    lost = math.isinf(value) or (value == 0 and digits.strip(b"0.") != b"")
    return value, bool(space), lost


def to_float(arg: bytes, error: errors.ReplyError | None = None) -> float:
    """Redis' getDoubleFromObject: C's strtod over the whole argument (hex floats included),
    no leading space, no NaN, nothing out of range."""
    parsed = strtod(arg)
    if parsed is None or parsed[1] or parsed[2] or math.isnan(parsed[0]):
        raise error or errors.not_float()
    return parsed[0]


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
#: decimal exponents past which a long double overflows (1e4933) or underflows (1e-4951):
#: checked before exact arithmetic, which would otherwise build 10**exponent (a DoS)
_LD_DECIMAL_EXP = 4950
#: binary exponents that bound a hex float's exact value (the long double range is 2**±16445;
#: the mantissa may carry up to _LD_CHARS hex digits of its own)
_LD_BINARY_EXP = 16445 + 4 * _LD_CHARS


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
        hexa = _HEX_LD.match(arg) if len(arg) < _LD_CHARS else None
        if hexa is None:
            raise errors.not_float()
        return _checked_long_double(_hex_fraction(*hexa.groups()))
    if arg.lstrip(b"+-")[:1] in (b"i", b"I"):
        return float(arg)
    number = Decimal(arg.decode("ascii"))
    if number and not -_LD_DECIMAL_EXP - 2 < number.adjusted() < _LD_DECIMAL_EXP:
        raise errors.not_float()  # far out of range: refused before any big-number work
    return _checked_long_double(Fraction(number))


#: strtold's hexadecimal form: sign, mantissa digits (with an optional point), binary exponent
_HEX_LD = re.compile(rb"([-+]?)0x([0-9a-f]*)\.?([0-9a-f]*)(?:p([-+]?[0-9]+))?\Z", re.I)


def _hex_fraction(sign: bytes, whole: bytes, frac: bytes, exp: bytes | None) -> Fraction:
    """The exact value of a hexadecimal float (strtold reads them exactly, then rounds)."""
    if not whole and not frac:
        raise errors.not_float()
    shift = int(exp or b"0") - 4 * len(frac)
    if abs(shift) > _LD_BINARY_EXP:
        raise errors.not_float()  # far out of range: refused before any big-number work
    value = Fraction(int((whole + frac).decode(), 16)) * Fraction(2) ** shift
    return -value if sign == b"-" else value


def _checked_long_double(exact: Fraction) -> Fraction:
    """Round to a long double; strtold's ERANGE (overflow, or underflow to zero) refused."""
    value = _round_long_double(exact)
    if abs(value) > _LD_MAX or (exact and abs(exact) <= _LD_MIN_SUBNORMAL / 2):
        raise errors.not_float()  # strtold's ERANGE: overflow, or underflow to zero
    return value


def format_long_double(value: Fraction) -> bytes:
    """Redis' ld2string LD_STR_HUMAN: '%.17Lf' with trailing zeros (and '-0') trimmed."""
    scaled = round(value * 10**17)
    # via Decimal: str(int) refuses numbers past 4300 digits, a long double reaches 4933
    digits = f"{Decimal(abs(scaled)):f}".rjust(18, "0")
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
