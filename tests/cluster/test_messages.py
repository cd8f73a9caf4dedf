"""The inter-node frame codec: table-driven round trips and every malformed case."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respdyn.cluster import dvv
from respdyn.cluster import messages as m
from respdyn.protocol.encoder import encode as resp_encode

CLOCK = dvv.update(dvv.new([dvv.Sibling(b"v", 5)]), None, "node1")


@pytest.mark.parametrize(
    "op, args",
    [
        (m.HELLO, [b"node1", b"127.0.0.1:7001", b"127.0.0.1:17001", b"respdyn", b"n" * 32,
                   b"p" * 32]),
        (m.CHALLENGE, [b"respdyn", b"n" * 32]),
        (m.GET, [b"k\x00\x00\x01key"]),
        (m.STORE, [b"k\x00\x00\x01key", dvv.encode(CLOCK)]),
        (m.SCAN, [b"k\x00", b"k\x01", b"512"]),
        (m.DELRANGE, [b"k", b"l"]),
        (m.PUT, m.put_args(m.Put(b"key", 7, dvv.Sibling(b"", 9), None, 2))),
    ],
)
def test_request_round_trip(op, args):
    frame = m.encode_request(op, 42, args)
    assert frame == resp_encode([op, b"42", *args], 2)  # the flat encoder writes plain RESP
    decoder = m.Decoder()
    decoder.feed(frame)
    assert [m.parse_request(f) for f in decoder.frames()] == [m.Request(op, 42, args)]


@pytest.mark.parametrize(
    "frame, error",
    [
        ([b"NOPE", b"1"], "unknown op"),
        ([b"GET"], "without op and id"),
        ([b"GET", b"x1", b"k"], "bad request id"),
        ([b"GET", b"-1", b"k"], "bad request id"),
        ([b"GET", b"1"], "takes 1 arguments, got 0"),
        ([b"STORE", b"1", b"k"], "takes at least 2 arguments, got 1"),
    ],
)
def test_bad_requests(frame, error):
    with pytest.raises(m.MessageError, match=error):
        m.parse_request(frame)


def test_replies_and_errors():
    decoder = m.Decoder()
    decoder.feed(m.encode_reply(7, [b"a", b""]) + m.encode_error(8, m.NOQUORUM, b"1", b"2", b"x"))
    replies = [m.parse_reply(f) for f in decoder.frames()]
    assert replies == [
        m.Reply(7, True, [b"a", b""]),
        m.Reply(8, False, [m.NOQUORUM, b"1", b"2", b"x"]),
    ]
    assert m.parse_noquorum(replies[1].payload[1:]) == (1, 2, "x")
    with pytest.raises(m.MessageError):
        m.parse_reply([b"7", b"maybe"])


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**63), st.lists(st.binary(max_size=70), max_size=6))
def test_encoders_write_plain_resp(req_id: int, parts: list[bytes]) -> None:
    """Requests, replies (the empty ok reply has its own template) and errors are the plain
    RESP arrays the generic encoder writes, whatever the parts hold."""
    rid = b"%d" % req_id
    assert m.encode_request(m.STORE, req_id, parts) == resp_encode([m.STORE, rid, *parts], 2)
    assert m.encode_reply(req_id, parts) == resp_encode([rid, m.OK, *parts], 2)
    assert m.encode_reply(req_id) == resp_encode([rid, m.OK], 2)
    assert m.encode_error(req_id, b"ERR", *parts) == resp_encode([rid, m.ERR, b"ERR", *parts], 2)


def test_reply_of_matches_parse_reply():
    """What a link builds for a reply it was waiting for equals `parse_reply`'s; a status that
    is neither ok nor err is refused by both (the link then drops the connection)."""
    for frame in ([b"7", b"ok"], [b"7", b"ok", b"a", b""], [b"12", b"err", b"NOQUORUM", b"1"]):
        assert m.reply_of(frame) == m.parse_reply(frame)
        assert type(m.reply_of(frame)) is m.Reply
    for bad in ([b"7"], [b"7", b"maybe"]):
        with pytest.raises(m.MessageError):
            m.reply_of(bad)


def test_frames_split_anywhere_and_batched():
    stream = b"".join(m.encode_request(m.GET, i, [b"key%d" % i]) for i in range(50))
    decoder = m.Decoder()
    got = []
    for i in range(0, len(stream), 7):
        decoder.feed(stream[i : i + 7])
        got += [m.parse_request(f).id for f in decoder.frames()]
    assert got == list(range(50))


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"+OK\r\n", "array of bulk strings"),
        (b"*1\r\n:1\r\n", "array of bulk strings"),
        (b"*0\r\n", "non-empty"),
        (b"!garbage\r\n", "bad frame"),
    ],
)
def test_garbage_streams(raw, error):
    decoder = m.Decoder()
    decoder.feed(raw)
    with pytest.raises(m.MessageError, match=error):
        list(decoder.frames())


@pytest.mark.parametrize(
    "put",
    [
        m.Put(b"k", 0, dvv.Sibling(b"\x00" * 9 + b"payload", 1), None, 2),
        m.Put(b"k", 16383, dvv.Sibling(None, 2), (("node1", 3), ("node2", 1)), 3),
        m.Put(b"k", 5, dvv.Sibling(b"", 0), (), 1),
    ],
)
def test_put_round_trip(put):
    assert m.parse_put(m.put_args(put)) == put


def test_put_with_bad_context_or_sibling():
    args = m.put_args(m.Put(b"k", 0, dvv.Sibling(b"v", 1), None, 2))
    with pytest.raises(m.MessageError):
        m.parse_put([*args[:5], b"!!", args[6]])
    with pytest.raises(m.MessageError, match="sibling kind"):
        m.parse_put([args[0], args[1], b"x", *args[3:]])


def test_clock_and_scan_payloads():
    assert m.decode_clock(m.encode_clock(CLOCK)) == CLOCK
    assert m.decode_clock(m.encode_clock(None)) is None
    with pytest.raises(m.MessageError, match="bad clock"):
        m.decode_clock(b"\x00garbage")
    items = [(b"k1", b"c1"), (b"k2", b"c2")]
    assert m.parse_scan(m.scan_payload(b"k3", items)) == (b"k3", items)
    assert m.parse_scan(m.scan_payload(None, [])) == (None, [])
    with pytest.raises(m.MessageError):
        m.parse_scan([b"", b"k1"])
