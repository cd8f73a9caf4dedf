"""Memtable: point reads, ordered scans, snapshot chains, no sorted insert on overwrite."""

from __future__ import annotations

import threading

from storage.memtable import MemTable
from storage.sstable import KIND_DELETE, KIND_PUT

P, D = KIND_PUT, KIND_DELETE


def test_get_newest_and_tombstone():
    m = MemTable(1)
    nxt = m.apply(1, [(P, b"a", b"1"), (P, b"b", b"2"), (D, b"a", b"")], -1)
    assert nxt == 4
    assert m.get(b"a")[:3] == (3, D, b"")
    assert m.get(b"b")[:3] == (2, P, b"2")
    assert m.get(b"zz") is None


def test_overwrite_without_snapshot_drops_old_version_and_skips_sorted_insert():
    m = MemTable(1)
    m.apply(1, [(P, b"k", b"v1")], -1)
    m.sorted_keys()
    sorted_before = m._sorted
    m.put_one(2, P, b"k", b"v2", -1)
    assert m._new == [] and m._sorted is sorted_before  # an overwrite touches no key order
    assert m.get(b"k")[3] is None
    assert m.get(b"k", 1) is None


def test_overwrite_keeps_version_a_snapshot_needs():
    m = MemTable(1)
    m.apply(1, [(P, b"k", b"v1")], -1)
    m.put_one(2, P, b"k", b"v2", 1)  # snapshot at 1 is live
    m.put_one(3, P, b"k", b"v3", 1)  # v2 is needed by nobody, v1 still is
    assert m.get(b"k")[2] == b"v3"
    assert m.get(b"k", 2)[2] == b"v1"
    assert m.get(b"k", 1)[2] == b"v1"
    assert [e[1] for e in m.iter_all()] == [3, 1]


def test_iter_visible_range_and_snapshot():
    m = MemTable(1)
    m.apply(1, [(P, k, k) for k in (b"d", b"a", b"c", b"b")], -1)
    m.put_one(5, D, b"c", b"", 4)
    assert [e[0] for e in m.iter_visible(b"b", b"d", 4)] == [b"b", b"c"]
    assert [e[2] for e in m.iter_visible(b"b", b"d", 5)] == [P, D]
    assert [e[0] for e in m.iter_visible(None, None, 100)] == [b"a", b"b", b"c", b"d"]


def test_iter_all_is_key_asc_seq_desc():
    m = MemTable(1)
    m.apply(1, [(P, b"b", b"1"), (P, b"a", b"2")], -1)
    m.put_one(3, P, b"a", b"3", 2)
    assert [(k, s) for k, s, _, _ in m.iter_all()] == [(b"a", 3), (b"a", 2), (b"b", 1)]


def test_scan_is_stable_while_a_writer_inserts():
    m = MemTable(1)
    m.apply(1, [(P, b"%06d" % i, b"x") for i in range(0, 20000, 2)], -1)
    stop = threading.Event()

    def writer():
        seq = 100000
        for i in range(1, 20000, 2):
            if stop.is_set():
                return
            m.put_one(seq, P, b"%06d" % i, b"y", -1)
            seq += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        keys = [k for k, *_ in m.iter_visible(None, None, 99999)]
    finally:
        stop.set()
        t.join(timeout=10)
    assert keys == [b"%06d" % i for i in range(0, 20000, 2)]


def test_scan_merges_pending_keys_and_never_mutates_a_captured_list():
    m = MemTable(1)
    m.apply(1, [(P, b"%04d" % i, b"") for i in range(0, 1000, 2)], -1)
    it = m.iter_visible(None, None, 10**6)
    first = next(it)
    captured = m._sorted
    snapshot = list(captured)
    m.apply(2000, [(P, b"%04d" % i, b"") for i in range(1, 1000, 2)], -1)
    assert len(m._new) == 500
    later = [k for k, *_ in m.iter_visible(b"0100", b"0110", 10**6)]  # merges (500 > 256)
    assert later == [b"%04d" % i for i in range(100, 110)]
    assert captured == snapshot  # the running scan's list was replaced, not changed
    rest = [first[0]] + [k for k, *_ in it]
    assert rest == [b"%04d" % i for i in range(0, 1000, 2)]


def test_few_pending_keys_are_merged_on_the_fly():
    m = MemTable(1)
    m.apply(1, [(P, b"b", b""), (P, b"d", b"")], -1)
    m.sorted_keys()
    m.apply(3, [(P, b"c", b""), (P, b"a", b"")], -1)
    assert [k for k, *_ in m.iter_visible(None, None, 10)] == [b"a", b"b", b"c", b"d"]
    assert [k for k, *_ in m.iter_visible(b"b", b"d", 10)] == [b"b", b"c"]
    assert m._new  # still pending: a short scan did not pay for a full merge


def test_bytes_accounting_grows():
    m = MemTable(1)
    m.apply(1, [(P, b"key", b"value")], -1)
    assert m.bytes >= 8 and m.entries == 1 and m.max_seq == 1
