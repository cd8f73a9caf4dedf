"""storage.sstable: TableBuilder -> Table round trips, ordering contract, bloom skipping,
concurrency, and one named test per corruption case."""

from __future__ import annotations

import errno
import os
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.cache import BlockCache
from storage.coding import crc32
from storage.errors import (
    BadMagicError,
    ChecksumMismatchError,
    ClosedError,
    LengthPastEndError,
    PersistenceError,
    UnsupportedVersionError,
)
from storage.options import Options
from storage.sstable import KIND_DELETE, KIND_PUT, Table, TableBuilder, TableProperties
from storage.sstable.format import (
    FOOTER,
    FOOTER_SIZE,
    HEADER_SIZE,
    MAGIC,
    MIN_FILE_SIZE,
    TRAILER_SIZE,
    BlockHandle,
    Footer,
)

Entry = tuple[bytes, int, int, bytes]
MAX_SEQ = (1 << 56) - 1


def build(path: Path, entries: Iterable[Entry], **options: object) -> TableProperties:
    builder = TableBuilder(str(path), Options(**options))  # type: ignore[arg-type]
    for entry in entries:
        builder.add(*entry)
    return builder.finish()


def open_table(path: Path, cache: BlockCache | None = None, number: int = 1) -> Table:
    return Table.open(str(path), number, Options(), cache)


def numbered(n: int, value_size: int = 20) -> list[Entry]:
    return [(b"key:%06d" % i, i + 1, KIND_PUT, b"%d" % i * value_size) for i in range(n)]


# Versions of one key: newest first. Shared by the snapshot cases below.
VERSIONED: list[Entry] = [
    (b"a", 1, KIND_PUT, b"a1"),
    (b"b", 30, KIND_PUT, b"b30"),
    (b"b", 20, KIND_DELETE, b""),
    (b"b", 10, KIND_PUT, b"b10"),
    (b"c", 5, KIND_PUT, b"c5"),
]


@pytest.fixture
def versioned(tmp_path: Path) -> Table:
    path = tmp_path / "v.sst"
    build(path, VERSIONED)
    return open_table(path)


@pytest.mark.parametrize(
    ("key", "snapshot", "expected"),
    [
        (b"b", MAX_SEQ, (30, KIND_PUT, b"b30")),
        (b"b", 30, (30, KIND_PUT, b"b30")),
        (b"b", 29, (20, KIND_DELETE, b"")),
        (b"b", 20, (20, KIND_DELETE, b"")),
        (b"b", 15, (10, KIND_PUT, b"b10")),
        (b"b", 9, None),  # every version is newer than the snapshot
        (b"a", 1, (1, KIND_PUT, b"a1")),
        (b"a", 0, None),
        (b"c", 100, (5, KIND_PUT, b"c5")),
        (b"", 100, None),  # before the first key
        (b"bb", 100, None),  # between keys
        (b"d", 100, None),  # after the last key
    ],
)
def test_get_respects_snapshot(
    versioned: Table, key: bytes, snapshot: int, expected: tuple | None
) -> None:
    assert versioned.get(key, snapshot) == expected


@pytest.mark.parametrize(
    ("start", "first_key"),
    [(None, b"a"), (b"", b"a"), (b"a", b"a"), (b"aa", b"b"), (b"b", b"b"), (b"c", b"c")],
)
def test_iter_from_start(versioned: Table, start: bytes | None, first_key: bytes) -> None:
    got = list(versioned.iter(start))
    expected = [e for e in VERSIONED if e[0] >= first_key]
    assert got == expected


def test_iter_past_last_key_is_empty(versioned: Table) -> None:
    assert list(versioned.iter(b"z")) == []


def test_iter_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "lazy.sst"
    build(path, numbered(5_000), block_size=512)
    table = open_table(path)
    it = table.iter()
    next(it)
    assert table.block_reads == 1
    assert table.properties.data_blocks > 10


def test_properties_describe_the_table(tmp_path: Path) -> None:
    path = tmp_path / "p.sst"
    props = build(path, VERSIONED)
    expected = {
        "entries": 5,
        "tombstones": 1,
        "min_key": b"a",
        "max_key": b"c",
        "min_seq": 1,
        "max_seq": 30,
        "raw_key_bytes": 5,
        "raw_value_bytes": 2 + 3 + 0 + 3 + 2,
        "data_blocks": 1,
        "distinct_keys": 3,
        "bloom_bits_per_key": Options().bloom_bits_per_key,
        "file_size": path.stat().st_size,
    }
    assert {name: getattr(props, name) for name in expected} == expected
    assert props.data_block_bytes > 0
    assert open_table(path).properties == props


def test_many_blocks_round_trip_with_compression(tmp_path: Path) -> None:
    entries = numbered(20_000)
    path = tmp_path / "big.sst"
    props = build(path, entries)
    assert props.data_blocks > 50
    assert props.data_block_bytes < props.raw_key_bytes + props.raw_value_bytes  # LZ4 helped
    table = open_table(path, BlockCache(1 << 20))
    assert list(table.iter()) == entries
    for key, seq, kind, value in entries[::97]:
        assert table.get(key, MAX_SEQ) == (seq, kind, value)


def test_uncompressed_table_round_trips(tmp_path: Path) -> None:
    entries = numbered(2_000)
    path = tmp_path / "raw.sst"
    props = build(path, entries, compression="none")
    assert props.compression == b"none"
    assert props.data_block_bytes > props.raw_key_bytes + props.raw_value_bytes
    assert list(open_table(path).iter()) == entries


def test_value_larger_than_a_block(tmp_path: Path) -> None:
    big = os.urandom(50_000)
    entries = [(b"a", 2, KIND_PUT, b"x"), (b"b", 1, KIND_PUT, big), (b"c", 3, KIND_PUT, b"y")]
    path = tmp_path / "large.sst"
    build(path, entries, block_size=1024)
    table = open_table(path)
    assert table.get(b"b", MAX_SEQ) == (1, KIND_PUT, big)
    assert list(table.iter()) == entries


def test_versions_spanning_blocks_honour_snapshot(tmp_path: Path) -> None:
    entries = [(b"hot", seq, KIND_PUT, b"v%03d" % seq) for seq in range(300, 0, -1)]
    entries = [(b"a", 1, KIND_PUT, b"a"), *entries, (b"z", 1, KIND_PUT, b"z")]
    path = tmp_path / "hot.sst"
    props = build(path, entries, block_size=256)
    assert props.data_blocks > 5
    table = open_table(path)
    for snapshot in (300, 299, 150, 37, 1, 1000):
        seq = min(snapshot, 300)
        assert table.get(b"hot", snapshot) == (seq, KIND_PUT, b"v%03d" % seq)
    assert table.get(b"hot", 0) is None
    assert table.bloom_false_positives == 0


def test_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "empty.sst"
    props = build(path, [])
    table = open_table(path)
    assert (props.entries, props.data_blocks, table.properties.entries) == (0, 0, 0)
    assert list(table.iter()) == []
    assert table.get(b"k", MAX_SEQ) is None


def test_empty_key_is_a_valid_key(tmp_path: Path) -> None:
    entries = [(b"", 5, KIND_PUT, b"e5"), (b"", 4, KIND_DELETE, b""), (b"a", 1, KIND_PUT, b"a")]
    path = tmp_path / "ek.sst"
    props = build(path, entries)
    assert props.distinct_keys == 2
    assert open_table(path).get(b"", 4) == (4, KIND_DELETE, b"")


# -- builder contract -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((b"b", 1, KIND_PUT, b""), (b"a", 1, KIND_PUT, b"")),  # key goes down
        ((b"a", 5, KIND_PUT, b""), (b"a", 5, KIND_PUT, b"")),  # duplicate (key, seq)
        ((b"a", 5, KIND_PUT, b""), (b"a", 6, KIND_PUT, b"")),  # seq goes up within a key
        ((b"a", 1, KIND_PUT, b""), (b"b", 1 << 56, KIND_PUT, b"")),  # seq too large
        ((b"a", 1, KIND_PUT, b""), (b"b", -1, KIND_PUT, b"")),  # negative seq
        ((b"a", 1, KIND_PUT, b""), (b"b", 1, 7, b"")),  # unknown kind
        ((b"a", 1, KIND_PUT, b""), (b"b", 1, KIND_DELETE, b"x")),  # tombstone with a value
    ],
)
def test_add_rejects_contract_violations(tmp_path: Path, first: Entry, second: Entry) -> None:
    builder = TableBuilder(str(tmp_path / "bad.sst"), Options())
    builder.add(*first)
    with pytest.raises(ValueError):
        builder.add(*second)
    # The rejected record left no trace: the table and its properties hold only the first.
    props = builder.finish()
    assert list(open_table(tmp_path / "bad.sst").iter()) == [first]
    assert (props.entries, props.distinct_keys, props.tombstones) == (1, 1, 0)
    assert (props.min_key, props.max_key) == (first[0], first[0])


@pytest.mark.parametrize(
    "rejected",
    [(b"zz", 1 << 56, KIND_DELETE, b""), (b"zz", 1, KIND_DELETE, b"x"), (b"zz", 1, 9, b"")],
)
def test_rejected_first_record_leaves_no_trace(tmp_path: Path, rejected: Entry) -> None:
    builder = TableBuilder(str(tmp_path / "first.sst"), Options())
    with pytest.raises(ValueError):
        builder.add(*rejected)
    builder.add(b"a", 1, KIND_PUT, b"v")
    props = builder.finish()
    assert (props.min_key, props.max_key, props.distinct_keys) == (b"a", b"a", 1)
    assert (props.entries, props.tombstones) == (1, 0)


def test_add_after_finish_raises(tmp_path: Path) -> None:
    builder = TableBuilder(str(tmp_path / "f.sst"), Options())
    builder.finish()
    with pytest.raises(ValueError, match="finished"):
        builder.add(b"a", 1, KIND_PUT, b"")


def test_abandon_deletes_the_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "partial.sst"
    builder = TableBuilder(str(path), Options(block_size=256))
    for entry in numbered(500):
        builder.add(*entry)
    assert path.exists()
    builder.abandon()
    assert not path.exists()
    builder.abandon()  # idempotent


def test_abandon_after_finish_keeps_the_table(tmp_path: Path) -> None:
    path = tmp_path / "done.sst"
    builder = TableBuilder(str(path), Options())
    builder.add(b"k", 1, KIND_PUT, b"v")
    builder.finish()
    builder.abandon()
    assert open_table(path).get(b"k", 1) == (1, KIND_PUT, b"v")


def test_existing_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "reused.sst"
    path.write_bytes(b"leftover from a crashed compaction" * 100)
    build(path, [(b"k", 1, KIND_PUT, b"v")])
    assert list(open_table(path).iter()) == [(b"k", 1, KIND_PUT, b"v")]


def test_fsync_failure_is_persistence_error_and_abandon_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nospace.sst"
    builder = TableBuilder(str(path), Options())
    builder.add(b"k", 1, KIND_PUT, b"v")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(PersistenceError, match="No space left"):
        builder.finish()
    builder.abandon()
    assert not path.exists()


def test_write_failure_during_add_is_persistence_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = TableBuilder(str(tmp_path / "eio.sst"), Options(block_size=64))

    class BrokenFile:
        def write(self, data: bytes) -> int:
            raise OSError(errno.EIO, "I/O error")

        def close(self) -> None:
            pass

    builder._file = BrokenFile()  # type: ignore[assignment]
    with pytest.raises(PersistenceError, match="I/O error"):
        for entry in numbered(100):
            builder.add(*entry)
    builder.abandon()


def test_create_in_missing_directory_is_persistence_error(tmp_path: Path) -> None:
    with pytest.raises(PersistenceError):
        TableBuilder(str(tmp_path / "no" / "such" / "dir.sst"), Options())


def test_estimated_size_tracks_the_final_size(tmp_path: Path) -> None:
    builder = TableBuilder(str(tmp_path / "e.sst"), Options(compression="none"))
    sizes = []
    for n, entry in enumerate(numbered(3_000)):
        builder.add(*entry)
        if n % 500 == 0:
            sizes.append(builder.estimated_size())
    estimate = builder.estimated_size()
    props = builder.finish()
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert 0.8 * props.file_size < estimate <= 1.2 * props.file_size


# -- bloom filter and cache -----------------------------------------------------------------


def test_bloom_skips_block_reads_on_misses(tmp_path: Path) -> None:
    path = tmp_path / "bloom.sst"
    build(path, numbered(5_000))
    cache = BlockCache(1 << 20)
    table = open_table(path, cache)
    misses = [b"absent:%06d" % i for i in range(2_000)]
    results = [table.get(key, MAX_SEQ) for key in misses]
    assert results == [None] * len(misses)
    assert table.bloom_negatives + table.bloom_positives == len(misses)
    assert table.bloom_false_positives == table.bloom_positives
    # Only false positives may touch a block: a cache lookup each, at most one read each.
    assert cache.hits + cache.misses == table.bloom_false_positives
    assert table.block_reads <= table.bloom_false_positives < 0.02 * len(misses)


def test_may_contain_is_the_bloom_filter(tmp_path: Path) -> None:
    path = tmp_path / "mc.sst"
    build(path, numbered(1_000))
    table = open_table(path)
    assert all(table.may_contain(b"key:%06d" % i) for i in range(1_000))
    assert sum(table.may_contain(b"nope:%d" % i) for i in range(10_000)) < 200


def test_bloom_false_positive_rate_near_one_percent(tmp_path: Path) -> None:
    path = tmp_path / "fp.sst"
    build(path, numbered(20_000, value_size=1))
    table = open_table(path)
    for i in range(50_000):
        table.get(b"miss:%08d" % i, MAX_SEQ)
    assert 0.002 * 50_000 < table.bloom_false_positives < 0.015 * 50_000


def test_cache_serves_repeated_gets(tmp_path: Path) -> None:
    path = tmp_path / "c.sst"
    build(path, numbered(1_000))
    cache = BlockCache(1 << 20)
    table = open_table(path, cache)
    for _ in range(3):
        table.get(b"key:000500", MAX_SEQ)
    assert (cache.misses, cache.hits, table.block_reads) == (1, 2, 1)


def test_iter_without_fill_cache_leaves_cache_alone(tmp_path: Path) -> None:
    path = tmp_path / "nf.sst"
    build(path, numbered(2_000))
    cache = BlockCache(1 << 20)
    table = open_table(path, cache)
    assert len(list(table.iter(fill_cache=False))) == 2_000
    assert len(cache) == 0
    list(table.iter())
    assert len(cache) == table.properties.data_blocks


def test_two_tables_share_a_cache_by_file_number(tmp_path: Path) -> None:
    cache = BlockCache(1 << 20)
    build(tmp_path / "1.sst", [(b"k", 1, KIND_PUT, b"one")])
    build(tmp_path / "2.sst", [(b"k", 1, KIND_PUT, b"two")])
    one = open_table(tmp_path / "1.sst", cache, number=1)
    two = open_table(tmp_path / "2.sst", cache, number=2)
    assert one.get(b"k", 1) == (1, KIND_PUT, b"one")
    assert two.get(b"k", 1) == (1, KIND_PUT, b"two")


def test_concurrent_readers_see_consistent_data(tmp_path: Path) -> None:
    entries = numbered(5_000)
    path = tmp_path / "mt.sst"
    build(path, entries, block_size=1024)
    table = open_table(path, BlockCache(64 * 1024))  # small: forces evictions and re-reads
    failures: list[object] = []

    def reader(offset: int) -> None:
        for key, seq, kind, value in entries[offset::7]:
            if table.get(key, MAX_SEQ) != (seq, kind, value):
                failures.append(key)
        if list(table.iter(entries[offset][0])) != entries[offset:]:
            failures.append(("iter", offset))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_closed_table_raises(tmp_path: Path) -> None:
    path = tmp_path / "closed.sst"
    build(path, numbered(10))
    table = open_table(path)
    table.close()
    table.close()  # idempotent
    with pytest.raises(ClosedError):
        table.get(b"key:000001", MAX_SEQ)
    with pytest.raises(ClosedError):
        table.iter()


# -- Hypothesis: random sorted entry sets round-trip ---------------------------------------

entry_sets = st.dictionaries(
    keys=st.tuples(st.binary(max_size=6), st.integers(0, 200)),
    values=st.tuples(st.sampled_from([KIND_PUT, KIND_DELETE]), st.binary(max_size=60)),
    max_size=300,
).map(
    lambda d: [
        (key, seq, kind, value if kind == KIND_PUT else b"")
        for (key, seq), (kind, value) in sorted(d.items(), key=lambda kv: (kv[0][0], -kv[0][1]))
    ]
)


def _model_get(entries: list[Entry], key: bytes, snapshot: int) -> tuple[int, int, bytes] | None:
    for k, seq, kind, value in entries:
        if k == key and seq <= snapshot:
            return seq, kind, value
    return None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=entry_sets,
    probes=st.lists(st.tuples(st.binary(max_size=6), st.integers(0, 210)), max_size=30),
    block_size=st.sampled_from([64, 256, 4096]),
    compression=st.sampled_from(["lz4", "none"]),
)
def test_random_tables_round_trip(
    tmp_path: Path,
    entries: list[Entry],
    probes: list[tuple[bytes, int]],
    block_size: int,
    compression: str,
) -> None:
    path = tmp_path / "h.sst"
    path.unlink(missing_ok=True)
    props = build(path, entries, block_size=block_size, compression=compression)
    assert props.entries == len(entries)
    with open_table(path, BlockCache(8192)) as table:
        assert list(table.iter()) == entries
        keys = [e[0] for e in entries]
        for key, snapshot in [*probes, *((k, s) for k, s, _, _ in entries[::5])]:
            assert table.get(key, snapshot) == _model_get(entries, key, snapshot)
            assert list(table.iter(key)) == [e for e in entries if e[0] >= key]
            if key in keys:
                assert table.may_contain(key)


# -- corruption: one named test per case ----------------------------------------------------


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "000007.sst"
    build(path, numbered(2_000), block_size=1024)
    return path


def _footer(path: Path) -> Footer:
    data = path.read_bytes()[-FOOTER_SIZE:]
    f = FOOTER.unpack(data)
    return Footer(BlockHandle(f[0], f[1]), BlockHandle(f[2], f[3]), BlockHandle(f[4], f[5]))


def _patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _flip(path: Path, offset: int) -> None:
    byte = path.read_bytes()[offset]
    _patch(path, offset, bytes((byte ^ 0x40,)))


def _expect(error: type[Exception], path: Path, offset: int | None = None) -> pytest.ExceptionInfo:
    with pytest.raises(error) as info:
        open_table(path)
    assert info.value.path == str(path)  # type: ignore[attr-defined]
    assert str(path) in str(info.value)
    if offset is not None:
        assert info.value.offset == offset  # type: ignore[attr-defined]
    return info


def test_corruption_bad_magic(good_file: Path) -> None:
    _patch(good_file, 0, b"LEVELDB!")
    _expect(BadMagicError, good_file, offset=0)


def test_corruption_wrong_version_in_header(good_file: Path) -> None:
    _patch(good_file, 8, struct.pack("<I", 3))
    info = _expect(UnsupportedVersionError, good_file, offset=8)
    assert "version 3" in str(info.value)


def test_corruption_wrong_version_in_footer(good_file: Path) -> None:
    size = good_file.stat().st_size
    _patch(good_file, size - 12, struct.pack("<I", 9))
    _expect(UnsupportedVersionError, good_file, offset=size - 12)


def test_corruption_checksum_mismatch_in_data_block(good_file: Path) -> None:
    _flip(good_file, HEADER_SIZE + 3)  # inside the first data block
    table = open_table(good_file)  # metadata is intact; data blocks are checked on read
    assert table.get(b"key:001999", MAX_SEQ) is not None  # other blocks still readable
    with pytest.raises(ChecksumMismatchError) as info:
        table.get(b"key:000000", MAX_SEQ)
    assert (info.value.path, info.value.offset) == (str(good_file), HEADER_SIZE)
    with pytest.raises(ChecksumMismatchError):
        list(table.iter())


def test_corruption_checksum_mismatch_in_index(good_file: Path) -> None:
    index = _footer(good_file).index
    _flip(good_file, index.offset + index.size // 2)
    _expect(ChecksumMismatchError, good_file, offset=index.offset)


def test_corruption_checksum_mismatch_in_filter(good_file: Path) -> None:
    bloom = _footer(good_file).filter
    _flip(good_file, bloom.offset + 1)
    _expect(ChecksumMismatchError, good_file, offset=bloom.offset)


def test_corruption_checksum_mismatch_in_properties(good_file: Path) -> None:
    props = _footer(good_file).properties
    _flip(good_file, props.offset + 1)
    _expect(ChecksumMismatchError, good_file, offset=props.offset)


def test_corruption_checksum_mismatch_in_footer(good_file: Path) -> None:
    size = good_file.stat().st_size
    _flip(good_file, size - FOOTER_SIZE + 1)  # the filter handle's offset
    _expect(ChecksumMismatchError, good_file, offset=size - FOOTER_SIZE)


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, 0.999])
def test_corruption_truncated_file(good_file: Path, keep: float) -> None:
    size = good_file.stat().st_size
    os.truncate(good_file, int(size * keep))
    info = _expect(LengthPastEndError, good_file)
    assert "truncated" in str(info.value)


def test_corruption_length_past_end_of_file(good_file: Path) -> None:
    """A footer (with a valid checksum) whose index handle runs past the end of the file."""
    footer = _footer(good_file)
    size = good_file.stat().st_size
    bad = Footer(footer.filter, footer.properties, BlockHandle(footer.index.offset, size))
    _patch(good_file, size - FOOTER_SIZE, bad.encode())
    _expect(LengthPastEndError, good_file, offset=footer.index.offset)


def test_corruption_data_block_handle_past_end_of_file(tmp_path: Path, good_file: Path) -> None:
    """The index (re-checksummed) points a data block past the end: found at open."""
    from storage.sstable.block import decode_records, encode_records, seal_block, unseal_block

    data = good_file.read_bytes()
    footer = _footer(good_file)
    stored = data[footer.index.offset : footer.index.end]
    index = decode_records(unseal_block("x", 0, stored, footer.index.size))
    handles = [*index.values[:-1], BlockHandle(HEADER_SIZE, len(data)).encode()]
    new_index = seal_block(encode_records(list(index.tags), index.keys, handles), False)
    new_footer = Footer(
        footer.filter,
        footer.properties,
        BlockHandle(footer.index.offset, len(new_index) - TRAILER_SIZE),
    )
    good_file.write_bytes(data[: footer.index.offset] + new_index + new_footer.encode())
    _expect(LengthPastEndError, good_file, offset=HEADER_SIZE)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x93", MAGIC, MAGIC + struct.pack("<I", 1), (MAGIC + b"\x01\x00\x00\x00") * 5],
    ids=["empty", "one byte", "magic only", "header only", "shorter than minimum"],
)
def test_corruption_empty_or_tiny_file(tmp_path: Path, content: bytes) -> None:
    assert len(content) < MIN_FILE_SIZE
    path = tmp_path / "tiny.sst"
    path.write_bytes(content)
    _expect(LengthPastEndError, path)


def test_failed_open_closes_its_file_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "bad.sst"
    path.write_bytes(b"garbage" * 100)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        with pytest.raises(BadMagicError):
            open_table(path)
    assert len(os.listdir("/proc/self/fd")) == before


def test_corruption_tiny_foreign_file_is_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, this is not an sstable")
    _expect(BadMagicError, path, offset=0)


def test_crc_covers_the_footer_handles_only(good_file: Path) -> None:
    """Guards the documented footer layout: crc32 over the three 12-byte handles."""
    tail = good_file.read_bytes()[-FOOTER_SIZE:]
    assert struct.unpack_from("<I", tail, 36)[0] == crc32(tail[:36])
    assert tail[-8:] == MAGIC


# -- properties codec ---------------------------------------------------------------------


def test_properties_round_trip_and_skip_unknown_tags() -> None:
    from storage.coding import encode_varint
    from storage.sstable.format import decode_properties, encode_properties

    props = TableProperties(entries=3, min_key=b"a", max_key=b"\xff", max_seq=1 << 55)
    future = encode_varint(999) + encode_varint(3) + b"new"
    decoded = decode_properties("f.sst", 0, encode_properties(props) + future, 1234)
    assert decoded == TableProperties(**{**props.__dict__, "file_size": 1234})


@pytest.mark.parametrize("tail", [b"\x01", b"\x01\x05ab", b"\x80"])
def test_properties_that_run_past_their_block_are_corruption(tail: bytes) -> None:
    from storage.errors import CorruptionError
    from storage.sstable.format import decode_properties, encode_properties

    with pytest.raises(CorruptionError, match="bad properties block"):
        decode_properties("f.sst", 40, encode_properties(TableProperties()) + tail, 100)


def test_format_version_1_tables_still_read(tmp_path: Path) -> None:
    """Tables written before the blocked filter (version 1, classic bloom) open and answer
    gets, bloom negatives included, next to version 2 tables."""
    entries = numbered(3000)
    for version in (1, 2):
        path = tmp_path / f"v{version}.sst"
        builder = TableBuilder(str(path), Options(), format_version=version)
        for entry in entries:
            builder.add(*entry)
        builder.finish()
        assert struct.unpack_from("<I", path.read_bytes(), 8)[0] == version
        with open_table(path) as table:
            assert table.format_version == version
            assert table.get(b"key:001234", MAX_SEQ) == (1235, KIND_PUT, b"1234" * 20)
            assert all(table.get(b"nokey:%06d" % i, MAX_SEQ) is None for i in range(2000))
            assert table.bloom_negatives > 1900
            assert [e[0] for e in table.iter()] == [e[0] for e in entries]
