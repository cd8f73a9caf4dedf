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


def test_single_sibling_records_encode_as_the_general_format():
    from respdyn.keyspace.record import decode, encode_single

    for sibling in (
        Sibling(Kind.STRING, b"v", 0, 1, b"local"),
        Sibling(Kind.COUNTER, b"", 2**63, 2**64 - 1, b""),
        Sibling(Kind.HASH, b"x" * 70_000, 5, 6, b"n" * 255, tombstone=True),
    ):
        data = encode(Record([sibling]))
        assert encode_single(sibling) == data
        assert decode(data) == Record([sibling])
        assert decode(data + b"trailing") == Record([sibling])
    import pytest

    from respdyn.keyspace.record import RecordError

    with pytest.raises(RecordError):
        decode(encode(Record([Sibling(Kind.STRING, b"value")]))[:-1])


def test_data_key_layout():
    from binascii import crc_hqx

    for key in (b"", b"k", b"{user}:1", b"a{}b", b"{", b"x" * 300):
        assert layout.data_key(3, key) == b"k" + bytes([3]) + layout.key_slot(key).to_bytes(
            2, "big") + key
    assert layout.data_key(0, b"foo") == b"k\x00" + (crc_hqx(b"foo", 0) & 0x3FFF).to_bytes(
        2, "big") + b"foo"


def test_write_many_is_one_engine_write(tmp_path):
    engine = storage.open(str(tmp_path))
    store = LocalStore(engine)
    now = int(time.time() * 1000)
    before = engine.stats()["group_commits"]
    store.write_many([
        (layout.data_key(0, b"a"), Sibling(Kind.STRING, b"1"), None),
        (layout.data_key(0, b"b"), Sibling(Kind.STRING, b"2", expire_at=now + 60_000), None),
        (layout.data_key(0, b"a"), Sibling(Kind.STRING, b"3"), None),  # the last one wins
    ])
    assert engine.stats()["group_commits"] == before + 1
    assert store.read(layout.data_key(0, b"a")).siblings[0].payload == b"3"
    assert store.read(layout.data_key(0, b"b")).siblings[0].expire_at == now + 60_000
    assert len(list(engine.scan(*layout.expiry_range(now + 60_000)))) == 1
    store.write_many([(layout.data_key(0, b"a"), Sibling(Kind.STRING, b"", tombstone=True),
                       None)])
    assert store.read(layout.data_key(0, b"a")) is None
    engine.close()


def test_put_many_falls_back_to_one_write_per_key(tmp_path):
    """A store without write_many (the cluster's ReplicatedStore) gets every write."""
    from respdyn.keyspace.keyspace import Keyspace

    engine = storage.open(str(tmp_path))
    local = LocalStore(engine)

    class Plain:
        writes: list[bytes] = []

        def read(self, raw_key):
            return local.read(raw_key)

        def write(self, raw_key, sibling, context):
            self.writes.append(raw_key)
            local.write(raw_key, sibling, context)

    written = []
    ks = Keyspace(Plain())  # type: ignore[arg-type]
    ks.on_write = lambda db, key: written.append(key)
    ks.put_many(0, Kind.STRING, [(b"a", b"1"), (b"b", b"2")])
    assert Plain.writes == [layout.data_key(0, b"a"), layout.data_key(0, b"b")]
    assert written == [b"a", b"b"]
    assert ks.get_string(0, b"b") == b"2"
    engine.close()


def test_active_expiry_skips_the_index_until_something_is_due(tmp_path):
    """The cycle runs hz times a second: with nothing due it must not scan (the scan made
    the memtable merge its pending keys every time), yet never miss a key that becomes due."""
    engine = storage.open(str(tmp_path / "db"))
    store = LocalStore(engine)
    now = 1_000_000
    key, later = layout.data_key(0, b"k"), layout.data_key(0, b"later")
    store.write(later, Sibling(Kind.STRING, b"x", expire_at=now + 500), None)
    assert store.expire_due(now, limit=100) == 0  # scans once: learns the next due time
    scans = []
    real_scan = engine.scan
    engine.scan = lambda *a, **kw: scans.append(a) or real_scan(*a, **kw)  # count, not mock
    assert store.expire_due(now + 100, limit=100) == 0
    assert scans == []  # nothing due before now + 500: no scan
    store.write(key, Sibling(Kind.STRING, b"x", expire_at=now + 200), None)  # due sooner
    assert store.expire_due(now + 200, limit=100) == 1
    assert store.read(key) is None and len(scans) == 1
    assert store.expire_due(now + 499, limit=100) == 0 and len(scans) == 1
    assert store.expire_due(now + 500, limit=100) == 1
    assert store.read(later) is None
    engine.close()
