"""Inter-node connections: one pipelined, batched connection per peer, and the listener.

Why this shape. Every client request becomes N-1 inter-node messages, so per-message costs
dominate a cluster's throughput. A `Link` keeps ONE connection to a peer; callers append
encoded frames to its buffer and a writer greenlet sends everything pending with one `send`, so
concurrent requests share system calls and round trips (batching). A reader greenlet matches
replies to callbacks by request id (pipelining; replies may come back in any order). STOREs go
one step further (`Link.store`): those queued for a peer in one loop iteration leave as one
multi-key STORE frame, answered by one reply.

Failure is an answer, never a hang: a call to a peer that is down (connect refused, connection
lost, still in its reconnect backoff) or cut off by the test-only partition switch fails at
once; a call without a reply fails when its deadline passes (a sweeper checks every 50 ms).
Callbacks get the `Reply`, or None for a failure, and must not block (they run in the reader
or sweeper greenlet).

The listener (`Transport.serve`) is a gevent StreamServer on the cluster port. Every
connection starts with the handshake of `handshake.py` (CHALLENGE, HELLO, HELLO reply): with a
cluster secret both sides prove they hold it; without one the listener must be on loopback.
Nothing a peer sends is processed before its HELLO is verified, and a handshake that fails or
takes longer than `connect_timeout` closes the connection. Requests that only touch the local
engine run inline in the connection's reader; those that wait on other nodes (PUT, SCAN, ...)
run in their own greenlet so they do not stall the pipeline.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket as _stdsocket
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import socket
from gevent.hub import get_hub
from gevent.server import StreamServer

from respdyn.cluster import handshake as hs
from respdyn.cluster import messages as m
from storage.errors import PersistenceError

log = logging.getLogger(__name__)

Callback = Callable[[m.Reply | None], None]
#: handler(peer_id, request) -> ok payload; raises `RemoteError` for an error reply
Handler = Callable[[str, m.Request], list[bytes]]
Addr = tuple[str, int]

RECV_SIZE = 256 * 1024
#: ops answered inline by the listener's reader (local engine work only)
INLINE_OPS = frozenset({m.GET, m.STORE})
#: bytes a peer may send before its handshake is done (a HELLO is a few hundred)
HANDSHAKE_MAX_BYTES = 64 * 1024
#: error code of a request refused because this node's engine cannot persist (Redis' MISCONF)
MISCONF = b"MISCONF"
#: keys per multi-key STORE frame at most (a burst leaves as several frames)
STORE_BATCH = 256
#: errors that end a handshake: the connection is closed
HANDSHAKE_ERRORS = (OSError, m.MessageError, hs.HandshakeError)


class RemoteError(Exception):
    """A handler's refusal, sent as an error reply: `code` and detail strings."""

    def __init__(self, code: bytes, *detail: bytes) -> None:
        super().__init__(code, *detail)
        self.code = code
        self.detail = detail


def parse_addr(text: str) -> Addr:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bad address {text!r} (want host:port)")
    return host, int(port)


class _FrameReader:
    """Reads whole frames off a socket during the handshake, with a byte budget, so a peer
    that has not proven itself cannot make us buffer much."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.decoder = m.Decoder()
        self.budget = HANDSHAKE_MAX_BYTES

    def frame(self) -> list[bytes]:
        while True:
            for frame in self.decoder.frames():
                return frame
            data = self.sock.recv(min(RECV_SIZE, self.budget + 1))
            if not data:
                raise hs.HandshakeError("connection closed during the handshake")
            self.budget -= len(data)
            if self.budget < 0:
                raise hs.HandshakeError("handshake too long")
            self.decoder.feed(data)


def _nodelay(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)


class Counters:
    """Frames and system calls, to show the batching, and requests refused because the
    engine cannot persist (INFO cluster)."""

    __slots__ = ("frames", "misconf", "sends")

    def __init__(self) -> None:
        self.frames = 0
        self.sends = 0
        self.misconf = 0


class _Writer:
    """Sends everything queued in one event-loop iteration with one `send` (the batching).

    The send runs as a loop callback, as the client replies' `ReplyBatcher` does, not in a
    writer greenlet woken per batch (two greenlet switches and an Event per batch, on every
    link and every peer connection). The socket is non-blocking underneath, so the callback
    sends what the kernel takes now; only a send the socket cannot take whole hands the rest
    to a greenlet (`_drain`), and later batches queue behind it in order."""

    def __init__(
        self, sock: Any, on_error: Callable[[], None], counters: Counters,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        self.counters = counters
        self.before_send = before_send
        self.sock = sock
        self.raw = getattr(sock, "_sock", sock)  # gevent keeps the non-blocking _socket here
        self.out: list[bytes] = []
        self.on_error = on_error
        self.loop = get_hub().loop
        self.scheduled = False  # a flush callback is queued
        self.stopped = False
        self.greenlet: Any = None  #: finishing a send the socket did not take whole

    def send(self, frame: bytes) -> None:
        self.out.append(frame)
        if not self.scheduled:
            self.scheduled = True
            self.loop.run_callback(self._flush)

    def _flush(self) -> None:
        """The loop callback: write out (`before_send`), then send what is queued."""
        self.scheduled = False
        if self.stopped or self.greenlet is not None or not self.out:
            return  # a draining greenlet takes what was queued meanwhile, in order
        data = self._take()
        if data is None:
            return
        try:
            sent = self.raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._fail()
            return
        if sent < len(data):
            self.greenlet = gevent.spawn(self._drain, data[sent:])

    def _take(self) -> bytes | None:
        """Everything queued as one buffer, once `before_send` succeeded (None: dropped)."""
        out, self.out = self.out, []
        counters = self.counters
        counters.frames += len(out)
        counters.sends += 1
        data = b"".join(out) if len(out) > 1 else out[0]
        if self.before_send is not None and not self._ready(len(data)):
            return None  # what these frames acknowledge is not safe: say nothing
        return data

    def _drain(self, rest: bytes) -> None:
        """Send `rest`, then whatever was queued meanwhile, waiting for the socket."""
        try:
            while True:
                self.sock.sendall(rest)
                if self.stopped or not self.out:
                    break
                data = self._take()
                rest = data if data is not None else b""
        except OSError:
            self.greenlet = None
            self.on_error()
            return
        self.greenlet = None

    def _fail(self) -> None:
        """A send failed in the loop's callback: the owner's error handling runs in a
        greenlet of its own (it fails calls, whose callbacks may write hints)."""
        self.stopped = True
        gevent.spawn(self.on_error)

    def _ready(self, size: int) -> bool:
        """Run the hook (the engine's WAL write-out: every version these frames reveal, a
        replica's acknowledgement or a coordinator's new dot, reaches the OS first, once per
        batch). A failure drops the batch; the callers' deadlines answer for it."""
        try:
            self.before_send()  # type: ignore[misc]
        except Exception as exc:
            log.warning("not sending %d bytes of inter-node frames: %s", size, exc)
            return False
        return True

    def stop(self) -> None:
        self.stopped = True
        self.out = []
        greenlet = self.greenlet
        if greenlet is not None and greenlet is not gevent.getcurrent():
            greenlet.kill(block=False)
        self.greenlet = None


class Link:
    """The connection from this node to one peer, with reconnect backoff."""

    BACKOFF_MIN = 0.05  #: seconds before the first reconnect attempt after a failure
    BACKOFF_MAX = 1.0  #: seconds between attempts at most

    def __init__(self, transport: Transport, node_id: str, addr: Addr) -> None:
        self.transport = transport
        self.node_id = node_id
        self.addr = addr
        self.sock: Any = None
        self.writer: _Writer | None = None
        self.reader: Any = None
        self.connecting = False
        self.queued: list[bytes] = []  # frames waiting for the connection
        #: request id (as sent, ASCII decimal) -> (deadline, callback): replies are looked up
        #: by the id's bytes, with no int conversion per reply
        self.pending: dict[bytes, tuple[float, Callback]] = {}
        self.retry_at = 0.0
        self.backoff = self.BACKOFF_MIN
        self.up = False  #: last connection attempt succeeded and the connection is open
        #: STOREs queued in this loop iteration: (store_item, callback, deadline)
        self.stores: list[tuple[bytes, Callback, float]] = []
        #: the peer refused a multi-key STORE (a node of an older version): one frame per key
        self.single_stores = False

    def call(self, frame: bytes, req_id: bytes, callback: Callback, deadline: float) -> None:
        if self.writer is not None:
            self.pending[req_id] = (deadline, callback)
            self.writer.send(frame)
            return
        if not self.connecting and time.monotonic() < self.retry_at:
            callback(None)
            return
        self.pending[req_id] = (deadline, callback)
        self.queued.append(frame)
        if not self.connecting:
            self.connecting = True
            gevent.spawn(self._connect)

    def store(self, item: bytes, callback: Callback, deadline: float) -> None:
        """Queue a STORE (`messages.store_item`); every STORE queued for this peer in one loop
        iteration leaves as one multi-key STORE frame (one frame to parse, dispatch and
        answer, one reply to match, instead of one per key: messages.py)."""
        stores = self.stores
        stores.append((item, callback, deadline))
        if len(stores) == 1:
            self.transport.loop.run_callback(self._send_stores)

    def _send_stores(self) -> None:
        """The loop callback: the queued STOREs as frames of at most `STORE_BATCH` keys."""
        stores, self.stores = self.stores, []
        for start in range(0, len(stores), STORE_BATCH):
            self._send_batch(stores[start : start + STORE_BATCH])

    def _send_batch(self, batch: list[tuple[bytes, Callback, float]]) -> None:
        ids = self.transport.ids
        if len(batch) == 1 or self.single_stores:
            for item, callback, deadline in batch:
                req_id = b"%d" % next(ids)
                self.call(m.store_frame(req_id, (item,)), req_id, callback, deadline)
            return
        req_id = b"%d" % next(ids)
        frame = m.store_frame(req_id, [item[0] for item in batch])
        deadline = min(item[2] for item in batch)

        def answered(reply: m.Reply | None) -> None:
            if reply is not None and not reply.ok and m.refuses_multi_store(reply):
                log.info("%s takes one key per STORE (an older version): sending so",
                         self.node_id)
                self.single_stores = True
                self._send_batch(batch)
                return
            for item in batch:
                _answer(item[1], reply)

        self.call(frame, req_id, answered, deadline)

    def _connect(self) -> None:
        """Connect and authenticate; only then send what was queued meanwhile."""
        transport = self.transport
        sock = None
        try:
            sock = socket.create_connection(self.addr, timeout=transport.connect_timeout)
            _nodelay(sock)
            peer, decoder = transport.dial(sock, expect=self.node_id)
            sock.settimeout(None)
        except HANDSHAKE_ERRORS as exc:
            transport.refused(f"link to {self.node_id} at {self.addr}", exc)
            if sock is not None:
                sock.close()
            self.connecting = False
            self._failed()
            return
        transport.on_peer_hello(*peer)
        self.sock = sock
        self.connecting = False
        self.up = True
        self.single_stores = False  # a new connection: maybe a new version (try multi again)
        self.backoff = self.BACKOFF_MIN
        self.writer = _Writer(sock, self._failed, transport.counters, transport.before_send)
        if self.queued:
            self.writer.send(b"".join(self.queued))
        self.queued = []
        self.reader = gevent.spawn(self._read, sock, decoder)

    def _read(self, sock: Any, decoder: m.Decoder) -> None:
        try:
            while True:
                pending = self.pending
                for frame in decoder.frames():
                    entry = pending.pop(frame[0], None)
                    if entry is None:  # late, or not ours: still refuse garbage
                        m.parse_reply(frame)
                        continue
                    reply = m.reply_of(frame)
                    try:  # _answer, inlined: this runs for every reply
                        entry[1](reply)
                    except Exception:
                        log.exception("inter-node reply callback failed")
                data = sock.recv(RECV_SIZE)
                if not data:
                    break
                decoder.feed(data)
        except (OSError, m.MessageError) as exc:
            log.debug("link to %s lost: %s", self.node_id, exc)
        self._failed()

    def _failed(self) -> None:
        """Drop the connection; fail every outstanding call; back off before reconnecting."""
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
        if self.reader is not None and self.reader is not gevent.getcurrent():
            self.reader.kill(block=False)
        self.reader = None
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        self.up = False
        self.queued = []
        self.retry_at = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, self.BACKOFF_MAX)
        pending, self.pending = self.pending, {}
        for _, callback in pending.values():
            _answer(callback, None)

    def expire(self, now: float) -> None:
        late = [i for i, (deadline, _) in self.pending.items() if deadline <= now]
        for req_id in late:
            _answer(self.pending.pop(req_id)[1], None)

    def close(self) -> None:
        self._failed()


def _answer(callback: Callback, reply: m.Reply | None) -> None:
    try:
        callback(reply)
    except Exception:
        log.exception("inter-node reply callback failed")


class Transport:
    """Links to every peer plus this node's inter-node listener."""

    def __init__(
        self,
        node_id: str,
        client_addr: str,
        cluster_addr: Addr,
        handler: Handler | None = None,
        timeout: float = 1.0,
        connect_timeout: float = 1.0,
        keyring: hs.Keyring | None = None,
    ) -> None:
        """`keyring`: the cluster name and secret every connection is authenticated with;
        `connect_timeout` also bounds each handshake."""
        self.keyring = keyring or hs.Keyring()
        self.node_id = node_id
        self.client_addr = client_addr
        self.cluster_addr = cluster_addr
        self.handler = handler
        self.timeout = timeout  #: seconds a call waits for its reply by default
        self.connect_timeout = connect_timeout
        self.links: dict[str, Link] = {}
        self.addresses: dict[str, Addr] = {}  #: node id -> cluster address (from membership)
        self.blocked: set[str] = set()  #: test-only partition: peers whose traffic is dropped
        self.on_peer_hello: Callable[[str, str, str], None] = lambda *_: None
        self.ids = itertools.count(1)  #: request ids, unique per transport (so per link)
        self.loop = get_hub().loop
        self.counters = Counters()
        self.server: StreamServer | None = None
        self._sweeper: Any = None
        self.inline_ops = INLINE_OPS
        #: runs before each batch of frames is sent, on every connection (node.py: the
        #: engine's write_out), so what a replica acknowledges and the dots a coordinator
        #: sends have reached the OS, as for client replies: one write per batch, not per frame
        self.before_send: Callable[[], None] | None = None
        self._logged_refusals: set[tuple[str, str]] = set()

    # -- client side ---------------------------------------------------------------------------

    def me(self) -> hs.Hello:
        """What this node says about itself in a HELLO (the client address is set late)."""
        host, port = self.cluster_addr
        return hs.Hello(self.node_id, self.client_addr, f"{host}:{port}")

    def dial(self, sock: Any, expect: str | None = None) -> tuple[hs.Hello, m.Decoder]:
        """The dialer's handshake on a fresh connection -> (the verified peer, the decoder
        holding whatever it sent after its reply). Raises one of HANDSHAKE_ERRORS."""
        with gevent.Timeout(self.connect_timeout, hs.HandshakeError("handshake timed out")):
            reader = _FrameReader(sock)
            dialer = hs.Dialer(self.keyring, self.me(), expect)
            challenge = m.parse_request(reader.frame())
            if challenge.op != m.CHALLENGE:
                raise hs.HandshakeError(f"{challenge.op[:20]!r} instead of CHALLENGE")
            sock.sendall(m.encode_request(m.HELLO, 0, dialer.hello(challenge.args)))
            reply = m.parse_reply(reader.frame())
            if not reply.ok:
                detail = b" ".join(reply.payload).decode("utf-8", "replace")
                raise hs.HandshakeError(f"refused by the peer: {detail}")
            return dialer.accept(reply.payload), reader.decoder

    def refused(self, where: str, exc: Exception) -> None:
        """Log a failed connection or handshake: a refusal once per (where, reason) at
        warning (a misconfigured peer retries all the time), network errors at debug."""
        if not isinstance(exc, hs.HandshakeError):
            log.debug("%s: %s", where, exc)
            return
        key = (where, str(exc))
        if key in self._logged_refusals:
            log.debug("%s: handshake refused: %s", where, exc)
            return
        if len(self._logged_refusals) > 1000:  # bounded: peers choose the reasons' text
            self._logged_refusals.clear()
        self._logged_refusals.add(key)
        log.warning("%s: handshake refused: %s", where, exc)

    def call(
        self, node_id: str, op: bytes, args: list[bytes], callback: Callback,
        timeout: float | None = None,
    ) -> None:
        """Send `op` to `node_id`; `callback(reply or None)` exactly once, never blocking here
        beyond queueing (a failed peer answers None at once)."""
        self.call_many([(node_id, callback)], op, args, timeout)

    def call_many(
        self, calls: list[tuple[str, Callback]], op: bytes, args: list[bytes],
        timeout: float | None = None,
    ) -> None:
        """The same request to several nodes, encoded once (ids are per link, so one id
        serves every peer): the fan-out of a put or a get."""
        req_id = b"%d" % next(self.ids)
        frame = m.pack_command((op, req_id, *args))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for node_id, callback in calls:
            link = None if node_id in self.blocked else self._link(node_id)
            if link is None:
                callback(None)
            else:
                link.call(frame, req_id, callback, deadline)

    def store(
        self, node_id: str, item: bytes, callback: Callback, timeout: float | None = None,
    ) -> None:
        """STORE `item` (`messages.store_item`) on `node_id`, batched with the other STOREs for
        that peer in this loop iteration; `callback` as for `call`."""
        link = None if node_id in self.blocked else self._link(node_id)
        if link is None:
            callback(None)
            return
        if link.writer is None and not link.connecting and time.monotonic() < link.retry_at:
            callback(None)  # down, in its reconnect backoff: fail at once, as `call` does
            return
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        link.store(item, callback, deadline)

    def _link(self, node_id: str) -> Link | None:
        link = self.links.get(node_id)
        if link is None:
            addr = self.addresses.get(node_id)
            if addr is None:
                return None
            link = self.links[node_id] = Link(self, node_id, addr)
        return link

    def is_up(self, node_id: str) -> bool | None:
        """True: connected; False: last attempt failed; None: never tried."""
        link = self.links.get(node_id)
        if link is None:
            return None
        if link.up:
            return True
        return None if link.retry_at == 0.0 else False

    def hello(self, addr: Addr, timeout: float = 1.0) -> tuple[str, str, str] | None:
        """Ask the node at `addr` who it is (membership bootstrap), through the handshake;
        None if unreachable or not a member of our cluster."""
        try:
            with socket.create_connection(addr, timeout=timeout) as sock:
                sock.settimeout(timeout)
                peer, _ = self.dial(sock)
                return peer  # a Hello is the (node_id, client_addr, cluster_addr) tuple
        except HANDSHAKE_ERRORS as exc:
            self.refused(f"HELLO to {addr[0]}:{addr[1]}", exc)
            return None

    # -- server side ---------------------------------------------------------------------------

    def serve(self) -> None:
        """Start the inter-node listener and the deadline sweeper. Without a cluster secret
        anyone who can connect could act as a member, so the port must be on loopback."""
        host = self.cluster_addr[0]
        if not self.keyring.authenticated and not hs.is_loopback(host):
            raise ValueError(f"inter-node port on {host} (not loopback) needs a cluster secret")
        self.server = StreamServer(self.cluster_addr, self._handle_connection)
        self.server.start()
        self.cluster_addr = (host, self.server.server_port)
        self._sweeper = gevent.spawn(self._sweep)
        if self.keyring.authenticated:
            log.info("inter-node port %s:%d authenticated with cluster secret (cluster %r)",
                     host, self.cluster_addr[1], self.keyring.cluster_name)
        else:
            log.warning("inter-node port %s:%d on loopback only (no cluster secret; cluster %r)",
                        host, self.cluster_addr[1], self.keyring.cluster_name)

    def _handle_connection(self, sock: Any, address: Any) -> None:
        _nodelay(sock)
        try:
            peer, decoder = self.authenticate(sock)
        except HANDSHAKE_ERRORS as exc:
            self.refused(f"inter-node connection from {address[0]}", exc)
            with contextlib.suppress(OSError):
                sock.close()
            return
        self._serve_peer(peer.node_id, sock, decoder)

    def authenticate(self, sock: Any) -> tuple[hs.Hello, m.Decoder]:
        """The listener's handshake: challenge, verify the HELLO, answer with our own proof.
        Raises one of HANDSHAKE_ERRORS (after telling the peer why, when it is a refusal)."""
        with gevent.Timeout(self.connect_timeout, hs.HandshakeError("handshake timed out")):
            reader = _FrameReader(sock)
            listener = hs.Listener(self.keyring, self.me())
            sock.sendall(m.encode_request(m.CHALLENGE, 0, listener.challenge()))
            request = m.parse_request(reader.frame())
            if request.op != m.HELLO:
                raise hs.HandshakeError(f"{request.op[:20]!r} before HELLO")
            try:
                peer, reply = listener.accept(request.args)
            except hs.HandshakeError as exc:
                with contextlib.suppress(OSError):
                    sock.sendall(m.encode_error(request.id, m.AUTH, str(exc).encode()))
                raise
            if peer.node_id in self.blocked:
                raise hs.HandshakeError(f"{peer.node_id} is cut off (DYNAMO DEBUG PARTITION)")
            self.on_peer_hello(*peer)
            sock.sendall(m.encode_reply(request.id, reply))
            return peer, reader.decoder

    def _serve_peer(self, peer: str, sock: Any, decoder: m.Decoder) -> None:
        """Requests of an authenticated peer until it hangs up or sends a malformed frame."""
        writer = _Writer(sock, lambda: None, self.counters, self.before_send)
        try:
            while True:
                for frame in decoder.frames():
                    request = m.parse_request(frame)
                    if request.op in (m.HELLO, m.CHALLENGE):
                        raise m.MessageError(f"{request.op.decode()} after the handshake")
                    if peer in self.blocked:
                        continue  # cut off: dropped, the caller's deadline answers
                    if request.op in self.inline_ops:
                        self._run(peer, request, writer)
                    else:
                        gevent.spawn(self._run, peer, request, writer)
                data = sock.recv(RECV_SIZE)
                if not data:
                    return
                decoder.feed(data)
        except (OSError, m.MessageError) as exc:
            log.debug("inter-node connection from %s closed: %s", peer, exc)
        finally:
            writer.stop()
            with contextlib.suppress(OSError):
                sock.close()

    def _run(self, peer: str, request: m.Request, writer: _Writer) -> None:
        try:
            payload = self.handler(peer, request)  # type: ignore[misc]
            frame = m.encode_reply(request.id, payload)
        except RemoteError as exc:
            frame = m.encode_error(request.id, exc.code, *exc.detail)
        except PersistenceError as exc:
            # Sticky until restart (storage refuses writes after a failed fsync): every STORE
            # would otherwise log a traceback. Warn once, count the rest; the peer still gets
            # the refusal, so this node is not counted toward W.
            if not self.counters.misconf:
                log.warning("refusing inter-node writes until restarted: %s", exc)
            self.counters.misconf += 1
            frame = m.encode_error(request.id, MISCONF, str(exc).encode())
        except Exception as exc:
            log.exception("inter-node %s failed", request.op.decode())
            frame = m.encode_error(request.id, b"ERR", str(exc).encode())
        if peer not in self.blocked:
            writer.send(frame)

    def _sweep(self) -> None:
        while True:
            gevent.sleep(0.05)
            now = time.monotonic()
            for link in list(self.links.values()):
                if link.pending:
                    link.expire(now)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop(timeout=1)
        if self._sweeper is not None:
            self._sweeper.kill(block=False)
        for link in self.links.values():
            link.close()
