"""The time of day respdyn stamps and compares: value timestamps (last-write-wins, tombstone
grace), expiry deadlines, member generations, hint ages.

One function, so a test can skew a whole node's clock the way a badly synced machine is skewed:
`--debug-clock-skew-file PATH` (honoured only with `--enable-debug-commands`) names a file
holding an offset in milliseconds, re-read at most every `REREAD_S` seconds so the fault harness
can move a running node's clock. Monotonic clocks (timeouts, failure detection) are never
skewed, as real skew leaves them alone. Compaction workers (other processes) keep the real
time: they only compare against days-long grace periods.
"""

from __future__ import annotations

import time

REREAD_S = 0.2

_skew_file: str | None = None
_skew_ms = 0
_next_read = 0.0


def now_ms() -> int:
    """Unix time in milliseconds, plus the test-only skew when one is set."""
    if _skew_file is None:
        return int(time.time() * 1000)
    return int(time.time() * 1000) + _skew()


def _skew() -> int:
    global _skew_ms, _next_read
    mono = time.monotonic()
    if mono >= _next_read and _skew_file is not None:
        _next_read = mono + REREAD_S
        try:
            with open(_skew_file, encoding="ascii") as f:
                text = f.read().strip()
            if text:  # empty: caught mid-rewrite, keep the last offset
                _skew_ms = int(text)
        except (OSError, ValueError):
            pass
    return _skew_ms


def skew_from_file(path: str | None) -> None:
    """Offset `now_ms` by the milliseconds in `path` from now on (None: no skew)."""
    global _skew_file, _skew_ms, _next_read
    _skew_file, _skew_ms, _next_read = path, 0, 0.0
