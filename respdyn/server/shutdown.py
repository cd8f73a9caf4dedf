"""The one shutdown signal of a node, handed to the listener, every connection and every loop.

Background loops wait on "work or shutdown" (`shutdown.wait(interval)` returns True when it is
time to stop); the listener links to it to stop accepting and close its connections.
"""

from __future__ import annotations

from collections.abc import Callable

from gevent.event import Event


class Shutdown:
    """A set-once gevent Event with the three verbs the rest of the node needs."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = Event()

    def trigger(self) -> None:
        """Ask everything to stop (idempotent; callable from any greenlet)."""
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block this greenlet up to `timeout` seconds; True once shutdown has been triggered."""
        return self._event.wait(timeout)

    def link(self, callback: Callable[[], None]) -> None:
        """Run `callback()` (in the hub: it must not block) when shutdown is triggered."""
        self._event.rawlink(lambda _event: callback())
