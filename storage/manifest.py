"""The manifest: an append-only log of VersionEdits, plus CURRENT naming the live manifest.

    MANIFEST-<n> := header record*          # WAL framing (storage/wal/format.py), magic "RDMF"
    header       := magic: u32 = 0x52444D46, version: u16 = 1, reserved: u16 = 0
    record       := crc32: u32, length: u32, payload: VersionEdit (storage/version.py)
    first record := a full snapshot of the version (every live file), then one edit per change
    CURRENT      := "respdyn-current" SP version SP "MANIFEST-<n>" LF     # version = 1

Crash safety: an edit is appended and fsynced before the engine uses the new version or deletes
any file it obsoletes; a torn last record is ignored on load (that edit never took effect, and
the files it added are deleted as unreferenced). CURRENT is replaced atomically: write
CURRENT.tmp, fsync it, rename over CURRENT, fsync the directory. A new manifest is started on
every open (so the log never grows without bound across restarts).
"""

from __future__ import annotations

import os
import struct

from storage.errors import BadMagicError, CorruptionError, UnsupportedVersionError
from storage.version import Version, VersionEdit
from storage.wal.format import MANIFEST_MAGIC
from storage.wal.reader import LogReader
from storage.wal.writer import LogWriter, sync_dir

CURRENT = "CURRENT"
#: first word of CURRENT. Do not change.
CURRENT_MAGIC = "respdyn-current"
CURRENT_VERSION = 1


def manifest_name(number: int) -> str:
    return f"MANIFEST-{number:06d}"


class ManifestWriter:
    """REQUIRES: one caller at a time (the engine's work lock)."""

    def __init__(self, dirpath: str, number: int, version: Version) -> None:
        self.path = os.path.join(dirpath, manifest_name(number))
        self.number = number
        self._log = LogWriter(self.path, MANIFEST_MAGIC, fsync_dir=False)
        self._log.append([version.snapshot_edit().encode()])
        self._log.sync()
        set_current(dirpath, manifest_name(number))

    def append(self, edit: VersionEdit) -> None:
        """Log and fsync one edit: when this returns the edit survives a crash."""
        self._log.append([edit.encode()])
        self._log.sync()

    @property
    def size(self) -> int:
        return self._log.size

    def close(self) -> None:
        self._log.close(sync=False)


def set_current(dirpath: str, name: str) -> None:
    tmp = os.path.join(dirpath, CURRENT + ".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{CURRENT_MAGIC} {CURRENT_VERSION} {name}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(dirpath, CURRENT))
    sync_dir(dirpath)


def read_current(dirpath: str) -> str:
    """The manifest file name CURRENT points to."""
    path = os.path.join(dirpath, CURRENT)
    with open(path, "rb") as f:
        raw = f.read(4096)
    parts = raw.decode("ascii", "replace").split()
    if len(parts) != 3 or parts[0] != CURRENT_MAGIC:
        raise BadMagicError(path, 0, "CURRENT is not a respdyn CURRENT file")
    if parts[1] != str(CURRENT_VERSION):
        offset = len(CURRENT_MAGIC) + 1
        raise UnsupportedVersionError(path, offset, f"unsupported version {parts[1]}")
    if not parts[2].startswith("MANIFEST-") or "/" in parts[2]:
        raise CorruptionError(path, None, f"CURRENT names {parts[2]!r}")
    return parts[2]


def load(dirpath: str) -> tuple[Version, int]:
    """Replay the manifest CURRENT names. -> (version, manifest number)."""
    name = read_current(dirpath)
    path = os.path.join(dirpath, name)
    if not os.path.exists(path):
        raise CorruptionError(path, None, "manifest named by CURRENT is missing")
    version = Version()
    reader = LogReader(path, MANIFEST_MAGIC, tail_ok=True)
    for offset, payload in reader.records():
        try:
            version = version.apply(VersionEdit.decode(payload))
        except (ValueError, struct.error, IndexError) as exc:
            raise CorruptionError(path, offset, f"bad version edit ({exc})") from exc
    return version, int(name.split("-", 1)[1])
