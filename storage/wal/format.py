"""Write-ahead log grammar, shared by writer.py and reader.py (LevelDB's log_format split).

    file    := header record*
    header  := magic: u32 = 0x5244574C ("RDWL"), version: u16 = 1, reserved: u16 = 0
    record  := crc32: u32, length: u32, payload: u8[length]
    crc32   := zlib.crc32(length bytes || payload)      # covers the length, so a flipped length
                                                      # is caught instead of mis-framing the rest
    payload := an opaque record (a WriteBatch for the WAL, a VersionEdit for the manifest)

All integers little-endian. A record is never split: a batch is one record, so replay is
all-or-nothing per batch (the atomicity of WriteBatch rests on this). The manifest reuses this
framing with its own magic.

On-disk constants: do not renumber.
"""

from __future__ import annotations

import struct
import zlib

#: magic of a WAL file. Do not renumber.
WAL_MAGIC = 0x5244574C
#: magic of a manifest file (same framing). Do not renumber.
MANIFEST_MAGIC = 0x52444D46
#: format version written by this code. Do not renumber.
FORMAT_VERSION = 1

HEADER = struct.Struct("<IHH")
RECORD_HEADER = struct.Struct("<II")
HEADER_SIZE = HEADER.size  # 8
RECORD_HEADER_SIZE = RECORD_HEADER.size  # 8
#: a record larger than this is refused on write and treated as damage on read (64 MiB).
MAX_RECORD_BYTES = 64 * 1024 * 1024

_LEN = struct.Struct("<I")
_crc32 = zlib.crc32


def encode_header(magic: int) -> bytes:
    return HEADER.pack(magic, FORMAT_VERSION, 0)


def frame(payload: bytes) -> bytes:
    """One framed record: crc32, length, payload."""
    length = _LEN.pack(len(payload))
    crc = _crc32(payload, _crc32(length))
    return _LEN.pack(crc) + length + payload


def record_crc(length: int, payload: bytes | memoryview) -> int:
    return _crc32(payload, _crc32(_LEN.pack(length)))
