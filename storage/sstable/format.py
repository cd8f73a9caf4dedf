"""SSTable file format: constants, block handles, header/footer and properties codecs.

Every number below is on disk: DO NOT RENUMBER, DO NOT REORDER. Add new block types or
footer fields only with a new FORMAT_VERSION; new property tags need none (readers skip
unknown tags). docs/formats/sstable.md holds the same grammar with the reasons.

    sstable      := header data_block* filter_block properties_block index_block footer
    header       := magic: bytes[8], version: u32                       # 12 bytes at offset 0
    block        := payload: bytes[size], type: u8, crc32: u32          # size lives in the handle
                    # crc32 = zlib CRC-32 of (payload + type); checked before decompressing
    type         := 0 RAW | 1 LZ4                                       # do not renumber
                    # LZ4 payload = lz4.block.compress(records, store_size=True):
                    #   uncompressed_size: u32, lz4 block bytes
    handle       := offset: u64, size: u32                              # size excludes the trailer
    records      := count: u32, separator: u16, tags: u64[count],
                    key_ends: u32[count], value_ends: u32[count], keys, values
                    # key_ends/value_ends: running totals of key/value lengths
    keys         := key (sep key)*      if separator <= 255; sep = that byte, in no key
                  | key*                if separator = 0xFFFF (no unused byte value)
    values       := value*              # value i = values[value_ends[i-1]:value_ends[i]]
    data_block   := block of records; tag = seq << 8 | kind; order: key asc, seq desc
    index_block  := block of records, one per data block: key = key of its last entry,
                    tag = seq of its last entry, value = handle
    filter_block := block of bloom: bits: bytes[m/8], probes: u8       # version 1, bloom.py
                  | block of blocks: bytes[64 * n], layout: u8 = 1     # version 2, bloom.py
                    # filter, properties and index blocks are written RAW (read at open)
    properties   := block of property*
    property     := tag: varint, length: varint, value: bytes[length]   # unknown tags skipped
                    # integer properties hold a varint; min_key/max_key/compression raw bytes
    footer       := filter: handle, properties: handle, index: handle,
                    crc32: u32, version: u32, magic: bytes[8]           # 52 bytes at the end
                    # crc32 = zlib CRC-32 of the three handles

All integers are little-endian. The header lets a reader tell a foreign file (bad magic)
from a truncated SSTable (header present, footer magic missing). Magic and version sit at
the same place from the end in every version, so the version is read before the rest of
the footer is trusted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from storage.coding import crc32, decode_varint, encode_varint
from storage.errors import (
    BadMagicError,
    ChecksumMismatchError,
    CorruptionError,
    LengthPastEndError,
    UnsupportedVersionError,
)

#: first and last 8 bytes of every SSTable. The non-ASCII first byte catches text-mode
#: mangling, as PNG's does. Do not change.
MAGIC = b"\x93RDYNSST"
#: bump when the layout changes; readers refuse versions they do not know. Do not renumber.
#: 1: classic bloom filter (bloom.build_filter); 2: blocked bloom filter
#: (bloom.build_blocked_filter), everything else the same. Writers write 2.
FORMAT_VERSION = 2
#: versions this code reads.
READABLE_VERSIONS = (1, 2)

KIND_DELETE = 0  #: tombstone; its value is b"". On disk: do not renumber.
KIND_PUT = 1  #: a live value. On disk: do not renumber.
KIND_NAMES = {KIND_DELETE: "DELETE", KIND_PUT: "PUT"}

#: sequence numbers share a u64 with the kind byte (tag = seq << 8 | kind).
SEQ_LIMIT = 1 << 56

BLOCK_RAW = 0  #: block payload stored as is. On disk: do not renumber.
BLOCK_LZ4 = 1  #: lz4.block with a u32 uncompressed-size prefix. On disk: do not renumber.
BLOCK_TYPE_NAMES = {BLOCK_RAW: "raw", BLOCK_LZ4: "lz4"}

HEADER = struct.Struct("<8sI")
HEADER_SIZE = HEADER.size  # 12
#: type: u8, crc32: u32 after every block payload.
TRAILER = struct.Struct("<BI")
TRAILER_SIZE = TRAILER.size  # 5
HANDLE = struct.Struct("<QI")
FOOTER = struct.Struct("<QIQIQIII8s")
FOOTER_SIZE = FOOTER.size  # 52
_FOOTER_CRC_SPAN = 3 * HANDLE.size
#: the smallest well-formed file: header, three empty blocks with trailers, footer.
MIN_FILE_SIZE = HEADER_SIZE + FOOTER_SIZE

# Property tags (on disk: do not renumber).
PROP_ENTRIES = 1
PROP_TOMBSTONES = 2
PROP_MIN_KEY = 3
PROP_MAX_KEY = 4
PROP_MIN_SEQ = 5
PROP_MAX_SEQ = 6
PROP_RAW_KEY_BYTES = 7
PROP_RAW_VALUE_BYTES = 8
PROP_DATA_BLOCK_BYTES = 9
PROP_DATA_BLOCKS = 10
PROP_INDEX_BLOCK_BYTES = 11
PROP_FILTER_BLOCK_BYTES = 12
PROP_BLOOM_BITS_PER_KEY = 13
PROP_DISTINCT_KEYS = 14
PROP_COMPRESSION = 15

#: (tag, field name, is_bytes) for every property the writer emits.
_PROPERTY_FIELDS: tuple[tuple[int, str, bool], ...] = (
    (PROP_ENTRIES, "entries", False),
    (PROP_TOMBSTONES, "tombstones", False),
    (PROP_MIN_KEY, "min_key", True),
    (PROP_MAX_KEY, "max_key", True),
    (PROP_MIN_SEQ, "min_seq", False),
    (PROP_MAX_SEQ, "max_seq", False),
    (PROP_RAW_KEY_BYTES, "raw_key_bytes", False),
    (PROP_RAW_VALUE_BYTES, "raw_value_bytes", False),
    (PROP_DATA_BLOCK_BYTES, "data_block_bytes", False),
    (PROP_DATA_BLOCKS, "data_blocks", False),
    (PROP_INDEX_BLOCK_BYTES, "index_block_bytes", False),
    (PROP_FILTER_BLOCK_BYTES, "filter_block_bytes", False),
    (PROP_BLOOM_BITS_PER_KEY, "bloom_bits_per_key", False),
    (PROP_DISTINCT_KEYS, "distinct_keys", False),
    (PROP_COMPRESSION, "compression", True),
)


@dataclass(frozen=True)
class BlockHandle:
    """Where a block's payload lives: `size` bytes at `offset`, then the 5-byte trailer."""

    offset: int
    size: int

    def encode(self) -> bytes:
        return HANDLE.pack(self.offset, self.size)

    @classmethod
    def decode(cls, data: bytes, offset: int = 0) -> BlockHandle:
        return cls(*HANDLE.unpack_from(data, offset))

    @property
    def end(self) -> int:
        """Offset just past the trailer."""
        return self.offset + self.size + TRAILER_SIZE


@dataclass(frozen=True)
class Footer:
    filter: BlockHandle
    properties: BlockHandle
    index: BlockHandle
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        handles = self.filter.encode() + self.properties.encode() + self.index.encode()
        tail = struct.pack("<II8s", crc32(handles), self.version, MAGIC)
        return handles + tail


@dataclass(frozen=True)
class TableProperties:
    """What a table holds, written by the builder and read back by Table.open.

    file_size is not stored (the file cannot contain its own final size cheaply): the
    builder knows it at finish() and the reader takes it from fstat.
    """

    entries: int = 0
    tombstones: int = 0
    min_key: bytes = b""
    max_key: bytes = b""
    min_seq: int = 0
    max_seq: int = 0
    raw_key_bytes: int = 0
    raw_value_bytes: int = 0
    #: on-disk bytes of all data blocks, compressed, trailers included.
    data_block_bytes: int = 0
    data_blocks: int = 0
    index_block_bytes: int = 0
    filter_block_bytes: int = 0
    bloom_bits_per_key: int = 0
    #: distinct user keys (the bloom filter's key count).
    distinct_keys: int = 0
    compression: bytes = b"none"
    file_size: int = 0
    format_version: int = FORMAT_VERSION


def encode_header(version: int = FORMAT_VERSION) -> bytes:
    return HEADER.pack(MAGIC, version)


def check_header(path: str, data: bytes) -> None:
    """Raise BadMagicError / UnsupportedVersionError unless `data` starts an SSTable."""
    magic, version = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise BadMagicError(path, 0, f"not an SSTable (magic {magic!r} != {MAGIC!r})")
    if version not in READABLE_VERSIONS:
        raise UnsupportedVersionError(
            path, 8, f"SSTable format version {version} (this code reads {READABLE_VERSIONS})"
        )


def decode_footer(path: str, data: bytes, file_size: int) -> Footer:
    """Parse and check the last FOOTER_SIZE bytes of a file whose header was already checked.

    A missing footer magic after a good header means the tail is gone: LengthPastEndError.
    """
    offset = file_size - FOOTER_SIZE
    *fields, crc, version, magic = FOOTER.unpack(data)
    if magic != MAGIC:
        raise LengthPastEndError(
            path, file_size - 8, "SSTable footer magic missing (file truncated or tail damaged)"
        )
    if version not in READABLE_VERSIONS:
        raise UnsupportedVersionError(
            path,
            file_size - 12,
            f"SSTable footer version {version} (this code reads {READABLE_VERSIONS})",
        )
    if crc32(data[:_FOOTER_CRC_SPAN]) != crc:
        raise ChecksumMismatchError(path, offset, "SSTable footer checksum mismatch")
    handles = [BlockHandle(fields[i], fields[i + 1]) for i in range(0, 6, 2)]
    for name, handle in zip(("filter", "properties", "index"), handles, strict=True):
        if handle.offset < HEADER_SIZE or handle.end > offset:
            raise LengthPastEndError(
                path,
                handle.offset,
                f"{name} block handle ({handle.offset}+{handle.size}) past the data region "
                f"(file is {file_size} bytes)",
            )
    return Footer(*handles, version=version)


def encode_properties(props: TableProperties) -> bytes:
    parts: list[bytes] = []
    for tag, name, is_bytes in _PROPERTY_FIELDS:
        value = getattr(props, name)
        raw = value if is_bytes else encode_varint(value)
        parts.append(encode_varint(tag) + encode_varint(len(raw)) + raw)
    return b"".join(parts)


def decode_properties(path: str, offset: int, payload: bytes, file_size: int) -> TableProperties:
    """Parse a properties payload; unknown tags are skipped so newer writers stay readable."""
    by_tag = {tag: (name, is_bytes) for tag, name, is_bytes in _PROPERTY_FIELDS}
    values: dict[str, int | bytes] = {}
    pos = 0
    try:
        while pos < len(payload):
            tag, pos = decode_varint(payload, pos)
            length, pos = decode_varint(payload, pos)
            raw = payload[pos : pos + length]
            if len(raw) != length:
                raise ValueError("property value runs past the block")
            pos += length
            if tag in by_tag:
                name, is_bytes = by_tag[tag]
                values[name] = bytes(raw) if is_bytes else decode_varint(raw)[0]
    except ValueError as exc:
        raise CorruptionError(path, offset, f"bad properties block ({exc})") from exc
    return TableProperties(**values, file_size=file_size)  # type: ignore[arg-type]
