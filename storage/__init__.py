"""storage: a crash-safe log-structured merge engine (WAL, memtable, leveled SSTables).

Usable on its own: it never imports respdyn or gevent. See docs/storage.md.

    db = storage.open("data/node1", storage.Options(fsync="everysec"))
    db.put(b"k", b"v"); db.get(b"k"); db.delete(b"k"); db.write(batch)
    for key, value in db.scan(b"a", b"b"): ...
    with db.snapshot() as snap: snap.get(b"k")
"""

from storage.batch import WriteBatch
from storage.engine import Engine, Snapshot
from storage.engine import open_engine as open
from storage.errors import (
    BadMagicError,
    ChecksumMismatchError,
    ClosedError,
    CorruptionError,
    LengthPastEndError,
    NotAStorageDirectory,
    PersistenceError,
    StorageError,
    UnsupportedVersionError,
)
from storage.options import Options

__all__ = [
    "BadMagicError",
    "ChecksumMismatchError",
    "ClosedError",
    "CorruptionError",
    "Engine",
    "LengthPastEndError",
    "NotAStorageDirectory",
    "Options",
    "PersistenceError",
    "Snapshot",
    "StorageError",
    "UnsupportedVersionError",
    "WriteBatch",
    "open",
]
