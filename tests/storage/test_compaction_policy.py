"""Leveled compaction policy, table-driven and without a disk."""

from __future__ import annotations

import pytest

from storage import compaction
from storage.compaction import BaseLevelChecker, compact_entries, full_compaction_task, pick_task
from storage.options import Options
from storage.sstable import KIND_DELETE, KIND_PUT
from storage.version import FileMeta, Version, VersionEdit

P, D = KIND_PUT, KIND_DELETE
MiB = 1024 * 1024
OPTS = Options(level0_compaction_trigger=4, level1_bytes=10 * MiB, level_multiplier=10)


def f(n, lo, hi, size=MiB):
    return FileMeta(n, size, lo, hi, 1, 1, 1, 0, size)


def version(**levels):
    edit = VersionEdit(added=[(int(k[1:]), meta) for k, metas in levels.items() for meta in metas])
    return Version().apply(edit)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        # (files per level, expected (output level, input numbers, trivial)) -- None: no work
        ({"L0": [f(1, b"a", b"c")] * 1}, None),
        ({"L0": [f(i, b"a", b"c") for i in range(1, 4)]}, None),
        (
            {
                "L0": [f(i, b"a", b"c") for i in range(1, 5)],
                "L1": [f(9, b"b", b"d"), f(10, b"x", b"z")],
            },
            (1, {1, 2, 3, 4, 9}, False),
        ),
        ({"L1": [f(i, bytes([97 + i]), bytes([97 + i])) for i in range(11)]}, (2, {0}, True)),
        (
            {
                "L1": [f(i, bytes([97 + i]), bytes([97 + i])) for i in range(11)],
                "L2": [f(50, b"a", b"b")],
            },
            (2, {0, 50}, False),
        ),
        ({"L2": [f(i, bytes([i]), bytes([i]), 11 * MiB) for i in range(10)]}, (3, {0}, True)),
    ],
)
def test_pick_task(levels, expected):
    task = pick_task(version(**levels), OPTS)
    if expected is None:
        assert task is None
        return
    out, inputs, trivial = expected
    assert (task.output_level, {m.number for m in task.input_files()}, task.trivial_move) == (
        out,
        inputs,
        trivial,
    )


def test_level_compaction_round_robins_by_compact_pointer():
    v = version(L1=[f(i, bytes([97 + i]), bytes([97 + i])) for i in range(11)])
    first = pick_task(v, OPTS)
    v2 = compaction.apply_result(v, first, [])
    assert v2.levels[2][0].number == first.input_files()[0].number
    v2 = v2.apply(VersionEdit(added=[(1, f(99, b"\x00", b"\x00", 20 * MiB))]))
    second = pick_task(v2, OPTS)
    assert second.input_files()[0].number == 1  # after the pointer, not the first file again


def test_apply_result_replaces_inputs_with_outputs():
    v = version(L0=[f(i, b"a", b"c") for i in range(1, 5)], L1=[f(9, b"b", b"d")])
    task = pick_task(v, OPTS)
    v2 = compaction.apply_result(v, task, [f(20, b"a", b"b"), f(21, b"c", b"d")])
    assert v2.levels[0] == () and [m.number for m in v2.levels[1]] == [20, 21]


@pytest.mark.parametrize(
    ("levels", "out_level"),
    [
        ({"L0": [f(1, b"a", b"b")]}, 1),
        ({"L0": [f(1, b"a", b"b")], "L3": [f(2, b"a", b"b")]}, 3),
        ({"L0": [f(i, b"a", b"b", 5 * MiB) for i in range(1, 5)]}, 2),
    ],
)
def test_full_compaction_target_level(levels, out_level):
    task = full_compaction_task(version(**levels), OPTS)
    assert task.output_level == out_level
    assert len(task.inputs) == sum(len(v) for v in levels.values())


def test_base_level_checker():
    v = version(L2=[f(1, b"c", b"e"), f(2, b"m", b"p")], L4=[f(3, b"x", b"y")])
    check = BaseLevelChecker(v, 1)
    assert [check(k) for k in (b"a", b"d", b"f", b"n", b"q", b"x", b"z")] == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    assert BaseLevelChecker(v, 4)(b"x")


def run(entries, smallest=100, newest=-1, base=True, keep=None):
    return list(
        compact_entries(
            entries,
            smallest_snapshot=smallest,
            newest_snapshot=newest,
            is_base=lambda k: base,
            compaction_filter=keep,
        )
    )


@pytest.mark.parametrize(
    ("name", "entries", "kwargs", "expected"),
    [
        ("newest wins", [(b"k", 3, P, b"3"), (b"k", 2, P, b"2")], {}, [(b"k", 3, P, b"3")]),
        (
            "tombstone at bottom vanishes with what it hides",
            [(b"k", 3, D, b""), (b"k", 2, P, b"2")],
            {},
            [],
        ),
        (
            "tombstone above bottom stays",
            [(b"k", 3, D, b""), (b"k", 2, P, b"2")],
            {"base": False},
            [(b"k", 3, D, b"")],
        ),
        (
            "snapshot keeps the version it sees",
            [(b"k", 5, P, b"5"), (b"k", 3, P, b"3"), (b"k", 2, P, b"2")],
            {"smallest": 4, "newest": 4},
            [(b"k", 5, P, b"5"), (b"k", 3, P, b"3")],
        ),
        (
            "tombstone newer than snapshot stays",
            [(b"k", 5, D, b""), (b"k", 3, P, b"3")],
            {"smallest": 4, "newest": 4},
            [(b"k", 5, D, b""), (b"k", 3, P, b"3")],
        ),
        (
            "filter drops at the bottom",
            [(b"k", 3, P, b"old")],
            {"keep": lambda k, v: v != b"old"},
            [],
        ),
        (
            "filter above bottom leaves a tombstone so older versions below stay hidden",
            [(b"k", 3, P, b"old")],
            {"base": False, "keep": lambda k, v: False},
            [(b"k", 3, D, b"")],
        ),
        (
            "filter never sees snapshot-protected versions",
            [(b"k", 3, P, b"old")],
            {"smallest": 3, "newest": 3, "keep": lambda k, v: False},
            [(b"k", 3, P, b"old")],
        ),
        (
            "filtered newest still hides older version a snapshot keeps",
            [(b"k", 5, P, b"x"), (b"k", 3, P, b"y")],
            {"smallest": 4, "newest": 4, "keep": lambda k, v: v != b"x"},
            [(b"k", 5, D, b""), (b"k", 3, P, b"y")],
        ),
    ],
)
def test_compact_entries(name, entries, kwargs, expected):
    assert run(entries, **kwargs) == expected, name
