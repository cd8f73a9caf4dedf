"""Append framed records to a log file (the WAL, or the manifest: same framing).

Two modes, chosen by the engine from Options.fsync:
  * unbuffered (`buffer_bytes=0`, fsync="always" and the manifest): each `append` is ONE
    os.write of everything handed to it, so a group commit costs one write() and one fsync().
  * buffered (fsync="everysec"/"no"): appends collect in a user-space buffer written out when it
    reaches `buffer_bytes`, and by `flush()` which the engine's syncer calls every second. A
    write() syscall costs ~9 µs here, more than the rest of a put; Redis batches its AOF writes
    per event-loop turn for the same reason. The price: a process crash may lose the last
    second of acknowledged writes, which these policies already allow for an OS crash.

Concurrency: one appender at a time (the engine's group-commit leader); `flush`/`sync` may run on
the syncer thread meanwhile. The buffer is guarded by `_lock`; the fdatasync itself runs outside
it (Redis' everysec fsyncs on a background thread while the main thread keeps writing), so an
append never waits behind a disk flush: holding `_lock` through it stalled the server's event
loop for the length of an fsync once a second. `_sync_lock` orders syncs and close, so a sync
never hits a closed (or reused) descriptor.
"""

from __future__ import annotations

import os
import threading

from storage.errors import PersistenceError
from storage.wal.format import MAX_RECORD_BYTES, encode_header, frame


class LogWriter:
    """REQUIRES: `path` does not exist yet (a new log per memtable / manifest)."""

    def __init__(self, path: str, magic: int, *, fsync_dir: bool = True, buffer_bytes: int = 0):
        self.path = path
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()  # held through fdatasync and close (see above)
        self._buffer_bytes = buffer_bytes
        self._buf: list[bytes] = []
        self._buffered = 0
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            header = encode_header(magic)
            _write_all(self._fd, header)
            self.size = len(header)
            if fsync_dir:
                sync_dir(os.path.dirname(path) or ".")
        except OSError as exc:
            raise PersistenceError(f"cannot create log {path}: {exc}") from exc
        self.unsynced = True

    def append(self, payloads: list[bytes]) -> int:
        """Frame and append `payloads`; returns bytes appended."""
        data = b"".join([frame(p) for p in payloads]) if len(payloads) != 1 else frame(payloads[0])
        return self.append_framed(data)

    def append_framed(self, data: bytes) -> int:
        """Append already-framed records (one write() unless buffered)."""
        n = len(data)
        with self._lock:
            self.size += n
            self.unsynced = True
            if self._buffer_bytes:
                self._buf.append(data)
                self._buffered += n
                if self._buffered >= self._buffer_bytes:
                    self._flush_locked()
            else:
                self._write_locked(data)
        return n

    def flush(self) -> None:
        """Hand buffered records to the OS (one write())."""
        with self._lock:
            self._flush_locked()

    @property
    def buffered(self) -> int:
        """Bytes appended but not yet handed to the OS. Read without the lock: a cheap hint
        that lets a caller skip `flush` (and a wait behind an fsync) when there is nothing."""
        return self._buffered

    def sync(self) -> None:
        """Flush and fsync everything appended before the call (appends made meanwhile wait for
        the next sync). A failure is final: the caller must stop acknowledging writes."""
        with self._sync_lock:
            with self._lock:
                self._flush_locked()
                fd = self._fd
                if fd is None or not self.unsynced:
                    return
                self.unsynced = False  # an append during the fdatasync sets it again
            try:
                _datasync(fd)
            except OSError as exc:
                self.unsynced = True
                raise PersistenceError(f"fsync of {self.path} failed: {exc}") from exc

    def close(self, *, sync: bool = True) -> None:
        try:
            if sync:
                self.sync()
            else:
                self.flush()
        finally:
            with self._sync_lock, self._lock:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    def _flush_locked(self) -> None:
        if self._buf:
            data = b"".join(self._buf)
            self._buf.clear()
            self._buffered = 0
            self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        if self._fd is None:
            raise PersistenceError(f"log {self.path} is closed")
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            raise PersistenceError(f"write to {self.path} failed: {exc}") from exc


def _datasync(fd: int) -> None:
    """fdatasync where there is one (Linux): it skips inode metadata that does not affect
    reading the data back (mtime), but still persists the file size; LevelDB and Redis do the
    same for their logs."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):  # rare: a short write on a regular file (disk nearly full)
        written += os.write(fd, data[written:])


def check_record_size(payload: bytes) -> None:
    if len(payload) > MAX_RECORD_BYTES:
        raise ValueError(f"record of {len(payload)} bytes exceeds {MAX_RECORD_BYTES}")


def sync_dir(path: str) -> None:
    """fsync a directory so a create/rename in it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
