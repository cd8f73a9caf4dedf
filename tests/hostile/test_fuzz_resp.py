"""A RESP fuzzer against a real respdyn process: over 10^6 random and malformed frames.

Two parts. The bulk part is one fast loop: frames are generated cheaply from a seeded rng
(random command names, real commands with random and tricky arguments, random glob patterns),
sent many per write, and every reply is parsed and counted (exactly one per frame: nothing
dropped or doubled); every batch ends on its own connection with one malformed frame, which
must get a Redis protocol error and a close. Throughout, the node must keep answering PING and
its RSS must stay bounded. The Hypothesis part compares respdyn's bytes with a real
redis-server's on frames built from Redis' length-parsing edge cases (signs, spaces,
underscores, leading zeros, values near 2^31, 2^32, 2^63).
"""

from __future__ import annotations

import random
import socket
import time

import hiredis
import pytest
from harness import RespdynProcess, ping
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import rss

pytestmark = pytest.mark.xdist_group("hostile")

TOTAL_FRAMES = 1_000_000
BATCH = 5000
MiB = 1024 * 1024
RSS_BOUND = 400 * MiB  #: the node, its flush worker and 10^6 fuzzed commands

TRICKY_INTS = [
    b"0", b"-1", b"1", b"+1", b" 1", b"1 ", b"01", b"1_0", b"", b"-0", b"00",
    b"2147483647", b"2147483648", b"4294967295", b"4294967296", b"9223372036854775807",
    b"9223372036854775808", b"-9223372036854775808", b"-9223372036854775809",
    b"536870911", b"536870912", b"1e3", b"0x10", b"nan", b"inf", b"-inf", b"3.5",
]
#: commands that neither block, nor change the connection's mode, nor stop the server
SAFE = [
    b"GET", b"SET", b"DEL", b"EXISTS", b"INCR", b"INCRBY", b"DECRBY", b"APPEND", b"STRLEN",
    b"GETRANGE", b"SETRANGE", b"SETBIT", b"GETBIT", b"BITCOUNT", b"EXPIRE", b"PEXPIRE",
    b"TTL", b"TYPE", b"HSET", b"HGET", b"HDEL", b"HINCRBY", b"SADD", b"SREM", b"SCARD",
    b"ZADD", b"ZSCORE", b"ZRANGE", b"LPUSH", b"LPOP", b"LLEN", b"LRANGE", b"LINDEX", b"MGET",
    b"MSET", b"ECHO", b"PING", b"SIBLINGS", b"RESOLVE", b"OBJECT", b"KEYS", b"SCAN",
    b"GETEX", b"SETEX", b"LSET", b"SRANDMEMBER", b"ZRANGEBYSCORE",
]
#: cheap frames that stay in the protocol layer and the dispatcher's lookup
CHEAP = [b"PING", b"ECHO", b"GET", b"TYPE", b"TTL", b"HGET", b"OBJECT", b"LRANGE"]
GLOB_ATOMS = [b"*", b"?", b"a", b"[a-z]", b"[^a]", b"\\", b"[", b"]", b"k", b"*a*", b"[!x]"]
MALFORMED_COUNTS = [b"+1", b" 1", b"1_0", b"abc", b"2147483648", b"1 ", b"0x1", b"01", b"-"]
MALFORMED_BULKS = [b"+3", b" 3", b"3_", b"-1", b"abc", b"536870913", b"03", b"9" * 25]


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


def _frame(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


class FrameGen:
    """Cheap random frames; the same seed gives the same frames."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.keys = [b"k%d" % i for i in range(40)]

    def arg(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.35:
            return self.rng.choice(TRICKY_INTS)
        if roll < 0.6:
            return self.rng.choice(self.keys)
        if roll < 0.7:
            return b"".join(self.rng.choices(GLOB_ATOMS, k=self.rng.randrange(1, 12)))
        return self.rng.randbytes(self.rng.randrange(0, 12))

    def frame(self) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            name = rng.randbytes(rng.randrange(1, 10))
        elif roll < 0.9:
            name = rng.choice(CHEAP)
        else:
            name = rng.choice(SAFE)
        args = [name] + [self.arg() for _ in range(rng.randrange(0, 5))]
        return _frame(args)

    def pool(self, size: int) -> list[bytes]:
        return [self.frame() for _ in range(size)]

    def stream(self, pool: list[bytes], size: int) -> list[bytes]:
        """`size` frames drawn from `pool` (generating 10^6 fresh frames would cost more than
        serving them), joined and cut at random byte offsets so that frames straddle reads."""
        data = b"".join(self.rng.choices(pool, k=size))
        cuts = sorted(self.rng.sample(range(1, len(data)), k=min(64, len(data) - 1)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

    def malformed(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            return b"*" + rng.choice(MALFORMED_COUNTS) + b"\r\n"
        if kind == 1:
            return b"*1\r\n$" + rng.choice(MALFORMED_BULKS) + b"\r\n"
        return b"*2\r\n$3\r\nGET\r\n" + bytes([rng.choice(b"+:-*#x")]) + b"3\r\nabc\r\n"


def _drain(sock: socket.socket, expected: int, deadline: float) -> tuple[list, bytes]:
    """Read replies until `expected` were parsed, then whatever follows until EOF (if the
    server closes). Returns (replies, trailing bytes after them)."""
    reader = hiredis.Reader()
    replies: list = []
    while len(replies) < expected:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        data = sock.recv(1 << 20)
        assert data, f"connection closed after {len(replies)} of {expected} replies"
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            replies.append(reply)
    return replies, b""


def _read_to_eof(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    buf = bytearray()
    while chunk := sock.recv(1 << 16):
        buf += chunk
    return bytes(buf)


def _batch(node: RespdynProcess, gen: FrameGen, pool: list[bytes], size: int) -> int:
    """`size` random frames on one connection, then one malformed frame; checks every reply.
    Returns the frames sent."""
    bad = gen.malformed()
    with socket.create_connection((node.host, node.port), timeout=30) as sock:
        for piece in gen.stream(pool, size):
            sock.sendall(piece)
        replies, _ = _drain(sock, size, time.monotonic() + 60)
        assert len(replies) == size
        sock.sendall(bad)
        tail = _read_to_eof(sock, 10)
    assert tail.startswith(b"-ERR Protocol error: "), (bad, tail)
    assert tail.endswith(b"\r\n") and tail.count(b"\r\n") == 1, (bad, tail)
    return size + 1


def test_a_million_random_and_malformed_frames(node: RespdynProcess) -> None:
    gen = FrameGen(seed=20261127)
    pool = gen.pool(40_000)
    sent, started = 0, time.monotonic()
    peak = rss(node)
    while sent < TOTAL_FRAMES:
        sent += _batch(node, gen, pool, min(BATCH, TOTAL_FRAMES - sent))
        if sent % (20 * BATCH) < BATCH + 1:
            assert ping(node.host, node.port), f"no PONG after {sent} frames"
            peak = max(peak, rss(node))
    assert node.proc is not None and node.proc.poll() is None, "the node died"
    assert ping(node.host, node.port)
    peak = max(peak, rss(node))
    print(f"{sent} frames in {time.monotonic() - started:.1f}s, peak RSS {peak / MiB:.0f} MiB")
    assert peak < RSS_BOUND


# -- differential: the length-parsing edge cases, byte for byte against redis-server ------------

LENGTHS = st.sampled_from(TRICKY_INTS + MALFORMED_COUNTS + MALFORMED_BULKS + [b"2", b"4"])
#: what follows the malformed frame: protocol noise, no letters, so it can never spell a
#: command whose reply is server-specific (HELLO's client id, INFO, TIME, ROLE...)
INLINE_NOISE = " \"'\\0123456789$*:+-_\t"


def _exchange(addr: tuple[str, int], data: bytes) -> bytes:
    """Send, half-close nothing; collect what comes back until a close or 0.3 s of silence."""
    with socket.create_connection(addr, timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(0.3)
        buf = bytearray()
        try:
            while chunk := sock.recv(1 << 16):
                buf += chunk
            buf += b"<EOF>"
        except TimeoutError:
            pass
    return bytes(buf)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(count=LENGTHS, first=LENGTHS, second=LENGTHS,
       payload=st.text(alphabet=INLINE_NOISE, max_size=6).map(str.encode))
def test_length_edge_cases_answer_as_redis_does(
    node: RespdynProcess, redis_ref: tuple[str, int], count: bytes, first: bytes,
    second: bytes, payload: bytes,
) -> None:
    data = (b"*" + count + b"\r\n$" + first + b"\r\nECHO\r\n$" + second + b"\r\n" + payload
            + b"\r\n*1\r\n$4\r\nPING\r\n")
    ours = _exchange((node.host, node.port), data)
    theirs = _exchange(redis_ref, data)
    assert ours == theirs, data


def test_unknown_command_echoes_raw_bytes_as_redis_does(
    node: RespdynProcess, redis_ref: tuple[str, int]
) -> None:
    data = b"*2\r\n$2\r\nz\x80\r\n$2\r\na\xff\r\n"
    assert _exchange((node.host, node.port), data) == _exchange(redis_ref, data)
