"""Hostile bytes on the inter-node port of a real 3-node cluster started WITH a cluster secret:
garbage, frames without a handshake, replayed and forged handshakes and frames, nodes of another
cluster or with the wrong secret. Each must be refused with no state change: the keys' versions
on every node, the member table and the ring are compared before and after.

A genuine member is simulated by a test that knows the secret (`_connect(..., secret=SECRET)`);
an attacker is anyone who does not (`WRONG`, or no secret at all).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import redis
from cluster_harness import Cluster
from harness import RespdynProcess, quiet_port, stop, wait_until_serving

from respdyn.cluster import handshake as hs
from respdyn.cluster import messages as m
from respdyn.cluster.hashing import key_slot
from respdyn.keyspace import layout
from respdyn.keyspace.replicated import pack_value

pytestmark = pytest.mark.xdist_group("hostile-cluster")

KEYS = [f"inter:{i}" for i in range(12)]
SECRET = "hostile-suite secret"
WRONG = "a guess"


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
        # ids and addresses: a member's up/down state follows heartbeats and links, not state
        parts.append(repr([row[:3] for row in c.execute_command("DYNAMO", "MEMBERS")]))
        parts.append(repr(c.execute_command("DYNAMO", "RING")))
        c.close()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@pytest.fixture(scope="module")
def authed3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The module's cluster: three nodes sharing SECRET."""
    cluster = Cluster(tmp_path_factory.mktemp("hostile-internode"), 3, secret=SECRET)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def fresh3(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of its own, for a test that would damage it if an attack worked."""
    cluster = Cluster(tmp_path, 3, secret=SECRET)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


_GENUINE: dict[str, list[bytes]] = {}


@pytest.fixture(scope="module")
def seeded(authed3: Cluster) -> Cluster:
    c = authed3.client(1)
    for key in KEYS:
        c.set(key, f"value of {key}")
    for member_id, client_addr, cluster_addr, _ in c.execute_command("DYNAMO", "MEMBERS"):
        _GENUINE[member_id.decode()] = [client_addr, cluster_addr]
    return authed3


# ---- speaking the inter-node protocol --------------------------------------------------------


class Session(NamedTuple):
    frames: list[list[bytes]]  #: what the node sent after its CHALLENGE
    closed: bool  #: the node closed the connection

    def reply(self, req_id: int) -> m.Reply | None:
        for frame in self.frames:
            if frame[0] == b"%d" % req_id:
                return m.parse_reply(frame)
        return None

    def refused(self) -> bool:
        """The handshake was refused: an AUTH error for the HELLO, then the connection closed."""
        hello = self.reply(0)
        return self.closed and hello is not None and not hello.ok and hello.payload[0] == m.AUTH


def _next_frame(sock: socket.socket, decoder: m.Decoder) -> list[bytes]:
    while True:
        for frame in decoder.frames():
            return frame
        chunk = sock.recv(1 << 16)
        assert chunk, "the node closed the connection"
        decoder.feed(chunk)


def _connect(addr: tuple[str, int]) -> tuple[socket.socket, m.Decoder, list[bytes]]:
    """A connection and the node's CHALLENGE frame (always its first)."""
    sock = socket.create_connection(addr, timeout=5)
    decoder = m.Decoder()
    challenge = _next_frame(sock, decoder)
    assert challenge[0] == m.CHALLENGE
    return sock, decoder, challenge


def _hello(challenge: list[bytes], as_id: str, secret: str, fields: list[bytes] | None = None,
           cluster: str = "respdyn") -> bytes:
    """A HELLO answering `challenge` as `as_id` holding `secret`: with that member's genuine
    addresses unless others are given."""
    addrs = fields or _GENUINE.get(as_id, [b"", b""])
    me = hs.Hello(as_id, *(a.decode() for a in addrs))
    args = hs.Dialer(hs.Keyring(cluster, secret), me).hello([cluster.encode(), challenge[3]])
    return m.encode_request(m.HELLO, 0, args)


def _drain(sock: socket.socket, decoder: m.Decoder, wait: float) -> Session:
    """Everything the node sends until it closes or is silent for `wait` seconds."""
    sock.settimeout(wait)
    closed = False
    try:
        while chunk := sock.recv(1 << 16):
            decoder.feed(chunk)
        closed = True
    except TimeoutError:
        pass
    except ConnectionResetError:
        closed = True
    return Session(list(decoder.frames()), closed)


def _session(addr: tuple[str, int], frames: bytes = b"", as_id: str = "node2",
             secret: str = SECRET, fields: list[bytes] | None = None,
             wait: float = 0.5) -> Session:
    """Answer the CHALLENGE as `as_id` holding `secret`, then send `frames` at once (an
    attacker does not wait to be believed)."""
    sock, decoder, challenge = _connect(addr)
    with sock:
        sock.sendall(_hello(challenge, as_id, secret, fields) + frames)
        return _drain(sock, decoder, wait)


def _raw(addr: tuple[str, int], data: bytes, wait: float = 0.5) -> Session:
    """Send bytes without any handshake."""
    sock, decoder, _ = _connect(addr)
    with sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return Session([], True)  # closed while we were still sending
        return _drain(sock, decoder, wait)


def _key(key: str) -> bytes:
    return layout.data_key(0, key.encode())


def _peer_get(addr: tuple[str, int], key: str) -> bytes:
    """A genuine member's GET of the stored clock."""
    reply = _session(addr, m.encode_request(m.GET, 7, [_key(key)])).reply(7)
    assert reply is not None and reply.ok, reply
    return reply.payload[0]


# ---- garbage and frames without a handshake ---------------------------------------------------


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
    "store of a garbage clock": m.encode_request(m.STORE, 1, [_key("inter:1"), b"\xd1garbage"]),
    "multi-key store of broken triples": m.encode_request(
        m.STORE, 1, [_key("inter:1"), b"\xd1garbage", b"", _key("inter:2")]),
    "old-style HELLO": m.encode_request(m.HELLO, 0, [b"node2", b"a:1", b"b:2"]),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_is_rejected_without_state_change(seeded: Cluster, name: str) -> None:
    before = _fingerprint(seeded)
    for k in (1, 2, 3):
        _session(_cluster_addr(seeded, k), GARBAGE[name])  # from a member, after its HELLO
        assert _raw(_cluster_addr(seeded, k), GARBAGE[name]).frames == []
    assert _fingerprint(seeded) == before
    c = seeded.client(2)
    c.set("inter:after", name)
    assert c.get("inter:after") == name.encode()


def test_frames_without_hello_are_dropped(seeded: Cluster) -> None:
    before = _fingerprint(seeded)
    frames = [
        m.encode_request(m.DELRANGE, 1, [b"k", b"l"]),
        m.encode_request(m.STORE, 2, [_key("inter:2"), b""]),
        m.encode_request(m.GET, 3, [_key("inter:2")]),
    ]
    session = _raw(_cluster_addr(seeded, 1), b"".join(frames))
    assert session == Session([], True)  # nothing answered, connection closed
    assert _fingerprint(seeded) == before


def test_a_silent_connection_is_dropped_after_the_handshake_timeout(seeded: Cluster) -> None:
    sock, decoder, _ = _connect(_cluster_addr(seeded, 1))
    with sock:
        started = time.monotonic()
        assert _drain(sock, decoder, wait=10) == Session([], True)
    assert time.monotonic() - started < 8  # the node's connect timeout (1 s), with slack


def test_a_huge_hello_is_cut_off(seeded: Cluster) -> None:
    """An unauthenticated peer cannot make the node buffer megabytes."""
    huge = b"*8\r\n$5\r\nHELLO\r\n$1\r\n0\r\n$8000000\r\n" + b"x" * 8_000_000
    assert _raw(_cluster_addr(seeded, 1), huge, wait=5).closed
    assert seeded.client(1).ping()


def test_replayed_old_version_changes_nothing(seeded: Cluster) -> None:
    """A member's STORE of an older version merges into what it is covered by: no change."""
    addr = _cluster_addr(seeded, 1)
    old = _peer_get(addr, "inter:3")
    seeded.client(1).set("inter:3", "newer")
    before = _fingerprint(seeded)
    for k in (1, 2, 3):
        _session(_cluster_addr(seeded, k), m.encode_request(m.STORE, 9, [_key("inter:3"), old]))
    assert _fingerprint(seeded) == before


# ---- forgery and replay: refused because the attacker does not hold the secret ---------------


@pytest.mark.parametrize("secret", [WRONG, ""])
def test_hello_from_an_unknown_node_changes_no_ring(fresh3: Cluster, secret: str) -> None:
    c = fresh3.client(3)

    def view() -> tuple[object, set[bytes]]:  # member states may still change: ids only
        return (c.execute_command("DYNAMO", "RING"),
                {row[0] for row in c.execute_command("DYNAMO", "MEMBERS")})

    before = view()
    session = _session(_cluster_addr(fresh3, 3), as_id="mallory", secret=secret,
                       fields=[b"127.0.0.1:1", b"127.0.0.1:2"])
    assert session.refused()
    assert view() == before and b"mallory" not in before[1]


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
    session = _session(_cluster_addr(cluster, 3), as_id="node1", secret=WRONG,
                       fields=[b"127.0.0.1:1", b"127.0.0.1:2"])
    assert session.refused()  # answered (so processed) before we look
    after = c.execute_command("DYNAMO", "MEMBERS")
    assert [row[:3] for row in after] == [row[:3] for row in before]  # states may change


def test_forged_store_is_refused(seeded: Cluster) -> None:
    addr = _cluster_addr(seeded, 1)
    for i in range(3):  # a genuine clock of another key, with counters past inter:5's
        seeded.client(1).set("inter:4", f"donor {i}")
    donor = _peer_get(addr, "inter:4")
    before = _fingerprint(seeded)
    for k in (1, 2, 3):
        forged = m.encode_request(m.STORE, 5, [_key("inter:5"), donor])
        session = _session(_cluster_addr(seeded, k), forged, secret=WRONG)
        assert session.refused() and session.reply(5) is None
    assert _fingerprint(seeded) == before


def test_replayed_put_is_refused(seeded: Cluster) -> None:
    """A recorded member session (its HELLO and a PUT) replayed on a new connection: the
    HELLO's proof is bound to the old connection's nonces, so nothing runs."""
    raw_key = _key("inter:6")
    value = pack_value(0, 0, b"replayed")
    put = m.Put(raw_key, key_slot(b"inter:6"), m.decode_sibling(b"v", b"%d" % (time.time() * 1000),
                                                                 value), None, 3)
    sock, decoder, challenge = _connect(_cluster_addr(seeded, 1))
    with sock:
        recorded = _hello(challenge, "node2", SECRET) + m.encode_request(m.PUT, 11,
                                                                           m.put_args(put))
        sock.sendall(recorded)
        while (reply := m.parse_reply(_next_frame(sock, decoder))).id != 11:
            pass
    assert reply.ok, reply  # the genuine session did write
    assert seeded.client(2).get("inter:6") == b"replayed"
    before = _fingerprint(seeded)
    replay = _raw(_cluster_addr(seeded, 1), recorded)
    assert replay.refused() and replay.reply(11) is None
    assert _fingerprint(seeded) == before


def test_a_hello_naming_another_cluster_is_refused(seeded: Cluster) -> None:
    sock, decoder, challenge = _connect(_cluster_addr(seeded, 1))
    with sock:
        sock.sendall(_hello(challenge, "node2", SECRET, cluster="other"))
        session = _drain(sock, decoder, 0.5)
    assert session.refused()
    assert b"cluster name mismatch" in session.reply(0).payload[1]  # type: ignore[union-attr]


# ---- real nodes that are not members ---------------------------------------------------------


def _wait_for_log(path: Path, text: str, timeout: float = 15.0) -> None:
    """Until `text` is in a node's log (another process: no event to wait on; bounded)."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} never logged in {path}"
        time.sleep(0.1)


@pytest.mark.parametrize("option, value, intruder_log, member_log", [
    ("--cluster-name", "other", "cluster name mismatch", None),
    ("--cluster-secret", WRONG, "refused by the peer", "bad proof"),
])
def test_a_node_that_is_not_a_member_cannot_join_or_talk(
    seeded: Cluster, tmp_path: Path, option: str, value: str, intruder_log: str,
    member_log: str | None,
) -> None:
    before = _fingerprint(seeded)
    host, port = _cluster_addr(seeded, 1)
    own = quiet_port()
    options = {"--cluster-secret": SECRET, option: value}
    intruder = RespdynProcess(
        tmp_path / "intruder" / "data", "--node-id", "node4", "--cluster-port", str(own),
        "--seeds", f"node1@{host}:{port},node4@127.0.0.1:{own}", "--fsync", "no",
        "--n", "2", "--r", "2", "--w", "2", *(x for kv in options.items() for x in kv))
    intruder.data_dir.parent.mkdir(parents=True)
    intruder.start()
    try:
        c = redis.Redis(port=intruder.port, socket_timeout=10)
        with pytest.raises(redis.ResponseError, match="NOQUORUM"):
            c.set("inter:7", "from the intruder")  # node1 is on every preference list
        c.close()
        _wait_for_log(intruder.log, intruder_log)
        if member_log is not None:
            _wait_for_log(seeded.nodes[0].log, member_log)
    finally:
        stop(intruder.proc)  # type: ignore[arg-type]
    assert _fingerprint(seeded) == before  # node4 is in no member table, nothing was written


def test_nodes_say_how_their_port_is_protected(seeded: Cluster) -> None:
    for node in seeded.nodes:
        assert "authenticated with cluster secret" in node.log.read_text()
    assert seeded.client(1).config_get("cluster-secret") == {"cluster-secret": "(hidden)"}


@pytest.mark.parametrize("source", ["environment", "file"])
def test_the_secret_can_stay_off_the_command_line(tmp_path: Path, source: str) -> None:
    port, cluster_port, secret_file = quiet_port(), quiet_port(), tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPDYN_")}
    argv = [sys.executable, "-m", "respdyn", "serve", "--port", str(port), "--fsync", "no",
            "--data-dir", str(tmp_path / "data"), "--node-id", "n1",
            "--cluster-port", str(cluster_port)]
    if source == "environment":
        env["RESPDYN_CLUSTER_SECRET"] = SECRET
    else:
        argv += ["--cluster-secret-file", str(secret_file)]
    log = tmp_path / "node.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, env=env)
    try:
        wait_until_serving(proc, "127.0.0.1", port, log)
        hello = _session(("127.0.0.1", cluster_port), as_id="node2").reply(0)
    finally:
        stop(proc)
    assert hello is not None and hello.ok  # it holds exactly SECRET (newline dropped)
    assert "authenticated with cluster secret" in log.read_text()


def test_a_non_loopback_cluster_port_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPDYN_")}
    argv = [sys.executable, "-m", "respdyn", "serve", "--port", str(quiet_port()),
            "--data-dir", str(tmp_path / "data"), "--node-id", "n1",
            "--cluster-host", "0.0.0.0", "--cluster-port", str(quiet_port())]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0
    assert "not loopback" in done.stderr and "cluster secret" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened
