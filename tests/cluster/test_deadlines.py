"""The coordinator's quorum-wait deadlines: answered waits leave the schedule early, silent
ones still end at their deadline."""

from __future__ import annotations

import time

import gevent

from respdyn.cluster.coordinator import Deadlines, Pending


def _answered_wait(deadlines: Deadlines) -> None:
    done = Pending()
    gevent.spawn_later(0, done.finish)
    deadlines.wait(done)
    assert done.decided


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
        silent = Pending()
        started = time.monotonic()
        waiter = gevent.spawn(deadlines.wait, silent)
        gevent.sleep(0)
        for _ in range(20):
            _answered_wait(deadlines)
        assert len(deadlines._queue) == 21  # behind the silent one: kept until it goes
        waiter.join(timeout=2)
        assert waiter.dead and silent.decided
        assert 0.19 <= time.monotonic() - started < 1.0
        _answered_wait(deadlines)
        assert len(deadlines._queue) <= 1
    finally:
        deadlines.stop()


def test_a_wait_finished_from_another_greenlet_resumes_once() -> None:
    """The answer that decides a wait arrives in a link's reader greenlet: the waiting
    greenlet resumes from a loop callback, once, however often `finish` is called."""
    deadlines = Deadlines(timeout=30.0)
    deadlines.start()
    try:
        op, resumed = Pending(), []

        def client() -> None:
            deadlines.wait(op)
            resumed.append(op.decided)
            gevent.sleep(0.05)  # a later, stray switch would resume this sleep early
            resumed.append("slept")

        waiting = gevent.spawn(client)
        gevent.sleep(0)
        reader = gevent.spawn(lambda: [op.finish() for _ in range(3)])
        waiting.join(timeout=5)
        assert reader.dead and resumed == [True, "slept"]
    finally:
        deadlines.stop()


def test_a_finished_wait_does_not_block() -> None:
    deadlines = Deadlines(timeout=30.0)
    op = Pending()
    op.finish()
    with gevent.Timeout(1):
        deadlines.wait(op)  # without a sweeper too


def test_without_a_sweeper_a_wait_ends_at_its_own_timeout() -> None:
    deadlines = Deadlines(timeout=0.1)
    op = Pending()
    started = time.monotonic()
    deadlines.wait(op)
    assert not op.decided and 0.09 <= time.monotonic() - started < 5
