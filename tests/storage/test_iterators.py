"""Merging iterator: order, shadowing, tombstones, snapshots, bounds, laziness."""

from __future__ import annotations

from storage.iterators import level_iter, merge, merge_ordered, visible
from storage.sstable import KIND_DELETE, KIND_PUT
from storage.version import FileMeta

P, D = KIND_PUT, KIND_DELETE


def test_merge_ordered_is_key_asc_then_newest_first():
    a = [(b"a", 1, P, b"a1"), (b"c", 5, P, b"c5")]
    b = [(b"a", 4, P, b"a4"), (b"b", 2, P, b"b2"), (b"c", 3, D, b"")]
    assert [(k, s) for k, s, _, _ in merge_ordered([a, b])] == [
        (b"a", 4),
        (b"a", 1),
        (b"b", 2),
        (b"c", 5),
        (b"c", 3),
    ]


def test_merge_groups_keys_in_order():
    a = [(b"a", 1, P, b"a1"), (b"c", 5, P, b"c5"), (b"c", 2, P, b"c2")]
    b = [(b"a", 4, P, b"a4"), (b"b", 2, P, b"b2"), (b"c", 3, D, b"")]
    keys = [k for k, *_ in merge([a, b])]
    assert keys == sorted(keys) and len(keys) == 6


def test_visible_picks_newest_visible_whatever_the_order_within_a_key():
    group = [(b"k", 2, P, b"2"), (b"k", 9, D, b""), (b"k", 5, P, b"5"), (b"m", 1, P, b"m")]
    assert list(visible(group, 100)) == [(b"m", b"m")]
    assert list(visible(group, 8)) == [(b"k", b"5"), (b"m", b"m")]
    assert list(visible(group, 3)) == [(b"k", b"2"), (b"m", b"m")]
    assert list(visible(group, 1)) == [(b"m", b"m")]


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


# -- batched forms --------------------------------------------------------------------------

from itertools import pairwise  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from storage.iterators import merge_batches  # noqa: E402


def _batches(entries: list, cuts: list[int]):
    """A source's entries as column batches cut anywhere (versions of a key may span)."""
    bounds = sorted({0, len(entries), *(c % (len(entries) + 1) for c in cuts)})
    for lo, hi in pairwise(bounds):
        part = entries[lo:hi]
        yield [e[0] for e in part], [e[1] << 8 | e[2] for e in part], [e[3] for e in part]


_source = st.lists(
    st.tuples(st.binary(max_size=3), st.integers(1, 60), st.sampled_from([0, 1])),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    sources=st.lists(_source, max_size=5),
    cuts=st.lists(st.lists(st.integers(0, 50), max_size=8), min_size=5, max_size=5),
)
def test_merge_batches_is_merge_ordered_in_batches(sources, cuts):
    seen = set()
    entries_per_source = []
    for i, src in enumerate(sources):
        rows = []
        for key, seq, kind in src:
            seq = seq * 8 + i  # (key, seq) unique across sources
            if (key, seq) not in seen:
                seen.add((key, seq))
                rows.append((key, seq, kind, b"" if kind == 0 else b"v%d" % seq))
        rows.sort(key=lambda e: (e[0], -e[1]))
        entries_per_source.append(rows)
    batches = list(
        merge_batches(
            [_batches(rows, c) for rows, c in zip(entries_per_source, cuts, strict=False)]
        )
    )
    flat = [
        (k, t >> 8, t & 0xFF, v)
        for ks, ts, vs in batches
        for k, t, v in zip(ks, ts, vs, strict=True)
    ]
    assert flat == list(merge_ordered(entries_per_source))
    last_keys = [ks[-1] for ks, _, _ in batches]
    first_keys = [ks[0] for ks, _, _ in batches]
    assert all(a < b for a, b in zip(last_keys, first_keys[1:], strict=False))  # no key spans
