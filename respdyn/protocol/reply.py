"""Reply values: what command handlers return, before any protocol version is chosen.

Handlers return plain Python values or one of these markers; `encoder.encode` is the only place
that turns them into RESP2 or RESP3 bytes, and the only place the two versions differ.

| handler returns        | RESP2                     | RESP3                 |
| ---------------------- | ------------------------- | --------------------- |
| `bytes`                | bulk string               | bulk string           |
| `int`                  | integer                   | integer               |
| `None`                 | null bulk `$-1`           | null `_`              |
| `list` / `tuple`       | array                     | array                 |
| `Status("OK")`         | `+OK`                     | `+OK`                 |
| `ReplyError`           | `-ERR ...`                | `-ERR ...`            |
| `NULL_ARRAY`           | `*-1`                     | `_`                   |
| `Map(pairs)`           | flat array k1 v1 k2 v2    | map `%`               |
| `Set(items)`           | array                     | set `~`               |
| `Double(x)`            | bulk string (Redis' text) | double `,`            |
| `Bool(b)`              | integer 1/0               | boolean `#t`/`#f`     |
| `Verbatim(text)`       | bulk string               | verbatim `=txt:`      |
| `Push(items)`          | array                     | push `>`              |
| `BigNumber(n)`         | bulk string               | big number `(`        |

Markers are tiny frozen dataclasses so handlers stay declarative and tests can compare them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Status:
    text: str


@dataclass(frozen=True, slots=True)
class Map:
    """Ordered key/value pairs (a dict is accepted and keeps its insertion order)."""

    pairs: Sequence[tuple[Any, Any]] | dict

    def items(self) -> Sequence[tuple[Any, Any]]:
        return list(self.pairs.items()) if isinstance(self.pairs, dict) else self.pairs


@dataclass(frozen=True, slots=True)
class Set:
    items: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Double:
    value: float


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool


@dataclass(frozen=True, slots=True)
class Verbatim:
    text: bytes
    format: bytes = b"txt"


@dataclass(frozen=True, slots=True)
class Push:
    items: Sequence[Any]


@dataclass(frozen=True, slots=True)
class BigNumber:
    value: int


class _NullArray:
    """RESP2 `*-1` (e.g. EXEC after a failed WATCH, BLPOP timeout); RESP3 `_`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


class _NoReply:
    """The command sends nothing (e.g. a reply already streamed, or CLIENT REPLY OFF)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_REPLY"


NULL_ARRAY = _NullArray()
NO_REPLY = _NoReply()
OK = Status("OK")
PONG = Status("PONG")
QUEUED = Status("QUEUED")
