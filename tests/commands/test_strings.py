"""String commands through the dispatcher: every option and error text as redis-server 7.0
answers them (expected values below were read from a real 7.0 server)."""

from __future__ import annotations

import pytest

from respdyn.commands import args
from respdyn.errors import ReplyError

# --- INCRBYFLOAT's long double arithmetic (respdyn.commands.args) ---------------------------

# (stored value, increment, Redis 7.0's result) — checked with redis-server 7.0 on x86-64
LONG_DOUBLE_SUMS = [
    (b"0.1", b"0.2", b"0.3"),  # a double would say 0.30000000000000004
    (b"10.50", b"0.1", b"10.6"),
    (b"10.6", b"-5", b"5.6"),
    (b"5.0e3", b"2.0e2", b"5200"),
    (b"1", b"-1", b"0"),
    (b"-0.1", b"0.1", b"0"),
    (b"-0", b"-0", b"0"),
    (b"3", b"1.1e-20", b"3"),
    (b".5", b"5.", b"5.5"),
    (b"0", b"1e-300", b"0"),
    (
        b"1e300",
        b"1e300",
        b'200000000000000000001799464815911838774104788854658149587652016464253129319236187151'
        b'169830416750099438070074501722854967180718511236934596782619252104149729257465427128'
        b'368730658816851021521203357945330586474006110276589524198908058954556377924121235853'
        b'5223254194821301134374772211380178849830208012288',
    ),
]


@pytest.mark.parametrize(("value", "incr", "expected"), LONG_DOUBLE_SUMS)
def test_add_long_double(value: bytes, incr: bytes, expected: bytes) -> None:
    assert args.add_long_double(value, incr) == expected


@pytest.mark.parametrize(
    ("value", "incr", "error"),
    [
        (b"abc", b"1", "value is not a valid float"),
        (b"1", b"abc", "value is not a valid float"),
        (b" 1", b"1", "value is not a valid float"),
        (b"1", b"nan", "value is not a valid float"),
        (b"1e5000", b"0", "value is not a valid float"),  # strtold overflow
        (b"1e-5000", b"1", "value is not a valid float"),  # strtold underflow to zero
        (b"1", b"inf", "increment would produce NaN or Infinity"),
        (b"-inf", b"1", "increment would produce NaN or Infinity"),
        (b"1e4932", b"1e4932", "increment would produce NaN or Infinity"),
    ],
)
def test_add_long_double_errors(value: bytes, incr: bytes, error: str) -> None:
    with pytest.raises(ReplyError) as exc:
        args.add_long_double(value, incr)
    assert exc.value.message == error
