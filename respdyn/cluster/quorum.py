"""The quorum tally of one put or get: has it succeeded, failed, or must it wait?

Sources: the Dynamo paper (DeCandia et al., SOSP 2007) §4.5 "Execution of get() and put()": a
coordinator sends the request to the N healthy nodes at the top of the preference list and
succeeds once W (put) or R (get) of them answer; §4.6 "sloppy quorum": a stand-in that accepts a
write meant for a down node (keeping a hint) counts toward W. Riak's ``riak_kv_put_core`` /
``riak_kv_get_core`` keep this counting in a pure module apart from the state machine that sends
requests and runs timers; so does respdyn: the coordinator owns fan-out, timeouts and read repair,
and only asks the tally.

Counting rules:
- one answer per node: a repeated answer (a retry's duplicate) is ignored;
- ``needed`` successes make the operation succeed (`enough`); it fails as soon as the successes
  plus the answers still outstanding cannot reach ``needed`` (`failed`), so a coordinator never
  waits for a timeout it cannot benefit from;
- a success from a stand-in (``hint_for`` = the intended owner) counts toward ``needed`` when
  ``count_hints`` (sloppy quorum, the paper's default; turn it off for strict quorums);
- ``primaries_needed`` (Riak's PW/PR) additionally asks for that many successes from intended
  owners; pending answers are assumed to possibly be primaries, so failure is declared late,
  never early.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.Enum):
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Answer:
    """One node's answer: success or not, its payload, and whose hint it holds (if a stand-in)."""

    node: str
    ok: bool
    reply: Any = None
    hint_for: str | None = None


@dataclass(slots=True)
class Tally:
    """Answers to one request sent to `n` nodes, of which `needed` must succeed."""

    n: int  #: requests sent (targets asked)
    needed: int  #: successes required: W for a put, R for a get
    primaries_needed: int = 0  #: successes required from intended owners (PW/PR); 0 = any node
    count_hints: bool = True  #: stand-ins holding a hint count toward `needed` (sloppy quorum)
    answers: dict[str, Answer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n < 0 or self.needed < 1 or self.primaries_needed < 0:
            raise ValueError("a tally needs n >= 0, needed >= 1, primaries_needed >= 0")

    def add(self, node: str, ok: bool, reply: Any = None, hint_for: str | None = None) -> Outcome:
        """Record `node`'s answer (the first one only) and return the outcome so far."""
        if node not in self.answers and len(self.answers) < self.n:
            self.answers[node] = Answer(node, ok, reply, hint_for)
        return self.outcome()

    @property
    def pending(self) -> int:
        return self.n - len(self.answers)

    def successes(self) -> int:
        """Successes that count toward `needed`."""
        return sum(a.ok and (self.count_hints or a.hint_for is None) for a in self.answers.values())

    def primary_successes(self) -> int:
        return sum(a.ok and a.hint_for is None for a in self.answers.values())

    def enough(self) -> bool:
        return self.successes() >= self.needed and self.primary_successes() >= self.primaries_needed

    def failed(self) -> bool:
        """True once `needed` (or `primaries_needed`) successes can no longer be reached."""
        return (
            self.successes() + self.pending < self.needed
            or self.primary_successes() + self.pending < self.primaries_needed
        )

    def outcome(self) -> Outcome:
        if self.enough():
            return Outcome.OK
        if self.failed():
            return Outcome.FAILED
        return Outcome.PENDING

    def done(self) -> bool:
        """Nothing more to wait for: decided, or every answer is in."""
        return self.outcome() is not Outcome.PENDING or self.pending == 0

    def replies(self) -> list[Any]:
        """Payloads of the successful answers, in arrival order (values to reconcile)."""
        return [a.reply for a in self.answers.values() if a.ok]

    def errors(self) -> list[Answer]:
        return [a for a in self.answers.values() if not a.ok]
