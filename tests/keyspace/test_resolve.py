"""Sibling resolution in the keyspace: deterministic winner, merges for CRDT kinds, expiry."""

from __future__ import annotations

import pytest

from respdyn.keyspace.keyspace import Keyspace, merge_expiry
from respdyn.keyspace.record import Kind, Record, Sibling
from respdyn.keyspace.record import decode as decode_record
from respdyn.keyspace.record import encode as encode_record

NOW = 1_000_000


def ks() -> Keyspace:
    union = lambda payloads: b",".join(sorted(set(b",".join(payloads).split(b","))))  # noqa: E731
    return Keyspace(store=None, mergers={Kind.SET: union})  # type: ignore[arg-type]


def sib(payload: bytes, ts: int, node: bytes = b"n1", kind: int = Kind.STRING, **kw) -> Sibling:
    return Sibling(kind, payload, timestamp=ts, node=node, **kw)


@pytest.mark.parametrize(
    ("siblings", "expected"),
    [
        ([sib(b"a", 1)], b"a"),
        ([sib(b"old", 1), sib(b"new", 2)], b"new"),  # newest timestamp
        ([sib(b"x", 5, b"n1"), sib(b"y", 5, b"n2")], b"y"),  # tie: greatest node id
        ([sib(b"y", 5, b"n2"), sib(b"x", 5, b"n1")], b"y"),  # order does not matter
        ([sib(b"", 9, tombstone=True), sib(b"a", 1)], None),  # newest is a delete
        ([sib(b"a", 1, expire_at=NOW - 1)], None),  # expired
        ([sib(b"a", 1, expire_at=NOW + 1)], b"a"),
        ([sib(b"a,b", 1, kind=Kind.SET), sib(b"b,c", 2, kind=Kind.SET)], b"a,b,c"),  # merged
        ([sib(b"a", 1, kind=Kind.SET), sib(b"s", 2)], b"s"),  # kinds differ: the winner
    ],
)
def test_resolve(siblings, expected):
    live = ks().resolve(Record(siblings), NOW)
    assert (None if live is None else live.payload) == expected


def test_merged_expiry_persist_wins_else_longest():
    a = sib(b"", 1, expire_at=100)
    b = sib(b"", 1, expire_at=200)
    assert merge_expiry([a, b]) == 200
    assert merge_expiry([a, b, sib(b"", 1)]) == 0


def test_record_round_trip_keeps_every_field():
    record = Record([sib(b"v", 7, b"node-a", expire_at=99), sib(b"", 8, tombstone=True)], b"ctx")
    assert decode_record(encode_record(record)) == record
