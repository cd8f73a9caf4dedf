"""Frames between nodes: a pure codec (bytes in, tuples out; no sockets, no gevent).

Framing is RESP, the protocol the rest of respdyn already speaks: every frame is an array of
bulk strings, so hiredis' C reader splits a stream into frames. Frames are written by hiredis'
`pack_command` (arrays of bulk strings, in C; the generic, recursive encoder of
`respdyn.protocol.encoder` costs ~5x more on the hot path; the bytes are identical, a test
checks it).
Each inter-node connection carries requests one way and replies the other way; a reply names
the request it answers by id, so replies may come back out of order and many requests share
one connection (pipelining) and one `send` (batching).

    request := [op, id, arg...]                    # id: decimal request number of the sender
    reply   := [id, status, payload...]            # status: "ok" | "err"
    error   := [id, "err", code, detail...]        # code: "NOQUORUM" got needed what | "ERR" text

Operations (do not rename: peers of another version must still understand them):

    op        args                                    ok payload
    HELLO     node_id, client_addr, cluster_addr      node_id, client_addr, cluster_addr
              (+ cluster_name, nonce, proof / + cluster_name, proof: the handshake block)
    GET       raw_key                                 clock ("" = no record)
    STORE     raw_key, clock [, base]                 -                 (merge with dvv.sync;
              base = dvv.digest of the version the coordinator wrote over: a replica holding
              exactly it stores the clock as sent, since the clock descends it; "" = none)
              | (raw_key, clock, base)...  (two or more: a multi-key STORE, see below)
    PUT       raw_key, slot, sibling, context ("" = blind), w   -       (coordinate a write)
    SCAN      start, end, limit                       next_start ("" = done), (key, clock)...
    DELRANGE  start, end                              -

    sibling := kind: "v" | "t" (tombstone), ts_ms (decimal), value (empty for "t")
               sent as three bulk strings
    clock   := dvv.encode(...)       context := dvv.encode_context(...) (a printable token)

A multi-key STORE carries the STOREs a coordinator queued for one peer in one event-loop
iteration (transport.Link.store), so concurrent writes share one frame and one reply. Its ok
means every key was merged; an error fails them all (each write then hints its copy; merges
are idempotent, so keys merged before the failure do no harm). It needed no new op: a node of
an older version answers STORE with more than 3 args with an error reply ("STORE takes 2 or 3
arguments", `refuses_multi_store`), where an unknown op would close the connection, and the
sender then falls back to one key per STORE for that peer.

Integers are ASCII decimal (RESP bulk strings). Anything malformed raises `MessageError`; the
transport closes a connection that sends one (a peer speaking garbage is not retried on).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import hiredis
from hiredis import pack_command

from respdyn.cluster import dvv

HELLO, GET, STORE, PUT, SCAN, DELRANGE = (
    b"HELLO", b"GET", b"STORE", b"PUT", b"SCAN", b"DELRANGE",
)
#: args each operation takes (exactly; -k = at least k); modules add theirs with `register`
ARITY = {HELLO: 3, GET: 1, STORE: -2, PUT: 7, SCAN: 3, DELRANGE: 2}


def register(op: bytes, arity: int) -> bytes:
    """Declare an operation of a cluster module (gossip, hints, anti-entropy, transfer) next
    to the code that handles it; `parse_request` checks its arity like the built-in ones."""
    known = ARITY.get(op)
    if known is not None and known != arity:
        raise ValueError(f"op {op!r} registered twice with different arities")
    ARITY[op] = arity
    return op
OK, ERR = b"ok", b"err"
NOQUORUM = b"NOQUORUM"

# ---- authentication handshake (cluster/handshake.py) -- one block, kept apart from other ops -
#: the listener's first frame on every connection: [CHALLENGE, "0", cluster_name, nonce]
CHALLENGE = b"CHALLENGE"
#: HELLO carries node_id, client_addr, cluster_addr, cluster_name, nonce, proof; its reply
#: payload is node_id, client_addr, cluster_addr, cluster_name, proof
ARITY[CHALLENGE] = 2
ARITY[HELLO] = 6
#: error code of a refused handshake (the connection is closed after it)
AUTH = b"AUTH"
# ---- end of the authentication handshake block ------------------------------------------------

#: a frame larger than this is refused (a peer gone wrong must not exhaust memory), bytes
MAX_FRAME_BULK = 512 * 1024 * 1024


class MessageError(ValueError):
    """Bytes from a peer that are not a frame of this protocol."""


class Request(NamedTuple):
    op: bytes
    id: int
    args: list[bytes]


class Reply(NamedTuple):
    id: int
    ok: bool
    payload: list[bytes]


# ---- framing ----------------------------------------------------------------------------------


def _frame(parts: Sequence[bytes]) -> bytes:
    """A RESP array of bulk strings, packed by hiredis in C (a Python loop over the parts cost
    ~3x more, on every inter-node message)."""
    return pack_command(tuple(parts))


def encode_request(op: bytes, req_id: int, args: Sequence[bytes]) -> bytes:
    return pack_command((op, b"%d" % req_id, *args))


#: an empty ok reply (STORE's, MSTORE's ...): every replicated write sends one per replica
_EMPTY_OK = b"*2\r\n$%d\r\n%b\r\n$2\r\nok\r\n"


def encode_reply(req_id: int, payload: Sequence[bytes] = ()) -> bytes:
    if not payload:
        raw = b"%d" % req_id
        return _EMPTY_OK % (len(raw), raw)
    return pack_command((b"%d" % req_id, OK, *payload))


def encode_error(req_id: int, code: bytes, *detail: bytes) -> bytes:
    return pack_command((b"%d" % req_id, ERR, code, *detail))


class Decoder:
    """Feed bytes, get frames (lists of bytes); incomplete frames wait for more input."""

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        self._reader = hiredis.Reader()

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)

    def frames(self) -> Iterator[list[bytes]]:
        gets = self._reader.gets
        while True:
            try:
                frame = gets()
            except hiredis.ProtocolError as exc:
                raise MessageError(f"bad frame: {exc}") from None
            if frame is False:
                return
            if type(frame) is not list or not frame:
                raise MessageError("a frame must be a non-empty array of bulk strings")
            for part in frame:  # a loop, not any(genexpr): this runs for every frame
                if type(part) is not bytes:
                    raise MessageError("a frame must be a non-empty array of bulk strings")
            yield frame


_tuple_new = tuple.__new__


def _int(raw: bytes, what: str) -> int:
    if not raw or not raw.isdigit():
        raise MessageError(f"bad {what} {raw[:20]!r}")
    return int(raw)


def parse_request(frame: list[bytes]) -> Request:
    if len(frame) < 2:
        raise MessageError("request without op and id")
    op = frame[0]
    want = ARITY.get(op)
    if want is None:
        raise MessageError(f"unknown op {op[:20]!r}")
    got = len(frame) - 2
    if got != want and not (want < 0 and got >= -want):
        takes = f"at least {-want}" if want < 0 else f"{want}"
        raise MessageError(f"{op.decode()} takes {takes} arguments, got {got}")
    raw = frame[1]
    if not raw.isdigit():  # _int, inlined: every request pays it
        raise MessageError(f"bad request id {raw[:20]!r}")
    return _tuple_new(Request, (op, int(raw), frame[2:]))


#: an older node's answer to a multi-key STORE (see the module docstring); kept as it was
STORE_ARITY_ERROR = b"STORE takes 2 or 3 arguments"


def store_item(raw_key: bytes, clock: bytes, base: bytes) -> bytes:
    """One key of a STORE frame, (raw_key, clock, base) as RESP bulk strings: encoded once per
    write and shared by the frames to each peer (base "" = none)."""
    return b"$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(raw_key), raw_key, len(clock), clock, len(base), base)


def store_frame(req_id: bytes, items: Sequence[bytes]) -> bytes:
    """A STORE request of `store_item`s: the same bytes as `encode_request` of their fields."""
    head = b"*%d\r\n$5\r\nSTORE\r\n$%d\r\n%b\r\n" % (2 + 3 * len(items), len(req_id), req_id)
    return head + b"".join(items)


def store_items(args: list[bytes]) -> Iterator[tuple[bytes, bytes, bytes | None]]:
    """A STORE's (raw_key, clock, base or None): one (2 or 3 args) or many (3k args)."""
    count = len(args)
    if count == 2:
        return iter(((args[0], args[1], None),))
    if count % 3:
        raise MessageError(f"STORE takes (key, clock, base) triples, got {count} args")
    return zip(args[::3], args[1::3], [base or None for base in args[2::3]], strict=True)


def refuses_multi_store(reply: Reply) -> bool:
    """True for an older node's refusal of a multi-key STORE."""
    return reply.payload[:2] == [b"ERR", STORE_ARITY_ERROR]


def parse_reply(frame: list[bytes]) -> Reply:
    if len(frame) < 2 or frame[1] not in (OK, ERR):
        raise MessageError("reply without id and status")
    return Reply(_int(frame[0], "reply id"), frame[1] == OK, frame[2:])


def reply_of(frame: list[bytes]) -> Reply:
    """`parse_reply` of a frame whose first element is known to be a request id this node
    sent (a link found it among its pending calls): only the status is left to check. Built
    with tuple.__new__, as NamedTuple's own __new__ does, without its Python frame."""
    if len(frame) < 2:
        raise MessageError("reply without id and status")
    status = frame[1]
    if status == OK:
        return _tuple_new(Reply, (int(frame[0]), True, frame[2:]))
    if status == ERR:
        return _tuple_new(Reply, (int(frame[0]), False, frame[2:]))
    raise MessageError("reply without id and status")


# ---- payloads ---------------------------------------------------------------------------------


def encode_sibling(sibling: dvv.Sibling) -> list[bytes]:
    """A client's new value (its node is stamped by the coordinating replica)."""
    if sibling.value is None:
        return [b"t", b"%d" % sibling.ts_ms, b""]
    return [b"v", b"%d" % sibling.ts_ms, sibling.value]


def decode_sibling(kind: bytes, ts: bytes, value: bytes) -> dvv.Sibling:
    if kind not in (b"v", b"t"):
        raise MessageError(f"bad sibling kind {kind[:20]!r}")
    return dvv.Sibling(value if kind == b"v" else None, _int(ts, "timestamp"))


class Put(NamedTuple):
    raw_key: bytes
    slot: int
    sibling: dvv.Sibling
    context: dvv.Context | None  #: None = blind write
    w: int


def put_args(put: Put) -> list[bytes]:
    token = b"" if put.context is None else dvv.encode_context(put.context)
    return [put.raw_key, b"%d" % put.slot, *encode_sibling(put.sibling), token, b"%d" % put.w]


def parse_put(args: list[bytes]) -> Put:
    raw_key, slot, kind, ts, value, token, w = args
    try:
        context = None if token == b"" else dvv.decode_context(token)
    except ValueError as exc:
        raise MessageError(str(exc)) from None
    sibling = decode_sibling(kind, ts, value)
    return Put(raw_key, _int(slot, "slot"), sibling, context, _int(w, "w"))


def encode_clock(clock: dvv.Clock | None) -> bytes:
    return b"" if clock is None else dvv.encode(clock)


def decode_clock(raw: bytes) -> dvv.Clock | None:
    if raw == b"":
        return None
    try:
        return dvv.decode(raw)
    except ValueError as exc:
        raise MessageError(f"bad clock: {exc}") from None


def scan_payload(next_start: bytes | None, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
    out = [next_start or b""]
    for key, clock in items:
        out += (key, clock)
    return out


def parse_scan(payload: list[bytes]) -> tuple[bytes | None, list[tuple[bytes, bytes]]]:
    if not payload or len(payload) % 2 != 1:
        raise MessageError("bad scan reply")
    rest = payload[1:]
    return payload[0] or None, list(zip(rest[::2], rest[1::2], strict=True))


def noquorum_detail(got: int, needed: int, what: str) -> list[bytes]:
    return [b"%d" % got, b"%d" % needed, what.encode()]


def parse_noquorum(detail: list[bytes]) -> tuple[int, int, str]:
    if len(detail) != 3:
        raise MessageError("bad NOQUORUM detail")
    return _int(detail[0], "got"), _int(detail[1], "needed"), detail[2].decode("utf-8", "replace")
