"""A node whose engine can no longer persist (a failed fsync is sticky until restart) refuses
every inter-node write with MISCONF: the refusal must reach the peer every time, the log only
once (it used to hold a traceback per STORE, about 800 in 8 s under the fault harness)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import gevent
import pytest
from gevent.event import AsyncResult

from respdyn.cluster import messages as m
from respdyn.cluster.transport import MISCONF, Transport
from storage.errors import PersistenceError
from tests.cluster.transport_pair import transport_pair


def _failing_disk(peer: str, request: m.Request) -> list[bytes]:
    raise PersistenceError("wal-000001.log: [Errno 5] Input/output error")


@pytest.fixture
def pair() -> Iterator[tuple[Transport, Transport]]:
    with transport_pair(_failing_disk, timeout=5.0) as both:
        yield both


def _store(client: Transport) -> m.Reply | None:
    result: AsyncResult = AsyncResult()
    client.call("b", m.STORE, [b"k", b"clock"], result.set)
    return result.get(timeout=10)


def test_every_store_is_refused_and_logged_once(pair: tuple[Transport, Transport],
                                                caplog: pytest.LogCaptureFixture) -> None:
    client, server = pair
    caplog.set_level(logging.DEBUG, logger="respdyn.cluster.transport")
    replies = [_store(client) for _ in range(5)]
    gevent.sleep(0)
    assert all(r is not None and not r.ok and r.payload[0] == MISCONF for r in replies), replies
    assert server.counters.misconf == 5
    persistence = [r for r in caplog.records if "Input/output error" in r.getMessage()]
    assert len(persistence) == 1 and persistence[0].levelno == logging.WARNING
    assert not any(r.exc_info for r in caplog.records)
