"""Snapshots and the scan generator that keeps a scan's tables on disk.

A snapshot is a sequence number the engine keeps versions for (see Snapshot); it holds no
files or memtables. What may touch what: a Snapshot calls back into its Engine, which takes the
engine mutex to register/unregister the sequence; a Snapshot object itself is not meant to be
shared between threads while it is being released.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from storage.errors import ClosedError

if TYPE_CHECKING:
    from storage.engine import Engine


class Snapshot:
    """A read-only view at one sequence number (LevelDB's snapshot: only a sequence).

    While it is live the engine keeps every version it can see: memtables keep overwritten
    versions in their chains, flushes and compactions keep the newest version at or below the
    oldest snapshot. So a snapshot costs the space of the versions it keeps, never whole files
    or memtables. Release it (or use `with`); a scan of a snapshot pins its tables until the
    iterator is exhausted or closed.

    Caveat: Options.compaction_filter may turn a value into a tombstone while a snapshot that
    was taken during that compaction can see it; the filter is meant for values the layer above
    already treats as absent (expired), so that view does not change for it.
    """

    def __init__(self, engine: Engine, seq: int) -> None:
        self._engine = engine
        self.seq = seq
        self._released = False

    def get(self, key: bytes) -> bytes | None:
        self._check()
        return self._engine._read(key, self.seq)

    def scan(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        self._check()
        return self._engine._open_scan(start, end, self.seq, owns_seq=False)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._engine._release_seq(self.seq)

    def _check(self) -> None:
        if self._released:
            raise ClosedError("snapshot was released")

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def pinned_scan(entries: Iterator, release: Callable[[], None]) -> Iterator[tuple[bytes, bytes]]:
    """The scan generator. It is advanced past `try` before it is handed out, so its `finally`
    (the unpin) runs when it is exhausted, closed, or garbage-collected, even if the caller never
    reads from it."""
    try:
        yield None  # type: ignore[misc]  # priming step, consumed by Engine._open_scan
        yield from entries
    finally:
        release()
