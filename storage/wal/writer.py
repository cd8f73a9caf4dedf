"""Append framed records to a log file (the WAL, or the manifest: same framing).

Each `append` is ONE os.write of everything handed to it, so a group commit costs one syscall;
nothing stays in a user-space buffer, so a process crash (SIGKILL) never loses an acknowledged
record even with fsync="no" — only an OS crash can, as in Redis' appendfsync semantics.

Concurrency: one appender at a time (the engine's group-commit leader); `sync` may be called
from the everysec thread while an append runs; `sync` and `close` share a lock so a sync never
hits a closed (or reused) file descriptor.
"""

from __future__ import annotations

import os
import threading

from storage.errors import PersistenceError
from storage.wal.format import MAX_RECORD_BYTES, encode_header, frame


class LogWriter:
    """REQUIRES: `path` does not exist yet (a new log per memtable / manifest)."""

    def __init__(self, path: str, magic: int, *, fsync_dir: bool = True) -> None:
        self.path = path
        self._sync_lock = threading.Lock()
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            header = encode_header(magic)
            os.write(self._fd, header)
            self.size = len(header)
            if fsync_dir:
                sync_dir(os.path.dirname(path) or ".")
        except OSError as exc:
            raise PersistenceError(f"cannot create log {path}: {exc}") from exc
        self.unsynced = True

    def append(self, payloads: list[bytes]) -> int:
        """Frame and write `payloads` with one write(); returns bytes written."""
        data = b"".join([frame(p) for p in payloads]) if len(payloads) != 1 else frame(payloads[0])
        return self.append_framed(data)

    def append_framed(self, data: bytes) -> int:
        """Write already-framed records with one write() (short writes are retried)."""
        fd = self._fd
        if fd is None:
            raise PersistenceError(f"log {self.path} is closed")
        try:
            written = os.write(fd, data)
            while written < len(data):  # rare: a short write on a regular file (disk nearly full)
                written += os.write(fd, data[written:])
        except OSError as exc:
            raise PersistenceError(f"write to {self.path} failed: {exc}") from exc
        self.size += len(data)
        self.unsynced = True
        return len(data)

    def sync(self) -> None:
        """fsync the file. A failure is final: the caller must stop acknowledging writes."""
        with self._sync_lock:
            if self._fd is None or not self.unsynced:
                return
            self.unsynced = False
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise PersistenceError(f"fsync of {self.path} failed: {exc}") from exc

    def close(self, *, sync: bool = True) -> None:
        if sync:
            self.sync()
        with self._sync_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


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
