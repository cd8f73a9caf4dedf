"""The single-node store: the compaction filter and active expiry over a real engine."""

from __future__ import annotations

import pickle
import time

import storage
from respdyn.keyspace import layout
from respdyn.keyspace.record import Kind, Record, Sibling, encode
from respdyn.keyspace.store import LocalStore, keep_unexpired


def record(expire_at: int) -> bytes:
    return encode(Record([Sibling(Kind.STRING, b"v", expire_at=expire_at, timestamp=1)]))


def test_filter_drops_only_expired_data_records():
    now = int(time.time() * 1000)
    key = layout.data_key(0, b"k")
    assert keep_unexpired(key, record(0))
    assert keep_unexpired(key, record(now + 60_000))
    assert not keep_unexpired(key, record(now - 1))
    assert keep_unexpired(layout.expiry_key(now - 1, key), b"")  # not a data key
    assert keep_unexpired(key, b"\xd1not-a-record")  # unreadable: kept


def test_filter_survives_pickling_for_the_merge_worker():
    assert pickle.loads(pickle.dumps(keep_unexpired)) is keep_unexpired


def test_compaction_drops_expired_keys_from_disk(tmp_path):
    engine = storage.open(str(tmp_path), storage.Options(
        compaction_filter=keep_unexpired, background_compaction=False))
    store = LocalStore(engine)
    past = int(time.time() * 1000) - 1
    store.write(layout.data_key(0, b"gone"), Sibling(Kind.STRING, b"x", expire_at=past), None)
    store.write(layout.data_key(0, b"kept"), Sibling(Kind.STRING, b"y"), None)
    engine.compact()
    keys = [k for k, _ in engine.scan(*layout.db_range(0))]
    assert keys == [layout.data_key(0, b"kept")]
    engine.close()


def test_active_expiry_deletes_due_keys_and_stale_index_entries(tmp_path):
    engine = storage.open(str(tmp_path))
    store = LocalStore(engine)
    now = int(time.time() * 1000)
    due = layout.data_key(0, b"due")
    rewritten = layout.data_key(0, b"rewritten")
    store.write(due, Sibling(Kind.STRING, b"x", expire_at=now - 10), None)
    store.write(rewritten, Sibling(Kind.STRING, b"x", expire_at=now - 10), None)
    store.write(rewritten, Sibling(Kind.STRING, b"new"), None)  # no expiry any more
    assert store.expire_due(now, limit=100) == 1
    assert store.read(due) is None
    assert store.read(rewritten).siblings[0].payload == b"new"
    assert list(engine.scan(*layout.expiry_range(now))) == []
    engine.close()
