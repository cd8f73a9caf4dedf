"""The cluster's compaction filter purges tombstones past their grace period, and nothing else
(respdyn/cluster/replica.py, Tombstones), on a real storage engine."""

from __future__ import annotations

import functools
import time

import storage
from respdyn.cluster import dvv
from respdyn.keyspace import layout
from respdyn.keyspace.replicated import keep_live_clocks


def _clock(*writes: bytes | None, ts: int) -> bytes:
    clock = None
    for value in writes:
        context = dvv.join(clock) if clock is not None else ()
        clock = dvv.update(dvv.new([dvv.Sibling(value, ts)], context), clock, "n1")
    return dvv.encode(clock)


def test_compaction_drops_only_old_tombstones(tmp_path):
    now = int(time.time() * 1000)
    grace = 60_000
    keep = functools.partial(keep_live_clocks, grace)
    engine = storage.open(str(tmp_path), storage.Options(compaction_filter=keep))
    try:
        old_delete = layout.data_key(0, b"old-delete")
        new_delete = layout.data_key(0, b"new-delete")
        old_value = layout.data_key(0, b"old-value")
        hint = b"h\x02n2" + old_delete
        engine.put(old_delete, _clock(b"v", None, ts=now - 2 * grace))
        engine.put(new_delete, _clock(b"v", None, ts=now))
        engine.put(old_value, _clock(b"v", ts=now - 2 * grace))
        engine.put(hint, b"\x00" * 8 + _clock(b"v", None, ts=now - 2 * grace))
        engine.flush()
        engine.compact()
        assert engine.get(old_delete) is None
        assert engine.get(new_delete) is not None
        assert engine.get(old_value) is not None  # a live value is never dropped
        assert engine.get(hint) is not None  # not a data key
    finally:
        engine.close()


def test_unreadable_values_are_kept():
    key = layout.data_key(0, b"k")
    assert keep_live_clocks(0, key, bytes([dvv.MAGIC]) + b"\xff\xff")
    assert keep_live_clocks(0, key, b"")
