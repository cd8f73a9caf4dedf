"""The inter-node handshake (pure): who is accepted, and every way a proof must not be reusable."""

from __future__ import annotations

import ast
import pathlib

import pytest

from respdyn.cluster import handshake as hs

SECRET = "correct horse battery staple"
A = hs.Hello("node1", "127.0.0.1:7001", "127.0.0.1:17001")
B = hs.Hello("node2", "127.0.0.1:7002", "127.0.0.1:17002")


def _pair(dialer_ring: hs.Keyring, listener_ring: hs.Keyring | None = None,
          ) -> tuple[hs.Dialer, hs.Listener]:
    return hs.Dialer(dialer_ring, A), hs.Listener(listener_ring or dialer_ring, B)


def _run(dialer: hs.Dialer, listener: hs.Listener) -> tuple[hs.Hello, hs.Hello]:
    """The three frames, as the transport passes them: (who each side accepted)."""
    hello = dialer.hello(listener.challenge())
    seen_by_listener, reply = listener.accept(hello)
    return seen_by_listener, dialer.accept(reply)


def test_members_with_the_secret_accept_each_other() -> None:
    ring = hs.Keyring("prod", SECRET)
    assert _run(*_pair(ring)) == (A, B)


def test_without_a_secret_only_the_name_is_checked_and_no_proof_is_sent() -> None:
    dialer, listener = _pair(hs.Keyring("prod"))
    hello = dialer.hello(listener.challenge())
    assert hello[-1] == b""
    peer, reply = listener.accept(hello)
    assert (peer, reply[-1]) == (A, b"")
    assert dialer.accept(reply) == B


def test_the_proof_depends_on_the_secret_and_is_a_full_hmac() -> None:
    dialer, listener = _pair(hs.Keyring("prod", SECRET))
    proof = dialer.hello(listener.challenge())[-1]
    assert len(proof) == 32 and SECRET.encode() not in b"".join(listener.challenge())


@pytest.mark.parametrize("wrong", ["", "guess", SECRET + "x"])
def test_a_dialer_with_a_wrong_or_no_secret_is_refused(wrong: str) -> None:
    dialer, listener = _pair(hs.Keyring("prod", wrong), hs.Keyring("prod", SECRET))
    with pytest.raises(hs.HandshakeError, match="proof"):
        listener.accept(dialer.hello(listener.challenge()))


def test_a_listener_with_a_wrong_secret_is_refused_by_the_dialer() -> None:
    dialer = hs.Dialer(hs.Keyring("prod", SECRET), A)
    hello = dialer.hello(hs.Listener(hs.Keyring("prod", "other"), B).challenge())
    # the impostor cannot verify the HELLO; the best it can send is a proof under its key
    impostor_reply = [*B.args(), b"prod", hs.Keyring("prod", "other").prove(
        hs.SERVER, dialer.nonce_s, hello[4], A, B)]
    with pytest.raises(hs.HandshakeError, match="bad proof"):
        dialer.accept(impostor_reply)


def test_a_listener_without_a_secret_does_not_pass_for_a_member() -> None:
    dialer, listener = _pair(hs.Keyring("prod", SECRET), hs.Keyring("prod"))
    with pytest.raises(hs.HandshakeError, match="no cluster secret"):
        listener.accept(dialer.hello(listener.challenge()))


def test_a_recorded_hello_is_refused_on_a_new_connection() -> None:
    ring = hs.Keyring("prod", SECRET)
    dialer, first = _pair(ring)
    recorded = dialer.hello(first.challenge())
    first.accept(recorded)  # genuine on its own connection
    second = hs.Listener(ring, B)  # a new connection: a new nonce
    assert second.nonce != first.nonce
    with pytest.raises(hs.HandshakeError, match="bad proof"):
        second.accept(recorded)


def test_a_recorded_reply_is_refused_by_a_new_dialer() -> None:
    ring = hs.Keyring("prod", SECRET)
    dialer, listener = _pair(ring)
    challenge = listener.challenge()
    _, recorded = listener.accept(dialer.hello(challenge))
    later = hs.Dialer(ring, A)
    later.hello(challenge)  # even facing the same challenge, its own nonce differs
    with pytest.raises(hs.HandshakeError, match="bad proof"):
        later.accept(recorded)


def test_a_dialers_proof_reflected_as_the_listeners_is_refused() -> None:
    """An impostor listener cannot answer with the dialer's own proof (direction labels)."""
    ring = hs.Keyring("prod", SECRET)
    dialer = hs.Dialer(ring, A)
    hello = dialer.hello(hs.Listener(ring, B).challenge())
    reflected = [*A.args(), b"prod", hello[-1]]  # the dialer's fields and proof sent back
    with pytest.raises(hs.HandshakeError, match="bad proof"):
        dialer.accept(reflected)
    mirrored = [*B.args(), b"prod", hello[-1]]
    with pytest.raises(hs.HandshakeError, match="bad proof"):
        dialer.accept(mirrored)
    nonce = hs.new_nonce()  # the labels alone already separate the two directions
    assert ring.prove(hs.CLIENT, nonce, nonce, A) != ring.prove(hs.SERVER, nonce, nonce, A)


@pytest.mark.parametrize("index, value", [
    (0, b"mallory"), (1, b"10.0.0.66:7001"), (2, b"10.0.0.66:17001"), (4, b"n" * hs.NONCE_BYTES),
])
def test_a_tampered_hello_is_refused(index: int, value: bytes) -> None:
    dialer, listener = _pair(hs.Keyring("prod", SECRET))
    hello = dialer.hello(listener.challenge())
    hello[index] = value
    with pytest.raises(hs.HandshakeError, match="bad proof"):
        listener.accept(hello)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_tampered_reply_is_refused(index: int) -> None:
    dialer, listener = _pair(hs.Keyring("prod", SECRET))
    _, reply = listener.accept(dialer.hello(listener.challenge()))
    reply[index] = b"x" + reply[index]
    with pytest.raises(hs.HandshakeError, match="bad proof"):
        dialer.accept(reply)


@pytest.mark.parametrize("secret", ["", SECRET])
def test_another_cluster_name_is_refused_by_both_sides(secret: str) -> None:
    dialer, listener = _pair(hs.Keyring("staging", secret), hs.Keyring("prod", secret))
    with pytest.raises(hs.HandshakeError, match="cluster name mismatch"):
        dialer.hello(listener.challenge())  # the dialer sees the listener's name
    forged = hs.Dialer(hs.Keyring("staging", secret), A)
    hello = forged.hello([b"staging", listener.nonce])  # as if it had seen its own name
    with pytest.raises(hs.HandshakeError, match="cluster name mismatch"):
        listener.accept(hello)


def test_a_short_nonce_is_refused() -> None:
    dialer, listener = _pair(hs.Keyring("prod"))
    with pytest.raises(hs.HandshakeError, match="nonce"):
        dialer.hello([b"prod", b""])
    hello = dialer.hello(listener.challenge())
    hello[4] = b"\0"
    with pytest.raises(hs.HandshakeError, match="nonce"):
        listener.accept(hello)


@pytest.mark.parametrize("args", [[], [b"node1"] * 5, [b"\xff", b"a", b"b", b"respdyn",
                                                        b"n" * 32, b""]])
def test_a_malformed_hello_is_refused(args: list[bytes]) -> None:
    with pytest.raises(hs.HandshakeError):
        hs.Listener(hs.Keyring(), B).accept(args)


def test_a_dialer_refuses_a_node_other_than_the_one_it_meant_to_reach() -> None:
    ring = hs.Keyring("prod", SECRET)
    dialer, listener = hs.Dialer(ring, A, expect="node3"), hs.Listener(ring, B)
    _, reply = listener.accept(dialer.hello(listener.challenge()))
    with pytest.raises(hs.HandshakeError, match="expected 'node3'"):
        dialer.accept(reply)


def test_a_reply_before_a_challenge_is_refused() -> None:
    with pytest.raises(hs.HandshakeError, match="before a CHALLENGE"):
        hs.Dialer(hs.Keyring(), A).accept([*B.args(), b"respdyn", b""])


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("10.0.0.1", False), ("::", False),
    ("node1.example", False), ("", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert hs.is_loopback(host) is loopback


def test_the_module_is_pure() -> None:
    """No sockets, gevent, clock or OS randomness beyond `secrets` (see test_purity.py)."""
    tree = ast.parse(pathlib.Path(hs.__file__).read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree)
             if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert roots <= {"__future__", "collections", "hashlib", "hmac", "ipaddress", "secrets",
                     "struct", "typing"}
