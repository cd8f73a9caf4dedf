"""TableBuilder.add_run (the bulk path of flushes and batched merges) writes exactly the bytes
add() writes record by record, and refuses what add() refuses, before recording anything."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.options import Options
from storage.sstable import KIND_DELETE, KIND_PUT, Table, TableBuilder

Entry = tuple[bytes, int, int, bytes]


def _records(draw_keys: list[bytes], versions: list[int], tomb: list[bool]) -> list[Entry]:
    out: list[Entry] = []
    seq = 10_000
    for key, count, t in zip(sorted(set(draw_keys)), versions, tomb, strict=False):
        for v in range(count):
            dead = t and v == 0
            out.append((key, seq - v, KIND_DELETE if dead else KIND_PUT, b"" if dead else key * v))
        seq -= 7
    return out


def _build_one_by_one(path: Path, records: list[Entry], options: Options) -> bytes:
    b = TableBuilder(str(path), options)
    for r in records:
        b.add(*r)
    b.finish()
    return path.read_bytes()


def _build_runs(path: Path, records: list[Entry], cuts: list[int], options: Options) -> bytes:
    b = TableBuilder(str(path), options)
    bounds = sorted({0, len(records), *(c % (len(records) + 1) for c in cuts)})
    for lo, hi in pairwise(bounds):
        part = records[lo:hi]
        if len(part) == 1 and lo % 2:
            b.add(*part[0])  # mixed with single adds
        else:
            b.add_run([r[0] for r in part], [r[1] << 8 | r[2] for r in part], [r[3] for r in part])
    b.finish()
    return path.read_bytes()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.lists(st.binary(min_size=0, max_size=24), min_size=1, max_size=300),
    versions=st.lists(st.integers(1, 3), min_size=300, max_size=300),
    tomb=st.lists(st.booleans(), min_size=300, max_size=300),
    cuts=st.lists(st.integers(0, 1000), max_size=6),
    block_size=st.sampled_from([64, 256, 4096]),
)
def test_add_run_writes_the_same_file_as_add(tmp_path, keys, versions, tomb, cuts, block_size):
    records = _records(keys, versions, tomb)
    options = Options(block_size=block_size)
    one = _build_one_by_one(tmp_path / "one.sst", records, options)
    runs = _build_runs(tmp_path / "runs.sst", records, cuts, options)
    assert one == runs
    with Table.open(str(tmp_path / "runs.sst"), 1, options) as t:
        assert list(t.iter()) == records


@pytest.mark.parametrize(
    ("keys", "tags", "values", "message"),
    [
        ([b"b", b"a"], [1 << 8 | 1, 2 << 8 | 1], [b"", b""], "out of order"),
        ([b"a", b"a"], [1 << 8 | 1, 2 << 8 | 1], [b"", b""], "out of order"),
        ([b"a", b"b"], [1 << 8 | 7, 2 << 8 | 1], [b"", b""], "unknown record kind"),
        ([b"a", b"b"], [1 << 8 | 0, 2 << 8 | 1], [b"x", b""], "tombstone"),
        ([b"a", b"b"], [1 << 64, 2 << 8 | 1], [b"", b""], "seq outside"),
        ([b"a"], [1, 2], [b""], "one length"),
    ],
)
def test_add_run_refuses_what_add_refuses(tmp_path, keys, tags, values, message):
    b = TableBuilder(str(tmp_path / "t.sst"), Options())
    b.add(b"0", 5, KIND_PUT, b"v")
    with pytest.raises(ValueError, match=message):
        b.add_run(keys, tags, values)
    b.add(b"1", 5, KIND_PUT, b"w")  # nothing of the refused run was recorded
    b.finish()
    with Table.open(str(tmp_path / "t.sst"), 1, Options()) as t:
        assert [r[0] for r in t.iter()] == [b"0", b"1"]


def test_add_run_must_follow_the_previous_record(tmp_path):
    b = TableBuilder(str(tmp_path / "t.sst"), Options())
    b.add(b"m", 5, KIND_PUT, b"v")
    with pytest.raises(ValueError, match="out of order"):
        b.add_run([b"a"], [9 << 8 | 1], [b""])
    with pytest.raises(ValueError, match="out of order"):
        b.add_run([b"m"], [6 << 8 | 1], [b""])
    b.add_run([b"m"], [4 << 8 | 1], [b"older"])
    b.abandon()
