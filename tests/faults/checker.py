"""The history checker: pure functions from (operations, final state) to the figures.

Three kinds of keys keep each check decidable from what clients can observe:

- carts (`cart:*`, shared by every client): an add reads SIBLINGS, unions the siblings'
  elements, adds a fresh element and RESOLVEs with the context read (the Dynamo paper's
  shopping cart). Elements are never removed, so an acknowledged element must be in the final
  union of the siblings: any absence is a loss (no supersession excuses it).
- registers (`reg:*`, one writer each): blind SETs of fresh values, each read back at once
  (R = 2, then R = N if that missed it: a sloppy quorum does not promise read-your-writes at
  R = 2). An acknowledged value may be legitimately gone only if another write of the key
  could have superseded it: one that ended after it started (an unknown outcome "ends" never:
  it may land late). Unless the read-back already missed it with nothing earlier in doubt:
  then it vanished before anything could supersede it.
- deleted keys (`del:*`, one writer each): SETs and DELs. Besides the register rule, a key whose
  last operation is an acknowledged DEL, with no operation of unknown outcome before it, must
  read as missing (GET) after convergence: anything else is a resurrection.

Phantoms: a value (or cart element) in the final state that no client ever tried to write.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"


@dataclass
class Op:
    client: int
    kind: str  #: "add" (cart), "set", "del"
    key: str
    value: str  #: the fresh value or element ("" for del)
    start: float
    end: float = math.inf
    outcome: str = UNKNOWN
    node: str = ""
    error: str = ""
    seen: bool | None = None  #: acknowledged write read back at once (R = N): was it there?
    quorum_missed: bool = False  #: an R = 2 read right after missed it (sloppy quorum)

    @property
    def settled_end(self) -> float:
        """When the operation can no longer take effect (never, for an unknown outcome)."""
        return math.inf if self.outcome == UNKNOWN else self.end


@dataclass
class Final:
    """A key after convergence: its siblings (None = a delete) and what GET answers."""

    siblings: list[bytes | None]
    get: bytes | None


@dataclass
class Verdict:
    ops: int = 0
    acked: int = 0
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)


def cart_elements(siblings: list[bytes | None]) -> set[str]:
    out: set[str] = set()
    for value in siblings:
        if value:
            out.update(e for e in value.decode().split(",") if e)
    return out


def check(history: list[Op], finals: dict[str, Final]) -> Verdict:
    verdict = Verdict(ops=len(history), acked=sum(op.outcome == OK for op in history))
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    for key, ops in sorted(by_key.items()):
        final = finals.get(key, Final([], None))
        if key.startswith("cart:"):
            _check_cart(key, ops, final, verdict)
        else:
            _check_register(key, ops, final, verdict)
    return verdict


def _check_cart(key: str, ops: list[Op], final: Final, verdict: Verdict) -> None:
    present = cart_elements(final.siblings)
    written = {op.value for op in ops if op.kind == "add"}
    for op in ops:
        if op.kind == "add" and op.outcome == OK and op.value not in present:
            verdict.lost.append(f"{key}:{op.value}")
    verdict.phantom += [f"{key}:{e}" for e in sorted(present - written)]


def _check_register(key: str, ops: list[Op], final: Final, verdict: Verdict) -> None:
    present = {v.decode() for v in final.siblings if v is not None}
    written = {op.value for op in ops if op.kind == "set"}
    verdict.phantom += [f"{key}:{v}" for v in sorted(present - written)]
    for op in ops:
        if op.kind != "set" or op.outcome != OK or op.value in present:
            continue
        if not any(o is not op and o.settled_end > op.start for o in ops) or _vanished(op, ops):
            verdict.lost.append(f"{key}:{op.value}")
    if _deleted_for_good(ops) and final.get is not None:
        verdict.resurrected.append(f"{key}:{final.get.decode()}")


def _vanished(op: Op, ops: list[Op]) -> bool:
    """A read of every replica right after the acknowledgement did not show the write, and nothing
    written earlier could still land and supersede it: it was gone before any later write
    could have seen it (registers have one writer, so no one else could supersede it)."""
    return op.seen is False and all(
        o.outcome != UNKNOWN for o in ops if o.start < op.start)


def _deleted_for_good(ops: list[Op]) -> bool:
    """The key's last operation is an acknowledged DEL and nothing before it may land late."""
    if not ops:
        return False
    last = max(ops, key=lambda o: o.start)
    if last.kind != "del" or last.outcome != OK:
        return False
    return all(o.outcome != UNKNOWN and o.end < last.start for o in ops if o is not last)
