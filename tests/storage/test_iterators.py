"""Merging iterator: order, shadowing, tombstones, snapshots, bounds, laziness."""

from __future__ import annotations

from storage.iterators import level_iter, merge, visible
from storage.sstable import KIND_DELETE, KIND_PUT
from storage.version import FileMeta

P, D = KIND_PUT, KIND_DELETE


def test_merge_orders_by_key_then_newest_first():
    a = [(b"a", 1, P, b"a1"), (b"c", 5, P, b"c5")]
    b = [(b"a", 4, P, b"a4"), (b"b", 2, P, b"b2"), (b"c", 3, D, b"")]
    assert [(k, s) for k, s, _, _ in merge([a, b])] == [
        (b"a", 4),
        (b"a", 1),
        (b"b", 2),
        (b"c", 5),
        (b"c", 3),
    ]


def test_visible_hides_shadowed_and_deleted():
    newer = [(b"a", 9, D, b""), (b"b", 8, P, b"b8")]
    older = [(b"a", 1, P, b"a1"), (b"b", 2, P, b"b2"), (b"c", 3, P, b"c3")]
    assert list(visible(merge([newer, older]), 100)) == [(b"b", b"b8"), (b"c", b"c3")]


def test_visible_at_snapshot_sees_the_past():
    newer = [(b"a", 9, D, b""), (b"b", 8, P, b"b8")]
    older = [(b"a", 1, P, b"a1"), (b"b", 2, P, b"b2")]
    assert list(visible(merge([newer, older]), 5)) == [(b"a", b"a1"), (b"b", b"b2")]


def test_visible_stops_at_end_without_reading_further():
    consumed = []

    def source():
        for k in (b"a", b"b", b"c", b"d"):
            consumed.append(k)
            yield (k, 1, P, k)

    assert list(visible(source(), 10, end=b"c")) == [(b"a", b"a"), (b"b", b"b")]
    assert consumed == [b"a", b"b", b"c"]


def test_level_iter_skips_files_outside_range():
    files = [
        FileMeta(n, 1, lo, hi, 1, 1, 1, 0)
        for n, lo, hi in ((1, b"a", b"c"), (2, b"d", b"f"), (3, b"g", b"i"))
    ]
    opened = []

    def open_iter(f, start):
        opened.append(f.number)
        return iter([(f.min_key, 1, P, b""), (f.max_key, 1, P, b"")])

    out = [k for k, *_ in level_iter(files, open_iter, b"d", b"g")]
    assert opened == [2] and out == [b"d", b"f"]
