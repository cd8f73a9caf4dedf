"""Typed storage errors. Each names the file (and offset where one applies) so an operator can
find the damage; the layer above maps them to Redis' `-MISCONF`/`-ERR` replies."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error the engine raises on purpose."""


class NotAStorageDirectory(StorageError):
    """The path exists but holds something else (no CURRENT/manifest, foreign files)."""


class ClosedError(StorageError):
    """The engine was closed."""


class PersistenceError(StorageError):
    """A write or fsync failed (disk full, I/O error). The engine refuses further writes until
    reopened: it must not acknowledge what it cannot persist (the fsyncgate lesson)."""


class CorruptionError(StorageError):
    """Bytes on disk are not what was written. Carries the file and offset."""

    def __init__(self, path: str, offset: int | None, reason: str) -> None:
        where = f"{path}" if offset is None else f"{path} at offset {offset}"
        super().__init__(f"{reason}: {where}")
        self.path = path
        self.offset = offset
        self.reason = reason


class BadMagicError(CorruptionError):
    """The file does not start/end with this format's magic number."""


class UnsupportedVersionError(CorruptionError):
    """The file was written by a format version this code does not read."""


class ChecksumMismatchError(CorruptionError):
    """A record's or block's CRC does not match its bytes."""


class LengthPastEndError(CorruptionError):
    """A length field points past the end of the file (a truncated or damaged file)."""
