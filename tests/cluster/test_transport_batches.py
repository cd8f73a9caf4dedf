"""The transport's batched sends: frames queued in one loop iteration leave in one send from a
loop callback; a send the socket cannot take whole is finished by a greenlet, with later
batches behind it in order; the write-out hook runs once per batch, before any byte leaves."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import gevent
import pytest
from gevent.event import AsyncResult

from respdyn.cluster import messages as m
from respdyn.cluster.transport import Transport
from tests.cluster.transport_pair import transport_pair


def _echo(peer: str, request: m.Request) -> list[bytes]:
    return list(request.args)


@pytest.fixture
def pair() -> Iterator[tuple[Transport, Transport]]:
    with transport_pair(_echo, timeout=10.0) as both:
        yield both


def _calls(client: Transport, payloads: list[bytes]) -> list[m.Reply | None]:
    results = [AsyncResult() for _ in payloads]
    for payload, result in zip(payloads, results, strict=True):
        client.call("b", m.GET, [payload], result.set)
    return [result.get(timeout=20) for result in results]


def test_one_iteration_is_one_send_and_one_write_out(pair: tuple[Transport, Transport]) -> None:
    client, _ = pair
    assert _calls(client, [b"warm"])[0] is not None  # connected
    written_out = []
    client.before_send = lambda: written_out.append(len(client.links["b"].writer.out))
    client.links["b"].writer.before_send = client.before_send
    sends, frames = client.counters.sends, client.counters.frames
    replies = _calls(client, [b"k%d" % i for i in range(50)])
    assert [r.payload for r in replies if r is not None] == [[b"k%d" % i] for i in range(50)]
    assert client.counters.frames - frames == 50
    assert client.counters.sends - sends == 1 == len(written_out)


def test_sends_larger_than_the_socket_takes_arrive_whole_and_in_order(
    pair: tuple[Transport, Transport],
) -> None:
    """Megabytes queued at once (the kernel takes a part, a greenlet sends the rest) and more
    frames queued while that runs: every reply comes back, each to its own call."""
    client, _ = pair
    big = [bytes([65 + i]) * (3 << 20) for i in range(4)]
    first = [AsyncResult() for _ in big]
    for payload, result in zip(big, first, strict=True):
        client.call("b", m.GET, [payload], result.set)
    gevent.sleep(0)  # the flush ran: part sent, the rest is being drained
    later = _calls(client, [b"small%d" % i for i in range(20)])
    assert [r.get(timeout=20).payload for r in first] == [[p] for p in big]
    assert [r.payload for r in later if r is not None] == [[b"small%d" % i] for i in range(20)]


def test_a_connection_that_breaks_fails_the_calls(pair: tuple[Transport, Transport]) -> None:
    """A send that fails in the loop's callback (or a reader that sees the connection end)
    fails every outstanding call, and the link reconnects for the next ones."""
    client, _ = pair
    assert _calls(client, [b"warm"])[0] is not None
    link = client.links["b"]
    link.sock.shutdown(socket.SHUT_RDWR)
    replies = _calls(client, [b"x" * (1 << 20) for _ in range(8)])
    assert all(r is None for r in replies)  # refused or reset, never a hang
    gevent.sleep(0.1)
    link.retry_at = 0.0  # skip the reconnect backoff
    assert [r.payload for r in _calls(client, [b"again"]) if r is not None] == [[b"again"]]
