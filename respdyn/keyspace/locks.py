"""Per-key locks that make a read-modify-write command (INCR, APPEND, SETRANGE, a hash or set
update, …) atomic against the other clients of this node.

Why they are needed although gevent is cooperative: a command may yield between its read and
its write (a cluster round trip, or a write handed to a thread for a group-committed fsync);
another client's command on the same key could then read the old value and one update would be
lost. The dispatcher holds the locks of a write command's keys while its handler runs; keys are
taken in sorted order so two multi-key commands cannot deadlock. Uncontended, a lock costs a
dict insert and delete. Blocking commands (BLPOP …) are not wrapped: they must not hold a
key while they wait for someone else to push to it.
"""

from __future__ import annotations

from collections import deque

from gevent.event import Event

Name = tuple[int, bytes]


class KeyLocks:
    """Held keys map to their waiters: None while nobody waits (taking and dropping an
    uncontended lock is a dict insert and delete, measured 0.3 us against 1.1 us for a
    Semaphore per key), a FIFO of events once someone does. A release hands the lock straight
    to the first waiter, so no newcomer can overtake the queue."""

    def __init__(self) -> None:
        self._held: dict[Name, deque[Event] | None] = {}

    def acquire(self, db: int, keys: list[bytes]) -> list[Name]:
        """Take the locks of `keys` (deduplicated, sorted); returns the token for release()."""
        names = [(db, keys[0])] if len(keys) == 1 else [(db, k) for k in sorted(set(keys))]
        held = self._held
        for name in names:
            if name in held:
                self._wait(name)
            else:
                held[name] = None
        return names

    def acquire_one(self, db: int, key: bytes) -> Name:
        """`acquire` of one key (SET, INCR...: most write commands), without the lists."""
        name = (db, key)
        held = self._held
        if name in held:
            self._wait(name)
        else:
            held[name] = None
        return name

    def release_one(self, name: Name) -> None:
        held = self._held
        if held[name] is None:
            del held[name]  # nobody waits: the common case
        else:
            self._hand_over(name)

    def release(self, names: list[Name]) -> None:
        for name in reversed(names):
            self._hand_over(name)

    def _wait(self, name: Name) -> None:
        """Queue for a held lock; returns once a release handed it to us."""
        waiters = self._held[name]
        if waiters is None:
            waiters = self._held[name] = deque()
        turn = Event()
        waiters.append(turn)
        try:
            turn.wait()
        except BaseException:  # killed or timed out while waiting
            if turn.is_set():
                self._hand_over(name)  # it was handed to us just now: pass it on
            else:
                waiters.remove(turn)
            raise

    def _hand_over(self, name: Name) -> None:
        """Release one lock: to the first waiter if any, else drop the entry."""
        waiters = self._held[name]
        if waiters:
            waiters.popleft().set()
        else:
            del self._held[name]

    def held(self, db: int, key: bytes) -> bool:
        """Is `key`'s lock taken (by anyone)?"""
        return (db, key) in self._held

    def __len__(self) -> int:
        return len(self._held)
