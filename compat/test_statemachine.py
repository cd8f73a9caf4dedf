"""Random command sequences over a few keys, sent step by step to redis-server and respdyn
(raw sockets, RESP2 and RESP3); every reply compared as test_scenarios does, and after every
step the two keyspaces must hold the same keys (DBSIZE, KEYS *).

Bounded (max_examples, steps) so the compat suite stays well under two minutes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from compat.compare import Pair
from compat.targets import Target
from compat.test_scenarios import flushall

KEYS = st.sampled_from([b"a", b"b", b"c"])
VALUES = st.sampled_from(
    [b"", b"0", b"1", b"-1", b"10", b"9223372036854775807", b"1.5", b"abc", b"\x00\xff", b"x" * 50]
)
INTS = st.sampled_from([b"0", b"1", b"-1", b"5", b"100", b"x", b"9223372036854775807", b"1.5"])
#: expiry times stay far from "now" (or in the past): a key expiring between two steps would
#: expire at different moments on the two servers and race the comparison
SECONDS = st.sampled_from([b"100", b"200", b"1000", b"0", b"-1", b"x"])
MILLIS = st.sampled_from([b"100000", b"200000", b"1000000", b"0", b"-1", b"x"])
FLOATS = st.sampled_from([b"0.1", b"-2.5", b"1e3", b"x", b"5", b"inf"])


def argv(*parts: st.SearchStrategy[bytes] | bytes) -> st.SearchStrategy[list[bytes]]:
    """A command: fixed bytes and strategies, drawn in order."""
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(
        list
    )


def options(*choices: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.sampled_from(choices), max_size=2)


STRINGS = st.one_of(
    argv(b"GET", KEYS),
    argv(b"SET", KEYS, VALUES),
    st.tuples(argv(b"SET", KEYS, VALUES), options(b"NX", b"XX", b"GET", b"KEEPTTL")).map(
        lambda t: t[0] + t[1]
    ),
    argv(b"SET", KEYS, VALUES, b"EX", SECONDS),
    argv(b"SET", KEYS, VALUES, b"PX", MILLIS),
    argv(b"SETNX", KEYS, VALUES),
    argv(b"SETEX", KEYS, SECONDS, VALUES),
    argv(b"GETSET", KEYS, VALUES),
    argv(b"GETDEL", KEYS),
    argv(b"GETEX", KEYS, st.sampled_from([b"PERSIST", b"EX", b"NX"])),
    argv(b"GETEX", KEYS, b"EX", SECONDS),
    argv(b"APPEND", KEYS, VALUES),
    argv(b"STRLEN", KEYS),
    argv(st.sampled_from([b"INCR", b"DECR"]), KEYS),
    argv(st.sampled_from([b"INCRBY", b"DECRBY"]), KEYS, INTS),
    argv(b"INCRBYFLOAT", KEYS, FLOATS),
    argv(b"GETRANGE", KEYS, INTS, INTS),
    argv(b"SETRANGE", KEYS, st.sampled_from([b"0", b"3", b"-1"]), VALUES),
    argv(b"MGET", KEYS, KEYS),
    argv(b"MSET", KEYS, VALUES, KEYS, VALUES),
    argv(b"MSETNX", KEYS, VALUES, KEYS, VALUES),
    argv(b"LCS", KEYS, KEYS),
)

GENERIC = st.one_of(
    argv(b"DEL", KEYS, KEYS),
    argv(b"UNLINK", KEYS),
    argv(b"EXISTS", KEYS, KEYS),
    argv(b"TOUCH", KEYS),
    argv(b"TYPE", KEYS),
    argv(b"RENAME", KEYS, KEYS),
    argv(b"RENAMENX", KEYS, KEYS),
    st.tuples(argv(b"COPY", KEYS, KEYS), options(b"REPLACE", b"FOO")).map(lambda t: t[0] + t[1]),
    argv(b"COPY", KEYS, KEYS, b"DB", st.sampled_from([b"0", b"1", b"16"])),
    st.tuples(
        st.one_of(argv(b"EXPIRE", KEYS, SECONDS), argv(b"PEXPIRE", KEYS, MILLIS)),
        options(b"NX", b"XX", b"GT", b"LT"),
    ).map(lambda t: t[0] + t[1]),
    argv(b"PERSIST", KEYS),
    argv(b"TTL", KEYS),
    argv(b"EXPIRETIME", KEYS),
    argv(b"KEYS", st.sampled_from([b"*", b"[ab]", b"?", b"c*", b"[^a]"])),
    argv(b"SCAN", b"0", b"COUNT", b"1000"),
    argv(b"OBJECT", b"ENCODING", KEYS),
    argv(b"DBSIZE"),
)


FIELDS = st.sampled_from([b"f", b"g", b"h"])
MEMBERS = st.sampled_from([b"m", b"n", b"1", b"2"])
SCORES = st.sampled_from([b"1", b"2.5", b"-1", b"+inf", b"0", b"x"])
INDEXES = st.sampled_from([b"0", b"1", b"-1", b"2", b"-3", b"x"])

#: the data types (random-choice commands such as SPOP/HRANDFIELD are left out: they would
#: legitimately differ); WRONGTYPE comes from the same three keys holding any type
TYPED = st.one_of(
    argv(b"HSET", KEYS, FIELDS, VALUES),
    argv(b"HSETNX", KEYS, FIELDS, VALUES),
    argv(b"HGET", KEYS, FIELDS),
    argv(b"HDEL", KEYS, FIELDS, FIELDS),
    argv(b"HINCRBY", KEYS, FIELDS, INTS),
    argv(b"HINCRBYFLOAT", KEYS, FIELDS, FLOATS),
    argv(st.sampled_from([b"HGETALL", b"HKEYS", b"HVALS", b"HLEN"]), KEYS),
    argv(b"HMGET", KEYS, FIELDS, FIELDS),
    argv(st.sampled_from([b"LPUSH", b"RPUSH", b"LPUSHX", b"RPUSHX"]), KEYS, VALUES, VALUES),
    argv(st.sampled_from([b"LPOP", b"RPOP"]), KEYS),
    argv(b"LPOP", KEYS, st.sampled_from([b"1", b"2", b"0"])),
    argv(b"LRANGE", KEYS, INDEXES, INDEXES),
    argv(b"LINDEX", KEYS, INDEXES),
    argv(b"LSET", KEYS, INDEXES, VALUES),
    argv(b"LREM", KEYS, INDEXES, VALUES),
    argv(b"LTRIM", KEYS, INDEXES, INDEXES),
    argv(b"LINSERT", KEYS, st.sampled_from([b"BEFORE", b"AFTER"]), VALUES, VALUES),
    argv(b"LMOVE", KEYS, KEYS, st.sampled_from([b"LEFT", b"RIGHT"]),
         st.sampled_from([b"LEFT", b"RIGHT"])),
    argv(b"LLEN", KEYS),
    argv(b"SADD", KEYS, MEMBERS, MEMBERS),
    argv(b"SREM", KEYS, MEMBERS),
    argv(st.sampled_from([b"SMEMBERS", b"SCARD"]), KEYS),
    argv(b"SISMEMBER", KEYS, MEMBERS),
    argv(b"SMOVE", KEYS, KEYS, MEMBERS),
    argv(st.sampled_from([b"SINTER", b"SUNION", b"SDIFF"]), KEYS, KEYS),
    argv(st.sampled_from([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), KEYS, KEYS, KEYS),
    argv(b"ZADD", KEYS, SCORES, MEMBERS),
    argv(b"ZADD", KEYS, st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH"]), SCORES, MEMBERS),
    argv(b"ZINCRBY", KEYS, SCORES, MEMBERS),
    argv(b"ZREM", KEYS, MEMBERS),
    argv(b"ZSCORE", KEYS, MEMBERS),
    argv(b"ZRANK", KEYS, MEMBERS),
    argv(b"ZRANGE", KEYS, INDEXES, INDEXES, b"WITHSCORES"),
    argv(b"ZRANGE", KEYS, b"-inf", b"+inf", b"BYSCORE"),
    argv(st.sampled_from([b"ZPOPMIN", b"ZPOPMAX"]), KEYS),
    argv(b"ZCARD", KEYS),
    argv(st.sampled_from([b"ZUNIONSTORE", b"ZINTERSTORE"]), KEYS, b"2", KEYS, KEYS),
)


class Differential(RuleBasedStateMachine):
    """One pair of connections; both servers flushed before each example."""

    reference: Target
    respdyn: Target
    protocol: int
    known: frozenset[str]

    def __init__(self) -> None:
        super().__init__()
        flushall(self.reference, self.respdyn)
        self.pair = Pair(self.reference, self.respdyn, self.protocol, self.known)

    def send(self, command: list[bytes], record: bool = True) -> tuple[Any, Any]:
        ours = self.pair.send(command, where=f"(RESP{self.protocol})", record=record)
        assert not self.pair.failures, self.pair.failures[0]
        return ours

    @rule(command=STRINGS)
    def string_command(self, command: list[bytes]) -> None:
        self.send(command)

    @rule(command=GENERIC)
    def generic_command(self, command: list[bytes]) -> None:
        self.send(command)

    @rule(command=TYPED)
    def typed_command(self, command: list[bytes]) -> None:
        self.send(command)

    @rule(commands=st.lists(st.one_of(STRINGS, TYPED), min_size=1, max_size=3))
    def transaction(self, commands: list[list[bytes]]) -> None:
        """MULTI, the commands (QUEUED or an error that aborts EXEC), EXEC."""
        self.send([b"MULTI"])
        for command in commands:
            self.send(command)
        self.send([b"EXEC"])

    @rule(db=st.sampled_from([b"0", b"1"]))
    def select(self, db: bytes) -> None:
        self.send([b"SELECT", db])

    @invariant()
    def same_keyspace(self) -> None:
        self.send([b"DBSIZE"], record=False)
        self.send([b"KEYS", b"*"], record=False)

    def teardown(self) -> None:
        self.pair.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_random_sequences(
    protocol: int, redis_target: Target, respdyn_target: Target,
    redis_commands: dict[str, Any], respdyn_commands: dict[str, Any],
) -> None:
    machine = type(
        f"Differential{protocol}", (Differential,),
        {"reference": redis_target, "respdyn": respdyn_target, "protocol": protocol,
         "known": frozenset(redis_commands) | frozenset(respdyn_commands)},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=50, stateful_step_count=25, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
