"""Scenario files: one command per line, redis-cli quoting, `# comments`, a few `@` directives.

    @scenario set_options          a new scenario: fresh connections, FLUSHALL, both protocols
    @requires rpush hset           run it only once respdyn serves these commands
    @resp 2                        run it only in RESP2 (or 3)
    @conn other                    send the following lines on another named connection
    @sleep 0.2                     wait (expiry scenarios)
    @send BLPOP l 0                send without reading the reply (blocking commands)
    @read                          read one more reply on this connection from both servers
                                   (the blocked command's, a SUBSCRIBE's next channel, a message)
    SET k "two words\\x00" 'raw'   a command, compared on both servers

Adding a command family = adding a file under compat/scenarios/. Normalisations are declared in
compat/differences.py only, never here, so every deviation has one place with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SCENARIO_DIR = Path(__file__).parent / "scenarios"

_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b", "a": b"\a", '"': b'"', "\\": b"\\"}


@dataclass(frozen=True)
class Step:
    line: int
    argv: tuple[bytes, ...] = ()
    directive: str = ""  #: "conn", "sleep" (argv holds the argument), "send" or "read"


@dataclass
class Scenario:
    family: str
    name: str
    requires: tuple[str, ...] = ()
    protocols: tuple[int, ...] = (2, 3)
    steps: list[Step] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"


def split_args(line: str) -> list[bytes]:
    """redis-cli's quoting (sdssplitargs): "..." with \\xHH and C escapes, '...' literal."""
    out: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return out
        arg = bytearray()
        quote = line[i] if line[i] in "\"'" else ""
        i += bool(quote)
        while True:
            if i >= n:
                if quote:
                    raise ValueError(f"unbalanced quotes in {line!r}")
                break
            c = line[i]
            if quote == '"' and c == "\\" and i + 1 < n:
                nxt = line[i + 1]
                if nxt == "x" and i + 3 < n:
                    arg.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                    continue
                arg += _ESCAPES.get(nxt, nxt.encode())
                i += 2
                continue
            if quote == "'" and c == "\\" and line[i + 1 : i + 2] == "'":
                arg += b"'"
                i += 2
                continue
            if c == quote:
                i += 1
                if i < n and not line[i].isspace():
                    raise ValueError(f"closing quote must be followed by a space in {line!r}")
                break
            if not quote and c.isspace():
                break
            arg += c.encode()
            i += 1
        out.append(bytes(arg))


def parse(text: str, family: str) -> list[Scenario]:
    scenarios: list[Scenario] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            word, _, rest = line[1:].partition(" ")
            if word == "scenario":
                scenarios.append(Scenario(family, rest.strip()))
            elif not scenarios:
                raise ValueError(f"{family}:{number}: @{word} before any @scenario")
            elif word == "requires":
                scenarios[-1].requires = tuple(rest.lower().split())
            elif word == "resp":
                scenarios[-1].protocols = tuple(int(p) for p in rest.split())
            elif word in ("conn", "sleep"):
                scenarios[-1].steps.append(Step(number, (rest.strip().encode(),), word))
            elif word == "send":
                scenarios[-1].steps.append(Step(number, tuple(split_args(rest)), word))
            elif word == "read":
                count = int(rest or "1")
                scenarios[-1].steps.extend(Step(number, (), word) for _ in range(count))
            else:
                raise ValueError(f"{family}:{number}: unknown directive @{word}")
            continue
        if not scenarios:
            raise ValueError(f"{family}:{number}: a command before any @scenario")
        scenarios[-1].steps.append(Step(number, tuple(split_args(line))))
    return scenarios


def load_all(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Every scenario of every family file, in file order."""
    out: list[Scenario] = []
    for path in sorted(directory.glob("*.txt")):
        out.extend(parse(path.read_text(), path.stem))
    return out
