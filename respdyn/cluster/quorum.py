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
from typing import Any, NamedTuple


class Outcome(enum.Enum):
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


class Answer(NamedTuple):
    """One node's answer: success or not, its payload, and whose hint it holds (if a stand-in).
    A NamedTuple: every write builds N of them, and a frozen dataclass's init cost 2x more."""

    node: str
    ok: bool
    reply: Any = None
    hint_for: str | None = None


class Tally:
    """Answers to one request sent to `n` nodes, of which `needed` must succeed.

    The success counts are kept as answers arrive (every put and get asks the tally several
    times per answer; recounting the answers each time was a visible part of a write's cost).
    A plain class with slots: every put and get builds one, and a dataclass's generated
    __init__ and __post_init__ cost twice as much."""

    __slots__ = ("_primary", "_successes", "answers", "count_hints", "n", "needed",
                 "primaries_needed")

    def __init__(
        self,
        n: int,
        needed: int,
        primaries_needed: int = 0,
        count_hints: bool = True,
        answers: dict[str, Answer] | None = None,
    ) -> None:
        if n < 0 or needed < 1 or primaries_needed < 0:
            raise ValueError("a tally needs n >= 0, needed >= 1, primaries_needed >= 0")
        self.n = n  #: requests sent (targets asked)
        self.needed = needed  #: successes required: W for a put, R for a get
        #: successes required from intended owners (PW/PR); 0 = any node
        self.primaries_needed = primaries_needed
        #: stand-ins holding a hint count toward `needed` (sloppy quorum)
        self.count_hints = count_hints
        self.answers: dict[str, Answer] = {}
        self._successes = 0
        self._primary = 0
        if answers:
            self.answers.update(answers)
            for answer in answers.values():
                self._count(answer)

    def __repr__(self) -> str:
        return (f"Tally(n={self.n}, needed={self.needed}, "
                f"primaries_needed={self.primaries_needed}, count_hints={self.count_hints}, "
                f"answers={self.answers!r})")

    def add(self, node: str, ok: bool, reply: Any = None, hint_for: str | None = None) -> Outcome:
        """Record `node`'s answer (the first one only) and return the outcome so far."""
        answers = self.answers
        if node not in answers and len(answers) < self.n:
            answer = answers[node] = Answer(node, ok, reply, hint_for)
            if ok:
                self._count(answer)
        return self.outcome()

    def _count(self, answer: Answer) -> None:
        if answer.ok:
            if answer.hint_for is None:
                self._primary += 1
                self._successes += 1
            elif self.count_hints:
                self._successes += 1

    @property
    def pending(self) -> int:
        return self.n - len(self.answers)

    def successes(self) -> int:
        """Successes that count toward `needed`."""
        return self._successes

    def primary_successes(self) -> int:
        return self._primary

    def enough(self) -> bool:
        return self._successes >= self.needed and self._primary >= self.primaries_needed

    def failed(self) -> bool:
        """True once `needed` (or `primaries_needed`) successes can no longer be reached."""
        pending = self.n - len(self.answers)
        return (
            self._successes + pending < self.needed
            or self._primary + pending < self.primaries_needed
        )

    def outcome(self) -> Outcome:
        if self.enough():
            return Outcome.OK
        if self.failed():
            return Outcome.FAILED
        return Outcome.PENDING

    def done(self) -> bool:
        """Nothing more to wait for: decided, or every answer is in."""
        return self.n == len(self.answers) or self.outcome() is not Outcome.PENDING

    def replies(self) -> list[Any]:
        """Payloads of the successful answers, in arrival order (values to reconcile)."""
        return [a.reply for a in self.answers.values() if a.ok]

    def errors(self) -> list[Answer]:
        return [a for a in self.answers.values() if not a.ok]


class Acks:
    """A write's acknowledgements, when every node is known to answer exactly once and no
    answer carries a payload (the coordinator's write path): two counters where `Tally` keeps
    a map of `Answer` tuples, which every replicated write built and filled. The rules are
    Tally's without stand-in accounting (a hint that a stand-in accepted is its intended
    node's success)."""

    __slots__ = ("answered", "n", "needed", "ok")

    def __init__(self, n: int, needed: int) -> None:
        if n < 1 or needed < 1:
            raise ValueError("acks need n >= 1 and needed >= 1")
        self.n = n  #: nodes asked, this one included
        self.needed = needed  #: W
        self.ok = 0  #: successes so far
        self.answered = 0

    def add(self, ok: bool) -> bool:
        """One node's answer; True once the write is decided (by this answer or before):
        enough successes, too few still possible, or every answer in. Past n, ignored."""
        if self.answered >= self.n:
            return False
        self.answered += 1
        if ok:
            self.ok += 1
        return self.ok >= self.needed or self.ok + self.n - self.answered < self.needed or (
            self.answered == self.n)

    def enough(self) -> bool:
        return self.ok >= self.needed

    def failed(self) -> bool:
        return self.ok + self.n - self.answered < self.needed
