"""The comparison engine: the same request to the reference and to respdyn, exact reply bytes
first, a declared normal form second, and a record of the outcome per command for the report.

Outcomes: "identical" (same bytes), "differs" (equal once normalised by a declared design
difference), "bug" (a declared known incompatibility, equal under its normal form). Anything
else fails the test with both replies shown.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compat import differences
from compat.resp import RawConnection, Tagged, encode_command, to_text

if TYPE_CHECKING:
    from compat.targets import Target

RESULTS_DIR = Path(__file__).parent / ".results"
READ_TIMEOUT = 3.0  #: seconds an @read waits for a message or a blocked command's reply


def command_key(argv: list[bytes] | tuple[bytes, ...], known: Iterable[str]) -> str:
    """Redis' name for what ran: "get", or "client|list" for a container's subcommand (an
    unknown subcommand counts for its container, as its error comes from there)."""
    name = argv[0].decode(errors="replace").lower()
    if len(argv) > 1:
        sub = f"{name}|{argv[1].decode(errors='replace').lower()}"
        if sub in known:
            return sub
    return name


@dataclass
class Recorder:
    """Per-command outcome counts of this pytest process; dumped as JSON for compat.report."""

    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    examples: dict[str, dict[str, str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, command: str, outcome: str, detail: str = "") -> None:
        bucket = self.counts[command]
        label = f"{outcome}:{detail}" if detail else outcome
        bucket[label] = bucket.get(label, 0) + 1

    def dump(self) -> Path:
        RESULTS_DIR.mkdir(exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        path = RESULTS_DIR / f"results-{worker}.json"
        data = {"counts": self.counts, "examples": self.examples, **self.extra}
        path.write_text(json.dumps(data, indent=1, sort_keys=True))
        return path


RECORDER = Recorder()


class Undeclared(AssertionError):
    """Replies differ and differences.py declares nothing that explains it."""


def compare(
    key: str, argv: list[bytes], expected: tuple[Any, bytes], actual: tuple[Any, bytes],
    where: str = "", recorder: Recorder = RECORDER,
) -> str:
    """Compare one reply pair; returns the outcome or raises Undeclared."""
    (value, raw), (their_value, their_raw) = expected, actual
    if raw == their_raw:
        recorder.record(key, "identical")
        return "identical"
    shown = (f"{where} {b' '.join(argv)[:200]!r}\n  redis:   {raw[:600]!r}\n"
             f"  respdyn: {their_raw[:600]!r}")
    found = differences.candidates(key, argv, their_raw)
    if not found:
        raise Undeclared(f"undeclared difference for {key}: {shown}")
    agreeing = [d for d in found if d.normalise(value) == d.normalise(their_value)]
    if not agreeing:
        diff = found[0]
        raise Undeclared(
            f"{key} differs beyond its declared normal form ({diff.reason}): {shown}\n"
            f"  normalised: {diff.normalise(value)!r} != {diff.normalise(their_value)!r}"
        )
    diff = agreeing[0]
    outcome = "bug" if diff.kind == "bug" else "differs"
    recorder.record(key, outcome, diff.id)
    recorder.examples.setdefault(
        f"{key}:{diff.id}",
        f"{b' '.join(argv)[:120].decode(errors='replace')} -> redis {to_text(value)[:160]}"
        f" / respdyn {to_text(their_value)[:160]}",
    )
    return outcome


class Pair:
    """Named client connections opened in pairs (one per server), in one RESP protocol."""

    def __init__(
        self, reference: Target, respdyn: Target, protocol: int, known: Iterable[str]
    ) -> None:
        self.targets = (reference, respdyn)
        self.protocol = protocol
        self.known = frozenset(known)
        self.conns: dict[str, tuple[RawConnection, RawConnection]] = {}
        self.current = "main"
        self.pending: dict[str, tuple[str, list[bytes]]] = {}  #: last command sent per conn
        self.queued: dict[str, list[tuple[str, list[bytes]]]] = {}  #: in MULTI, per conn
        self.failures: list[str] = []  #: undeclared differences, collected to show them all

    def _open(self, name: str) -> tuple[RawConnection, RawConnection]:
        pair = tuple(RawConnection(t.host, t.port) for t in self.targets)
        self.conns[name] = pair  # type: ignore[assignment]
        if self.protocol == 3:
            self.send([b"HELLO", b"3"], conn=name, record=False)
        return self.conns[name]

    def use(self, name: str) -> None:
        self.current = name

    def send_only(self, argv: list[bytes], conn: str | None = None) -> None:
        """Send argv on both connections without reading (a blocking command)."""
        name = conn or self.current
        ref, dut = self.conns.get(name) or self._open(name)
        for c in (ref, dut):
            c.sock.sendall(encode_command(argv))
        self.pending[name] = (command_key(argv, self.known), argv)

    def read(self, where: str = "") -> tuple[Any, Any]:
        """One more reply on the current connection from both (blocked command, message)."""
        ref, dut = self.conns[self.current]
        key, argv = self.pending.get(self.current, ("?", [b"?"]))
        replies = []
        for target, conn in zip(self.targets, (ref, dut), strict=True):
            conn.sock.settimeout(READ_TIMEOUT)
            try:
                replies.append(conn.reader.read())
            except TimeoutError:
                self.failures.append(f"{where}: nothing to read from {target.name} "
                                     f"within {READ_TIMEOUT}s")
            finally:
                conn.sock.settimeout(10)
        if len(replies) < 2:
            return None, None
        return self._compare(key, argv, replies[0], replies[1], where, True)

    def send(
        self, argv: list[bytes], conn: str | None = None, where: str = "", record: bool = True
    ) -> tuple[Any, Any]:
        """Send argv on both connections and compare; returns both parsed replies."""
        name = conn or self.current
        ref, dut = self.conns.get(name) or self._open(name)
        expected, actual = ref.call(argv), dut.call(argv)
        key = command_key(argv, self.known)
        self.pending[name] = (key, argv)
        queue = self.queued.get(name)
        if key == "exec" and queue is not None:
            del self.queued[name]
            result = self._compare_exec(queue, argv, expected, actual, where, record)
        else:
            result = self._compare(key, argv, expected, actual, where, record)
        self._track_multi(name, key, argv, expected[0])
        if key == "quit":
            self._expect_closed(name)
        return result

    def _track_multi(self, name: str, key: str, argv: list[bytes], reply: Any) -> None:
        """Remember what a MULTI queued, so EXEC's replies can be judged one by one."""
        if key == "multi" and reply == Tagged("+", b"OK"):
            self.queued[name] = []
        elif key in ("discard", "reset", "quit"):
            self.queued.pop(name, None)
        elif name in self.queued and reply == Tagged("+", b"QUEUED"):
            self.queued[name].append((key, argv))

    def _compare_exec(
        self, queue: list[tuple[str, list[bytes]]], argv: list[bytes],
        expected: tuple[Any, bytes], actual: tuple[Any, bytes], where: str, record: bool,
    ) -> tuple[Any, Any]:
        """EXEC's array holds the queued commands' replies: each is compared like the command
        itself (a queued SMEMBERS keeps its declared order-free normal form)."""
        theirs, ours = expected[0], actual[0]
        if expected[1] == actual[1] or not (
            isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours)
            == len(queue)
        ):
            return self._compare("exec", argv, expected, actual, where, record)
        recorder = RECORDER if record else Recorder()
        recorder.record("exec", "identical")
        for (key, queued), mine, other in zip(queue, theirs, ours, strict=True):
            if mine == other:
                continue
            diff = next((d for d in differences.candidates(key, queued)
                         if d.normalise(mine) == d.normalise(other)), None)
            if diff is None:
                self.failures.append(
                    f"undeclared difference for {key} inside EXEC: {where} {queued!r}\n"
                    f"  redis:   {to_text(mine)[:400]}\n  respdyn: {to_text(other)[:400]}")
            else:
                recorder.record(key, "bug" if diff.kind == "bug" else "differs", diff.id)
        return theirs, ours

    def _compare(
        self, key: str, argv: list[bytes], expected: tuple[Any, bytes],
        actual: tuple[Any, bytes], where: str, record: bool,
    ) -> tuple[Any, Any]:
        try:
            compare(key, argv, expected, actual, where, RECORDER if record else Recorder())
        except Undeclared as exc:
            self.failures.append(str(exc))
        return expected[0], actual[0]

    def _expect_closed(self, name: str) -> None:
        ref, dut = self.conns.pop(name)
        closed = (ref.closed_by_peer(), dut.closed_by_peer())
        ref.close()
        dut.close()
        assert closed == (True, True), f"after QUIT (redis closed, respdyn closed) = {closed}"

    def close(self) -> None:
        for pair in self.conns.values():
            for conn in pair:
                conn.close()
        self.conns.clear()


def is_unknown_command(value: Any) -> bool:
    return isinstance(value, Tagged) and value.kind == "-" and value.value.startswith(
        b"ERR unknown command"
    )
