"""The test-only clock skew (respdyn/clock.py, --debug-clock-skew-file): the time of day a node
stamps versions and judges expiry with moves with the file, and only in debug mode."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from harness import respdyn

from respdyn import clock

HOUR_MS = 3600 * 1000


@pytest.fixture
def skew_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "skew_ms"
    path.write_text("0")
    yield path
    clock.skew_from_file(None)


def _real_ms() -> int:
    return int(time.time() * 1000)


def _poll(predicate, limit: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "the skew did not change in time"
        time.sleep(0.05)


def test_now_ms_follows_the_file_and_keeps_the_last_offset_on_a_torn_read(
    skew_file: Path,
) -> None:
    skew_file.write_text(str(HOUR_MS))
    clock.skew_from_file(str(skew_file))
    assert abs(clock.now_ms() - _real_ms() - HOUR_MS) < 1000
    skew_file.write_text("-5000")
    _poll(lambda: abs(clock.now_ms() - _real_ms() + 5000) < 1000)
    skew_file.write_text("")  # a rewrite caught half way: not "no skew"
    time.sleep(2 * clock.REREAD_S)
    assert abs(clock.now_ms() - _real_ms() + 5000) < 1000
    clock.skew_from_file(None)
    assert abs(clock.now_ms() - _real_ms()) < 1000


def _stamp(c: redis.Redis, key: str) -> int:
    """The timestamp the node gave a fresh write of `key` (ms)."""
    c.set(key, "v")
    _, siblings = c.execute_command("SIBLINGS", key, "WITHMETA")
    return siblings[0][1]


def test_a_node_stamps_and_expires_with_the_skewed_clock(tmp_path: Path,
                                                         skew_file: Path) -> None:
    skew_file.write_text(str(HOUR_MS))
    with respdyn(tmp_path / "data", "--enable-debug-commands", "--debug-clock-skew-file",
                 str(skew_file)) as node:
        c = redis.Redis(host=node.host, port=node.port, socket_timeout=10)
        assert abs(_stamp(c, "k") - _real_ms() - HOUR_MS) < 60_000
        # due in half an hour of real time, so already past on this node's clock
        c.set("due", "v", pxat=_real_ms() + HOUR_MS // 2)
        assert c.get("due") is None
        skew_file.write_text(str(-HOUR_MS))  # moved while the node runs
        _poll(lambda: abs(_stamp(c, "k") - _real_ms() + HOUR_MS) < 60_000)


def test_the_skew_file_is_ignored_without_debug_commands(tmp_path: Path,
                                                         skew_file: Path) -> None:
    skew_file.write_text(str(HOUR_MS))
    with respdyn(tmp_path / "data", "--debug-clock-skew-file", str(skew_file)) as node:
        c = redis.Redis(host=node.host, port=node.port, socket_timeout=10)
        assert abs(_stamp(c, "k") - _real_ms()) < 60_000
