"""Per-key locks that make a read-modify-write command (INCR, APPEND, SETRANGE, a hash or set
update, …) atomic against the other clients of this node.

Why they are needed although gevent is cooperative: a command may yield between its read and
its write (a cluster round trip, or a write handed to a thread for a group-committed fsync);
another client's command on the same key could then read the old value and one update would be
lost. The dispatcher holds the locks of a write command's keys while its handler runs; keys are
taken in sorted order so two multi-key commands cannot deadlock. Uncontended, a lock costs a
dict lookup and a counter. Blocking commands (BLPOP …) are not wrapped: they must not hold a
key while they wait for someone else to push to it.
"""

from __future__ import annotations

from gevent.lock import Semaphore


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = Semaphore()
        self.users = 0


class KeyLocks:
    def __init__(self) -> None:
        self._entries: dict[tuple[int, bytes], _Entry] = {}

    def acquire(self, db: int, keys: list[bytes]) -> list[tuple[int, bytes]]:
        """Take the locks of `keys` (deduplicated, sorted); returns the token for release()."""
        names = [(db, keys[0])] if len(keys) == 1 else [(db, k) for k in sorted(set(keys))]
        for name in names:
            entry = self._entries.get(name)
            if entry is None:
                entry = self._entries[name] = _Entry()
            entry.users += 1
            entry.lock.acquire()
        return names

    def release(self, names: list[tuple[int, bytes]]) -> None:
        for name in reversed(names):
            entry = self._entries[name]
            entry.lock.release()
            entry.users -= 1
            if entry.users == 0:
                del self._entries[name]

    def __len__(self) -> int:
        return len(self._entries)
