"""Multi-key STORE: the STOREs queued for one peer in one loop iteration leave as one frame and
come back as one reply that answers each of them; a peer of an older version, which refuses a
STORE of more than 3 args with an error reply, gets one key per frame from then on."""

from __future__ import annotations

import time
from collections.abc import Iterator

import gevent
import pytest
from gevent.event import AsyncResult

from respdyn.cluster import messages as m
from respdyn.cluster.transport import STORE_BATCH, RemoteError, Transport
from tests.cluster.transport_pair import transport_pair


class Peer:
    """The answering side: records every STORE frame's items; `old` answers a multi-key
    STORE as nodes before it did (an error reply, the connection kept)."""

    def __init__(self) -> None:
        self.frames: list[list[tuple[bytes, bytes, bytes | None]]] = []
        self.old = False
        self.fail = False

    def __call__(self, peer: str, request: m.Request) -> list[bytes]:
        assert request.op == m.STORE
        if self.old and len(request.args) > 3:
            raise RemoteError(b"ERR", m.STORE_ARITY_ERROR)
        if self.fail:
            raise RemoteError(b"ERR", b"disk on fire")
        self.frames.append(list(m.store_items(request.args)))
        return []


@pytest.fixture
def peer() -> Peer:
    return Peer()


@pytest.fixture
def client(peer: Peer) -> Iterator[Transport]:
    with transport_pair(peer, timeout=10.0) as (client, _):
        yield client


def _stores(client: Transport, items: list[tuple[bytes, bytes, bytes | None]]) -> list:
    """Queue `items` in one loop iteration; every callback's reply (or None)."""
    results = [AsyncResult() for _ in items]
    for (key, clock, base), result in zip(items, results, strict=True):
        client.store("b", m.store_item(key, clock, base or b""), result.set)
    return [result.get(timeout=20) for result in results]


def _items(count: int, tag: bytes = b"k") -> list[tuple[bytes, bytes, bytes | None]]:
    return [(tag + b"%d" % i, b"clock%d" % i, b"base%d" % i if i % 2 else None)
            for i in range(count)]


def test_stores_of_one_iteration_leave_as_one_frame(client: Transport, peer: Peer) -> None:
    assert _stores(client, _items(1, b"warm"))[0].ok  # connected
    frames = client.counters.frames
    items = _items(40)
    replies = _stores(client, items)
    assert all(r is not None and r.ok for r in replies)
    assert client.counters.frames - frames == 1
    assert peer.frames[-1] == items  # in order, the missing bases as None


def test_a_burst_is_cut_into_frames_of_store_batch_keys(client: Transport, peer: Peer) -> None:
    items = _items(STORE_BATCH + 3)
    assert all(r is not None and r.ok for r in _stores(client, items))
    assert [len(f) for f in peer.frames] == [STORE_BATCH, 3]
    assert [item for frame in peer.frames for item in frame] == items


def test_a_refused_batch_fails_each_of_its_stores(client: Transport, peer: Peer) -> None:
    peer.fail = True
    replies = _stores(client, _items(5))
    assert all(r is not None and not r.ok and r.payload == [b"ERR", b"disk on fire"]
               for r in replies)


def test_an_older_peer_gets_one_key_per_frame(client: Transport, peer: Peer) -> None:
    peer.old = True
    items = _items(6)
    replies = _stores(client, items)
    assert all(r is not None and r.ok for r in replies)
    assert peer.frames == [[item] for item in items]  # each resent alone, as 3-arg STOREs
    assert client.links["b"].single_stores
    frames = client.counters.frames
    assert all(r.ok for r in _stores(client, _items(4, b"later")))
    assert client.counters.frames - frames == 4  # no multi-key frame tried again
    peer.old = False  # the peer is upgraded: restarted, so the connection is replaced
    client.links["b"].close()
    for _ in range(200):  # past the reconnect backoff (50 ms), bounded
        if _stores(client, _items(1, b"probe"))[0] is not None:
            break
        gevent.sleep(0.01)
    frames = client.counters.frames
    assert all(r.ok for r in _stores(client, _items(3, b"again")))
    assert client.counters.frames - frames == 1 and not client.links["b"].single_stores


def test_stores_to_an_unreachable_peer_fail_at_once(client: Transport) -> None:
    client.addresses["b"] = ("127.0.0.1", 1)  # nothing listens there
    first = _stores(client, _items(3))
    assert first == [None, None, None]
    started = time.monotonic()
    assert _stores(client, _items(3)) == [None, None, None]  # in the backoff: no wait at all
    assert time.monotonic() - started < 5.0  # not the 10 s deadline


def test_a_blocked_peer_fails_at_once(client: Transport) -> None:
    client.blocked.add("b")
    assert _stores(client, _items(2)) == [None, None]


@pytest.mark.parametrize(
    "args, items",
    [
        ([b"k", b"c"], [(b"k", b"c", None)]),
        ([b"k", b"c", b""], [(b"k", b"c", None)]),
        ([b"k", b"c", b"b"], [(b"k", b"c", b"b")]),
        ([b"k", b"c", b"b", b"l", b"d", b""], [(b"k", b"c", b"b"), (b"l", b"d", None)]),
    ],
)
def test_store_items(args: list[bytes], items: list) -> None:
    assert list(m.store_items(args)) == items


@pytest.mark.parametrize("count", [4, 5, 7])
def test_store_items_refuses_broken_triples(count: int) -> None:
    with pytest.raises(m.MessageError, match="triples"):
        m.store_items([b"x"] * count)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_store_frames_are_what_the_generic_encoder_writes(count: int) -> None:
    items = _items(count)
    frame = m.store_frame(b"17", [m.store_item(k, c, b or b"") for k, c, b in items])
    fields = [field for k, c, b in items for field in (k, c, b or b"")]
    assert frame == m.encode_request(m.STORE, 17, fields)
