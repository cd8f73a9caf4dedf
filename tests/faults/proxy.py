"""The fault-injecting network between cluster nodes: one TCP proxy per directed link.

Why a proxy and not the node's `DYNAMO DEBUG PARTITION` switch: that switch is symmetric (a
node drops everything to and from a peer) and has no delay or loss. Here every ordered pair
(a, b) has its own listening port; node a's seed for b is that port, so every message a sends
to b, and every reply b sends back on that connection, passes through this process, which can
cut, delay or drop each *directed message flow* (src -> dst) separately.

Addresses. A node advertises its own cluster address in HELLO and peers then dial what they
learned (membership.learn overwrites the seed's address). The proxy therefore rewrites the
cluster address in every HELLO frame it forwards: a's HELLO on link a->b says "reach me at the
proxy b->a", b's HELLO reply says "reach me at the proxy a->b". Nodes never learn a real peer
address, so no traffic bypasses the faults.

Semantics (TCP-like, not datagram-like): frames are whole inter-node frames (RESP arrays of
bulk strings). A *cut* flow silently drops frames (a blackhole; the sender's deadline answers)
and the connection is reset when the cut heals, as a TCP connection that timed out during a
long partition. *delay* holds frames (order kept). *drop* loses a frame with probability p
and resets the connection (a reset loses what was in flight).

Run as a process (the harness does): `python proxy.py` reads JSON commands on stdin, one per
line, answers "ok <json>" on stdout. Commands: {"op": "links", "links": [[src, dst, port,
target_port, target_host], ...]}, {"op": "rules", "rules": {"src>dst": {"cut": bool,
"delay": [lo_ms, hi_ms], "drop": p}}} (replaces all rules; {} heals), {"op": "stats"},
{"op": "quit"}.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Rule:
    cut: bool = False
    delay: tuple[float, float] = (0.0, 0.0)  #: milliseconds, uniform
    drop: float = 0.0  #: probability a frame is lost (and its connection reset)


@dataclass
class Link:
    src: str
    dst: str
    port: int
    target: tuple[str, int]
    #: the address src must advertise to dst (the proxy dst->src) and dst to src (this one)
    src_alias: bytes = b""
    dst_alias: bytes = b""


@dataclass
class Mesh:
    host: str
    links: dict[tuple[str, str], Link] = field(default_factory=dict)
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)
    conns: set[Conn] = field(default_factory=set)
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    dropped: int = 0
    passed: int = 0

    def rule(self, src: str, dst: str) -> Rule | None:
        return self.rules.get((src, dst))


def split_frames(buf: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of `buf` (arrays of bulk strings).
    Bytes that are not such a frame are returned whole (the node will judge them)."""
    frames = []
    while buf:
        end = _frame_end(buf)
        if end is None:
            break
        frames.append(bytes(buf[:end]))
        del buf[:end]
    return frames


def _frame_end(buf: bytearray) -> int | None:
    if buf[:1] != b"*":
        return len(buf)
    nl = buf.find(b"\r\n")
    if nl < 0:
        return None
    try:
        count = int(buf[1:nl])
    except ValueError:
        return len(buf)
    pos = nl + 2
    for _ in range(max(count, 0)):
        if pos >= len(buf):
            return None
        if buf[pos:pos + 1] != b"$":
            return len(buf)
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            return None
        try:
            size = int(buf[pos + 1:nl])
        except ValueError:
            return len(buf)
        pos = nl + 2 + size + 2
        if pos > len(buf):
            return None
    return pos


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


def rewrite_hello(frame: bytes, alias: bytes) -> bytes:
    """A HELLO request or reply with its cluster address replaced by `alias`."""
    if b"HELLO" not in frame[:24] and not frame.startswith(b"*5\r\n$1\r\n0\r\n$2\r\nok"):
        return frame
    parts = _parse(frame)
    if parts is None or len(parts) != 5:
        return frame
    is_request = parts[0] == b"HELLO"
    is_reply = parts[0] == b"0" and parts[1] == b"ok"
    if not (is_request or is_reply):
        return frame
    parts[4] = alias
    return b"*5\r\n" + b"".join(_bulk(p) for p in parts)


def _parse(frame: bytes) -> list[bytes] | None:
    try:
        nl = frame.index(b"\r\n")
        count = int(frame[1:nl])
        pos, out = nl + 2, []
        for _ in range(count):
            nl = frame.index(b"\r\n", pos)
            size = int(frame[pos + 1:nl])
            out.append(frame[nl + 2:nl + 2 + size])
            pos = nl + 4 + size
        return out
    except ValueError:
        return None


class Conn:
    """One proxied TCP connection (opened by link.src to link.dst) and its two pumps."""

    def __init__(self, mesh: Mesh, link: Link, reader, writer) -> None:
        self.mesh = mesh
        self.link = link
        self.client = (reader, writer)
        self.damaged = False
        self.closed = False
        self.upstream = None

    async def run(self) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.link.target)
        except OSError:
            self.close()
            return
        self.upstream = (up_reader, up_writer)
        link = self.link
        await asyncio.gather(
            self._pump(self.client[0], up_writer, link.src, link.dst, link.src_alias),
            self._pump(up_reader, self.client[1], link.dst, link.src, link.dst_alias),
        )

    async def _pump(self, reader, writer, src: str, dst: str, alias: bytes) -> None:
        buf = bytearray()
        queue: asyncio.Queue = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer))
        try:
            while not self.closed:
                data = await reader.read(256 * 1024)
                if not data:
                    break
                buf += data
                for frame in split_frames(buf):
                    self._route(queue, rewrite_hello(frame, alias), src, dst)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            await queue.put(None)
            await sender
            self.close()

    def _route(self, queue: asyncio.Queue, frame: bytes, src: str, dst: str) -> None:
        mesh = self.mesh
        rule = mesh.rule(src, dst)
        if rule is not None and rule.cut:
            mesh.dropped += 1
            self.damaged = True
            return
        if rule is not None and rule.drop and mesh.rng.random() < rule.drop:
            mesh.dropped += 1
            self.close()
            return
        mesh.passed += 1
        delay = 0.0
        if rule is not None and rule.delay[1] > 0:
            delay = mesh.rng.uniform(*rule.delay) / 1000.0
        queue.put_nowait((time.monotonic() + delay, frame))

    async def _send(self, queue: asyncio.Queue, writer) -> None:
        last = 0.0
        while True:
            item = await queue.get()
            if item is None or self.closed:
                return
            release, frame = item
            release = max(release, last)  # keep order: a later frame never overtakes
            last = release
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                writer.write(frame)
                await writer.drain()
            except OSError:
                self.close()
                return

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for pair in (self.client, self.upstream):
            if pair is not None:
                pair[1].close()
        self.mesh.conns.discard(self)


async def _serve_link(mesh: Mesh, link: Link) -> None:
    async def accept(reader, writer) -> None:
        conn = Conn(mesh, link, reader, writer)
        mesh.conns.add(conn)
        await conn.run()

    server = await asyncio.start_server(accept, mesh.host, link.port, reuse_address=True)
    mesh.servers.append(server)


def _set_links(mesh: Mesh, specs: list[list]) -> None:
    for src, dst, port, target_port, target_host in specs:
        mesh.links[(src, dst)] = Link(src, dst, port, (target_host, target_port))
    for (src, dst), link in mesh.links.items():
        back = mesh.links.get((dst, src))
        link.src_alias = f"{mesh.host}:{back.port}".encode() if back else b""
        link.dst_alias = f"{mesh.host}:{link.port}".encode()


def _set_rules(mesh: Mesh, rules: dict) -> None:
    new = {}
    for key, spec in rules.items():
        src, dst = key.split(">")
        new[(src, dst)] = Rule(
            bool(spec.get("cut")), tuple(spec.get("delay", (0, 0))), float(spec.get("drop", 0))
        )
    healed = [k for k, r in mesh.rules.items() if r.cut and not (k in new and new[k].cut)]
    mesh.rules = new
    if healed:
        for conn in list(mesh.conns):
            if conn.damaged:
                conn.close()


async def _control(mesh: Mesh) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        cmd = json.loads(line)
        answer: dict = {}
        if cmd["op"] == "links":
            _set_links(mesh, cmd["links"])
            for link in mesh.links.values():
                await _serve_link(mesh, link)
        elif cmd["op"] == "rules":
            _set_rules(mesh, cmd["rules"])
        elif cmd["op"] == "seed":
            mesh.rng.seed(cmd["seed"])
        elif cmd["op"] == "stats":
            answer = {"dropped": mesh.dropped, "passed": mesh.passed, "conns": len(mesh.conns)}
        elif cmd["op"] == "quit":
            print("ok {}", flush=True)
            return
        print("ok " + json.dumps(answer), flush=True)


async def main(host: str) -> None:
    mesh = Mesh(host)
    await _control(mesh)
    for server in mesh.servers:
        server.close()
    for conn in list(mesh.conns):
        conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"))
