"""Clock skew for fault-injection runs, loaded by node processes the harness starts with this
directory on PYTHONPATH (respdyn itself has no injectable clock yet).

`FAULTS_SKEW_FILE` names a file holding an offset in milliseconds; `time.time` and
`time.time_ns` return the real time plus that offset. The file is re-read at most every 0.2 s,
so the harness can change a running node's skew. Monotonic clocks are untouched (as real clock
skew leaves them).
"""

from __future__ import annotations

import os
import time

_path = os.environ.get("FAULTS_SKEW_FILE")
if _path:
    _real_time, _real_time_ns, _mono = time.time, time.time_ns, time.monotonic
    _state = [0, -1.0]  # offset ms, next re-read (monotonic)

    def _offset_ms() -> int:
        now = _mono()
        if now >= _state[1]:
            _state[1] = now + 0.2
            try:
                with open(_path) as f:
                    _state[0] = int(f.read().strip() or 0)
            except (OSError, ValueError):
                pass
        return _state[0]

    def _time() -> float:
        return _real_time() + _offset_ms() / 1000.0

    def _time_ns() -> int:
        return _real_time_ns() + _offset_ms() * 1_000_000

    time.time = _time
    time.time_ns = _time_ns
