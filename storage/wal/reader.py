"""Read framed records back, telling a torn tail from real damage.

Rules (docs/formats/wal.md):
  * a header or payload cut short by the end of the file, or a bad CRC on a record that ends
    exactly at the end of the file, is a TORN TAIL — the write that was in flight when the process
    or machine died. It is ignored when `tail_ok` (the newest log, the live manifest): that record
    was never acknowledged.
  * a length running past the end of a file that is not the newest (`tail_ok=False`: a sealed,
    fsynced log) is `LengthPastEndError`;
  * a bad CRC with more bytes after it is damage in the MIDDLE: `ChecksumMismatchError` with file
    and offset. Later records are not silently dropped.
  * a wrong magic or version is `BadMagicError` / `UnsupportedVersionError`.
"""

from __future__ import annotations

from collections.abc import Iterator

from storage.errors import (
    BadMagicError,
    ChecksumMismatchError,
    LengthPastEndError,
    UnsupportedVersionError,
)
from storage.wal.format import (
    FORMAT_VERSION,
    HEADER,
    HEADER_SIZE,
    MAX_RECORD_BYTES,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    record_crc,
)


class LogReader:
    def __init__(self, path: str, magic: int, *, tail_ok: bool = True) -> None:
        self.path = path
        self.magic = magic
        self.tail_ok = tail_ok
        #: offset just past the last good record (where a torn tail starts, if any).
        self.end_offset = 0
        self.torn_tail = False

    def records(self) -> Iterator[tuple[int, bytes]]:
        """Yield (offset, payload) for each intact record."""
        with open(self.path, "rb") as f:
            data = f.read()
        self._check_header(data)
        pos = HEADER_SIZE
        size = len(data)
        self.end_offset = pos
        while pos < size:
            if size - pos < RECORD_HEADER_SIZE:
                self._tail(pos, "incomplete record header")
                return
            crc, length = RECORD_HEADER.unpack_from(data, pos)
            end = pos + RECORD_HEADER_SIZE + length
            if length > MAX_RECORD_BYTES or end > size:
                if self._is_zero_fill(data, pos):
                    self._tail(pos, "zero-filled tail")
                    return
                if not self.tail_ok or length > MAX_RECORD_BYTES:
                    raise LengthPastEndError(self.path, pos, f"length {length} runs past end")
                self._tail(pos, "incomplete record")
                return
            payload = data[pos + RECORD_HEADER_SIZE : end]
            if record_crc(length, payload) != crc:
                if self.tail_ok and (end == size or self._is_zero_fill(data, end)):
                    self._tail(pos, "checksum mismatch in last record")
                    return
                raise ChecksumMismatchError(self.path, pos, "record checksum mismatch")
            yield pos, payload
            pos = end
            self.end_offset = pos

    def _check_header(self, data: bytes) -> None:
        if len(data) < HEADER_SIZE:
            if self.tail_ok and not data.strip(b"\0"):
                return  # created, header never reached the disk: an empty log
            raise BadMagicError(self.path, 0, "file too short for a header")
        magic, version, _ = HEADER.unpack_from(data, 0)
        if magic != self.magic:
            raise BadMagicError(self.path, 0, f"bad magic {magic:#010x}")
        if version != FORMAT_VERSION:
            raise UnsupportedVersionError(self.path, 4, f"unsupported format version {version}")

    def _tail(self, pos: int, why: str) -> None:
        if not self.tail_ok:
            raise LengthPastEndError(self.path, pos, why)
        self.torn_tail = True

    @staticmethod
    def _is_zero_fill(data: bytes, pos: int) -> bool:
        """A crash can leave the file extended with zeros (delayed allocation)."""
        return not data[pos:].strip(b"\0")
