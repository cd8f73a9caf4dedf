"""Who may talk on the inter-node port: a mutual HMAC challenge-response (pure: no sockets).

Why. Every request on the inter-node port is trusted (STORE merges a clock, PUT coordinates a
write, HELLO changes the member table), so only cluster members may get that far. Members share
a secret; each side proves it knows the secret without sending it, and the proofs are bound to
this one connection so a recorded handshake is worth nothing on another.

    listener -> dialer    CHALLENGE  cluster_name, nonce_s
    dialer   -> listener  HELLO      node_id, client_addr, cluster_addr, cluster_name,
                                     nonce_c, proof_c
    listener -> dialer    reply      node_id, client_addr, cluster_addr, cluster_name, proof_s

    proof_c = HMAC-SHA256(secret, "client" | cluster | nonce_s | nonce_c | dialer's fields)
    proof_s = HMAC-SHA256(secret, "server" | cluster | nonce_s | nonce_c | dialer's | listener's)

Both nonces are fresh per connection (a proof cannot be replayed), the direction label differs
(a dialer's proof cannot be reflected back as a listener's), and the HELLO fields are inside the
MAC (they cannot be altered in flight). The listener answers only after checking the dialer, so
it never computes a proof for someone who does not hold the secret. Without a secret (the
loopback-only mode) the proofs are empty and only the cluster name is checked.

What this does NOT give: frames after the handshake carry no MAC and nothing is encrypted, so
an attacker on the path can read, or hijack an established connection. Keep the port on a
private network (or a tunnel) even with a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import struct
from collections.abc import Sequence
from typing import NamedTuple

NONCE_BYTES = 32
DEFAULT_CLUSTER_NAME = "respdyn"
CLIENT, SERVER = b"client", b"server"
#: domain separation: these MACs are for this handshake of this protocol only
CONTEXT = b"respdyn inter-node handshake v1"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost": where an unauthenticated port may listen."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HandshakeError(ValueError):
    """A handshake refused: the reason is for the log (and the refusal sent to the peer)."""


class Hello(NamedTuple):
    """What a node says about itself; all three fields are covered by its proof."""

    node_id: str
    client_addr: str
    cluster_addr: str

    def args(self) -> list[bytes]:
        return [self.node_id.encode(), self.client_addr.encode(), self.cluster_addr.encode()]

    @classmethod
    def parse(cls, raw: Sequence[bytes]) -> Hello:
        try:
            node_id, client_addr, cluster_addr = (p.decode() for p in raw)
        except (ValueError, UnicodeDecodeError):
            raise HandshakeError("malformed HELLO fields") from None
        if not node_id:
            raise HandshakeError("empty node id")
        return cls(node_id, client_addr, cluster_addr)


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def _transcript(label: bytes, cluster: str, nonce_s: bytes, nonce_c: bytes,
                hellos: Sequence[Hello]) -> bytes:
    """Length-prefixed fields, so no two different transcripts concatenate to the same bytes."""
    parts = [CONTEXT, label, cluster.encode(), nonce_s, nonce_c]
    parts += [field for hello in hellos for field in hello.args()]
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


class Keyring:
    """This node's cluster name and secret: computes and checks proofs."""

    def __init__(self, cluster_name: str = DEFAULT_CLUSTER_NAME, secret: str | bytes = b"") -> None:
        self.cluster_name = cluster_name
        self._key = secret.encode() if isinstance(secret, str) else secret

    @property
    def authenticated(self) -> bool:
        """True when a secret is configured (proofs are required and checked)."""
        return bool(self._key)

    def prove(self, label: bytes, nonce_s: bytes, nonce_c: bytes, *hellos: Hello) -> bytes:
        if not self._key:
            return b""
        message = _transcript(label, self.cluster_name, nonce_s, nonce_c, hellos)
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def check(self, proof: bytes, label: bytes, nonce_s: bytes, nonce_c: bytes,
              *hellos: Hello) -> None:
        """Raise unless `proof` is what a holder of our secret computes for this transcript."""
        if not self._key:
            if proof:
                raise HandshakeError("peer sent a proof but this node has no cluster secret")
            return
        if not proof:
            raise HandshakeError("no proof (peer has no cluster secret)")
        if not hmac.compare_digest(proof, self.prove(label, nonce_s, nonce_c, *hellos)):
            raise HandshakeError("bad proof (wrong cluster secret, or replayed)")

    def check_name(self, name: bytes) -> None:
        if name != self.cluster_name.encode():
            raise HandshakeError(
                f"cluster name mismatch: peer is in {name.decode('utf-8', 'replace')!r}, "
                f"this node in {self.cluster_name!r}")


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != NONCE_BYTES:
        raise HandshakeError(f"nonce of {len(nonce)} bytes (want {NONCE_BYTES})")


class Listener:
    """The accepting side of one connection: challenge, then verify the dialer's HELLO."""

    def __init__(self, keyring: Keyring, me: Hello) -> None:
        self.keyring = keyring
        self.me = me
        self.nonce = new_nonce()

    def challenge(self) -> list[bytes]:
        """Args of the CHALLENGE frame, sent first on every accepted connection."""
        return [self.keyring.cluster_name.encode(), self.nonce]

    def accept(self, hello_args: Sequence[bytes]) -> tuple[Hello, list[bytes]]:
        """The dialer's HELLO args -> (who it is, the args of our HELLO reply)."""
        if len(hello_args) != 6:
            raise HandshakeError(f"HELLO with {len(hello_args)} args (want 6)")
        peer = Hello.parse(hello_args[:3])
        name, nonce_c, proof = hello_args[3:]
        self.keyring.check_name(name)
        _check_nonce(nonce_c)
        self.keyring.check(proof, CLIENT, self.nonce, nonce_c, peer)
        proof_s = self.keyring.prove(SERVER, self.nonce, nonce_c, peer, self.me)
        return peer, [*self.me.args(), name, proof_s]


class Dialer:
    """The connecting side: answer the listener's challenge, then verify its reply.

    `expect` is the node id we meant to reach (a link to a known member): a listener with
    another id is refused, which also stops a connection relayed back to ourselves."""

    def __init__(self, keyring: Keyring, me: Hello, expect: str | None = None) -> None:
        self.keyring = keyring
        self.me = me
        self.expect = expect
        self.nonce = new_nonce()
        self.nonce_s = b""

    def hello(self, challenge_args: Sequence[bytes]) -> list[bytes]:
        """The CHALLENGE frame's args -> the args of our HELLO."""
        if len(challenge_args) != 2:
            raise HandshakeError("malformed CHALLENGE")
        name, self.nonce_s = challenge_args
        self.keyring.check_name(name)
        _check_nonce(self.nonce_s)
        proof = self.keyring.prove(CLIENT, self.nonce_s, self.nonce, self.me)
        return [*self.me.args(), name, self.nonce, proof]

    def accept(self, reply_payload: Sequence[bytes]) -> Hello:
        """The listener's HELLO reply payload -> who it is (only if it proved the secret)."""
        if not self.nonce_s:
            raise HandshakeError("HELLO reply before a CHALLENGE")
        if len(reply_payload) != 5:
            raise HandshakeError(f"HELLO reply with {len(reply_payload)} fields (want 5)")
        peer = Hello.parse(reply_payload[:3])
        name, proof = reply_payload[3:]
        self.keyring.check_name(name)
        self.keyring.check(proof, SERVER, self.nonce_s, self.nonce, self.me, peer)
        if self.expect is not None and peer.node_id != self.expect:
            raise HandshakeError(f"reached {peer.node_id!r}, expected {self.expect!r}")
        return peer
