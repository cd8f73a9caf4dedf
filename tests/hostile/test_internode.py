"""Hostile bytes on the inter-node port of a real 3-node cluster: garbage, frames without a
HELLO, replayed and forged frames. Each must be rejected with no state change: the keys'
versions on every node, the member table and the ring are compared before and after.

Forgery and replay of *writes* cannot be refused until the inter-node port authenticates its
peers (the HMAC handshake of the failure-handling issue): those cases are strict xfails that
start passing when it lands.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_harness import Cluster

from respdyn.cluster import messages as m
from respdyn.keyspace import layout

pytestmark = pytest.mark.xdist_group("hostile-cluster")

KEYS = [f"inter:{i}" for i in range(12)]


def _cluster_addr(cluster: Cluster, k: int) -> tuple[str, int]:
    extra = cluster.nodes[k - 1].extra
    return "127.0.0.1", int(extra[extra.index("--cluster-port") + 1])


def _fingerprint(cluster: Cluster) -> str:
    """Every node's own view: the keys' versions (read ALL), members and ring."""
    parts = []
    for k in range(1, len(cluster) + 1):
        c = cluster.client(k)
        c.execute_command("CONSISTENCY", "ALL")
        for key in KEYS:
            parts.append(repr(c.execute_command("SIBLINGS", key)))
        parts.append(repr(c.execute_command("DYNAMO", "MEMBERS")))
        parts.append(repr(c.execute_command("DYNAMO", "RING")))
        c.close()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@pytest.fixture
def fresh3(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of its own, for a test that damages it."""
    cluster = Cluster(tmp_path, 3)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def seeded(cluster3: Cluster) -> Cluster:
    c = cluster3.client(1)
    for key in KEYS:
        c.set(key, f"value of {key}")
    for member_id, client_addr, cluster_addr, _ in c.execute_command("DYNAMO", "MEMBERS"):
        _GENUINE[member_id.decode()] = [client_addr, cluster_addr]
    return cluster3


def _send(addr: tuple[str, int], data: bytes, wait: float = 1.0) -> tuple[bytes, bool]:
    """Send raw bytes; (what came back, whether the node closed the connection)."""
    with socket.create_connection(addr, timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(wait)
        buf = bytearray()
        try:
            while chunk := sock.recv(1 << 16):
                buf += chunk
            return bytes(buf), True
        except TimeoutError:
            return bytes(buf), False


_GENUINE: dict[str, list[bytes]] = {}


def _hello(node_id: str, addresses: tuple[bytes, bytes] | None = None) -> bytes:
    """A HELLO as `node_id`: with that member's genuine addresses (a replayed HELLO, which
    changes nothing) unless others are given."""
    args = [node_id.encode(), *(addresses or _GENUINE.get(node_id, [b"", b""]))]
    return m.encode_request(m.HELLO, 0, args)


def _raw(key: str) -> bytes:
    return layout.data_key(0, key.encode())


GARBAGE = {
    "random bytes": bytes(range(256)) * 4,
    "inline text": b"GET inter:1\r\n",
    "not an array": b"$5\r\nHELLO\r\n",
    "integer element": b"*3\r\n$3\r\nGET\r\n:1\r\n$1\r\nx\r\n",
    "unknown op": b"*3\r\n$4\r\nNUKE\r\n$1\r\n1\r\n$1\r\nx\r\n",
    "id not a number": b"*3\r\n$3\r\nGET\r\n$2\r\n1x\r\n$1\r\nx\r\n",
    "wrong arity": b"*4\r\n$5\r\nSTORE\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\nc\r\n"[:-11] + b"\r\n",
    "bulk beyond the limit": b"*3\r\n$5\r\nSTORE\r\n$1\r\n1\r\n$999999999999\r\n",
    "negative bulk": b"*2\r\n$-5\r\n",
    "store of a garbage clock": m.encode_request(m.STORE, 1, [_raw("inter:1"), b"\xd1garbage"]),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_is_rejected_without_state_change(seeded: Cluster, name: str) -> None:
    before = _fingerprint(seeded)
    for k in (1, 2, 3):
        _send(_cluster_addr(seeded, k), _hello("node2") + GARBAGE[name], wait=0.5)
        _send(_cluster_addr(seeded, k), GARBAGE[name], wait=0.5)
    assert _fingerprint(seeded) == before
    c = seeded.client(2)
    c.set("inter:after", name)
    assert c.get("inter:after") == name.encode()


def test_frames_without_hello_are_dropped(seeded: Cluster) -> None:
    before = _fingerprint(seeded)
    addr = _cluster_addr(seeded, 1)
    frames = [
        m.encode_request(m.DELRANGE, 1, [b"k", b"l"]),
        m.encode_request(m.STORE, 2, [_raw("inter:2"), b""]),
        m.encode_request(m.GET, 3, [_raw("inter:2")]),
    ]
    reply, _ = _send(addr, b"".join(frames), wait=0.5)
    assert reply == b""  # nothing answered, nothing done
    assert _fingerprint(seeded) == before


def _peer_get(addr: tuple[str, int], key: str, as_id: str = "node2") -> bytes:
    reply, _ = _send(addr, _hello(as_id) + m.encode_request(m.GET, 7, [_raw(key)]), wait=0.5)
    decoder = m.Decoder()
    decoder.feed(reply)
    for frame in decoder.frames():
        parsed = m.parse_reply(frame)
        if parsed.id == 7:
            return parsed.payload[0]
    raise AssertionError(f"no GET reply in {reply!r}")


def test_replayed_old_version_changes_nothing(seeded: Cluster) -> None:
    """A recorded STORE of an older version merges into what it is covered by: no change."""
    addr = _cluster_addr(seeded, 1)
    old = _peer_get(addr, "inter:3")
    seeded.client(1).set("inter:3", "newer")
    before = _fingerprint(seeded)
    for k in (1, 2, 3):
        _send(_cluster_addr(seeded, k),
              _hello("node2") + m.encode_request(m.STORE, 9, [_raw("inter:3"), old]), 0.3)
    assert _fingerprint(seeded) == before


NO_AUTH = ("no authentication on the inter-node port yet: any process that says HELLO is "
           "trusted (the HMAC handshake of the failure-handling issue closes this)")


@pytest.mark.xfail(strict=True, reason="bug: " + NO_AUTH + "; an unknown node id in a HELLO "
                   "is added as a member and the node recomputes its ring with it")
def test_hello_from_an_unknown_node_changes_no_ring(fresh3: Cluster) -> None:
    before = fresh3.client(3).execute_command("DYNAMO", "RING")
    _send(_cluster_addr(fresh3, 3), _hello("mallory", (b"127.0.0.1:1", b"127.0.0.1:2")), 0.3)
    assert fresh3.client(3).execute_command("DYNAMO", "RING") == before


@pytest.mark.xfail(strict=False, reason="bug: " + NO_AUTH + "; a HELLO with a member's id and "
                   "other addresses rewrites that member's client address in DYNAMO MEMBERS "
                   "(membership.learn); not strict: a genuine HELLO from the member may restore "
                   "it before the check (dialing keeps the seeded cluster address either way)")
def test_hello_cannot_move_a_member(fresh3: Cluster) -> None:
    cluster = fresh3
    c = cluster.client(3)
    deadline = time.monotonic() + 10
    while True:  # until node3 has greeted every member (no event to wait on: poll, bounded)
        before = c.execute_command("DYNAMO", "MEMBERS")
        if all(row[1] for row in before):
            break
        assert time.monotonic() < deadline, f"node3 never greeted every member: {before}"
        time.sleep(0.1)
    forged = _hello("node1", (b"127.0.0.1:1", b"127.0.0.1:2"))
    reply, _ = _send(_cluster_addr(cluster, 3), forged, 5.0)
    assert reply, "no HELLO reply: the forged HELLO was not processed"  # processed by now
    assert c.execute_command("DYNAMO", "MEMBERS") == before


@pytest.mark.xfail(strict=True, reason="bug: " + NO_AUTH + " (a forged STORE is merged)")
def test_forged_store_is_refused(seeded: Cluster) -> None:
    addr = _cluster_addr(seeded, 1)
    for i in range(3):  # a genuine clock of another key, with counters past inter:5's
        seeded.client(1).set("inter:4", f"donor {i}")
    donor = _peer_get(addr, "inter:4")
    before = _fingerprint(seeded)
    for k in (1, 2, 3):
        _send(_cluster_addr(seeded, k),
              _hello("node2") + m.encode_request(m.STORE, 5, [_raw("inter:5"), donor]), 0.3)
    assert _fingerprint(seeded) == before


@pytest.mark.xfail(strict=True, reason="bug: " + NO_AUTH + " (a replayed PUT is a new write)")
def test_replayed_put_is_refused(seeded: Cluster) -> None:
    put = m.Put(_raw("inter:6"), 0, m.decode_sibling(b"v", b"%d" % (time.time() * 1000),
                                                       b"replayed"), None, 2)
    frame = _hello("node2") + m.encode_request(m.PUT, 11, m.put_args(put))
    before = _fingerprint(seeded)
    _send(_cluster_addr(seeded, 1), frame, wait=1.0)
    assert _fingerprint(seeded) == before
