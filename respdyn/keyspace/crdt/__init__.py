"""Pure CRDTs for the mergeable Redis types (no I/O, no clock reads: time and the actor are
passed in). Each state module has a `merge(a, b)` that is commutative, associative and
idempotent (tests/keyspace/test_crdt_*.py prove it with Hypothesis), and `encode`/`decode` to
the compact payloads stored on disk (docs/datatypes.md); every payload starts with a format
byte, and format bytes are on disk: do not renumber.

- `counter`: PN-counter per node id (INCR family, HINCRBY fields), with a base value.
- `orset`: ORSWOT (riak_dt_orswot), optionally with a value per dot: sets, hashes, zsets.
- `cells`: the values hash fields and zset members carry per dot, and how concurrent ones
  resolve (registers by (timestamp, node); counters summed).
"""

from __future__ import annotations

from respdyn.keyspace.crdt import counter, lists, orset
from respdyn.keyspace.keyspace import Removal
from respdyn.keyspace.record import Kind

#: the keyspace's mergers for the kinds stored as CRDTs (node.py hands them to `Keyspace`)
MERGERS = {
    Kind.COUNTER: counter.merge_payloads,
    Kind.SET: orset.merger(orset.SET_FORMAT),
    Kind.HASH: orset.merger(orset.HASH_FORMAT),
    Kind.ZSET: orset.merger(orset.ZSET_FORMAT),
}


def _orset_removal(fmt: int) -> Removal:
    def clear(data: bytes) -> bytes:
        state = orset.decode(data, fmt)
        state.entries.clear()  # the clock keeps every dot observed: they stay removed
        return orset.encode(state, fmt)

    return Removal(clear, lambda data: not orset.decode(data, fmt).entries)


def _clear_list(data: bytes) -> bytes:
    value = lists.decode(data)
    value.remove(range(len(value)))  # every observed element id joins the removed ranges
    return lists.encode(value)


#: deletions as observed removes, for a replicated keyspace (node.py): a DEL or an emptying
#: command concurrent with an add on another replica keeps the add. Counters have none: a
#: DEL concurrent with INCR resolves by the winner rule.
REMOVALS = {
    Kind.SET: _orset_removal(orset.SET_FORMAT),
    Kind.HASH: _orset_removal(orset.HASH_FORMAT),
    Kind.ZSET: _orset_removal(orset.ZSET_FORMAT),
    Kind.LIST: Removal(_clear_list, lambda data: not lists.decode(data).elements),
}
