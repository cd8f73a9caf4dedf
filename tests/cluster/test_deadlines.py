"""The coordinator's quorum-wait deadlines: answered waits leave the schedule early, silent
ones still end at their deadline."""

from __future__ import annotations

import time

import gevent
from gevent.event import Event

from respdyn.cluster.coordinator import Deadlines


def _answered_wait(deadlines: Deadlines) -> None:
    done = Event()
    gevent.spawn_later(0, done.set)
    deadlines.wait(done)


def test_answered_waits_do_not_pile_up() -> None:
    """Waits answered at once are dropped from the head of the schedule by the next wait,
    instead of staying there for the whole timeout (objects kept for a second outlive the
    collector's young generations)."""
    deadlines = Deadlines(timeout=30.0)
    deadlines.start()
    try:
        for _ in range(200):
            _answered_wait(deadlines)
        assert len(deadlines._queue) <= 1
    finally:
        deadlines.stop()


def test_a_silent_wait_still_ends_at_its_deadline() -> None:
    """A wait nobody answers ends at its deadline, even with answered waits queued behind it;
    those are dropped once it has gone."""
    deadlines = Deadlines(timeout=0.2)
    deadlines.start()
    try:
        silent = Event()
        started = time.monotonic()
        waiter = gevent.spawn(deadlines.wait, silent)
        gevent.sleep(0)
        for _ in range(20):
            _answered_wait(deadlines)
        assert len(deadlines._queue) == 21  # behind the silent one: kept until it goes
        waiter.join(timeout=2)
        assert waiter.dead and silent.is_set()
        assert 0.19 <= time.monotonic() - started < 1.0
        _answered_wait(deadlines)
        assert len(deadlines._queue) <= 1
    finally:
        deadlines.stop()
