"""Settings that reach the running listener: idle timeout, and CONFIG SET at runtime."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from harness import respdyn


def closed_within(s: socket.socket, seconds: float) -> bool:
    """True when the server closes `s` within `seconds` (EOF), waiting on the socket itself."""
    s.settimeout(seconds)
    try:
        return s.recv(16) == b""
    except TimeoutError:
        return False


def test_idle_clients_are_closed_after_timeout(tmp_path):
    with respdyn(tmp_path / "data", "--timeout", "1") as node:
        idle = socket.create_connection((node.host, node.port), timeout=5)
        started = time.monotonic()
        assert closed_within(idle, 15)
        assert time.monotonic() - started >= 0.9  # not before the timeout
        idle.close()


def test_config_set_timeout_and_requirepass_apply_to_new_clients(tmp_path):
    with respdyn(tmp_path / "data") as node:
        admin = redis.Redis(host=node.host, port=node.port, socket_timeout=10)
        assert admin.config_set("requirepass", "s3cret")
        fresh = redis.Redis(host=node.host, port=node.port, socket_timeout=10)
        with pytest.raises(redis.AuthenticationError):
            fresh.get("x")
        assert admin.get("x") is None  # connections made before keep their state
        assert redis.Redis(host=node.host, port=node.port, password="s3cret").ping()
        assert admin.config_set("timeout", "1")
        idle = socket.create_connection((node.host, node.port), timeout=5)
        assert closed_within(idle, 15)
        idle.close()


def test_tune_gc_freezes_what_start_built_and_collects_less_often() -> None:
    import gc

    from respdyn.node import GC_YOUNG_THRESHOLD, tune_gc

    threshold = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
