"""The hand-written scenarios of compat/scenarios/*.txt, each sent through raw sockets to the
reference redis-server and to respdyn, in RESP2 and RESP3; every reply compared byte for byte
(or in the normal form compat/differences.py declares for that command)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from compat import differences
from compat.compare import Pair, command_key
from compat.resp import RawConnection, encode_command
from compat.scenario import Scenario, load_all
from compat.targets import Target

SCENARIOS = load_all()


def flushall(*targets: Target) -> None:
    for target in targets:
        conn = RawConnection(target.host, target.port)
        try:
            assert conn.call([b"FLUSHALL"])[1] == b"+OK\r\n"
        finally:
            conn.close()


def run(pair: Pair, scenario: Scenario) -> None:
    for step in scenario.steps:
        where = f"{scenario.family}.txt:{step.line} (RESP{pair.protocol})"
        if step.directive == "conn":
            pair.use(step.argv[0].decode())
        elif step.directive == "sleep":
            time.sleep(float(step.argv[0]))
        elif step.directive == "send":
            pair.send_only(list(step.argv))
        elif step.directive == "read":
            pair.read(where)
        else:
            pair.send(list(step.argv), where=where)


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(
    scenario: Scenario, protocol: int, redis_target: Target, respdyn_target: Target,
    respdyn_commands: dict[str, Any], redis_commands: dict[str, Any],
) -> None:
    if protocol not in scenario.protocols:
        pytest.skip(f"written for RESP{'/'.join(map(str, scenario.protocols))} only")
    missing = [c for c in scenario.requires if c not in respdyn_commands]
    if missing:
        pytest.skip(f"pending: respdyn does not serve {', '.join(missing)} yet")
    flushall(redis_target, respdyn_target)
    pair = Pair(redis_target, respdyn_target, protocol, {**redis_commands, **respdyn_commands})
    try:
        run(pair, scenario)
        assert not pair.failures, "\n".join(pair.failures)
    finally:
        pair.close()


def test_every_served_command_has_a_scenario(
    respdyn_commands: dict[str, Any], redis_commands: dict[str, Any]
) -> None:
    """A command respdyn serves but no scenario sends would be reported without evidence."""
    sent = {
        command_key(list(step.argv), {**redis_commands, **respdyn_commands})
        for scenario in SCENARIOS for step in scenario.steps
        if step.directive in ("", "send")
    }
    served = {
        name for name, doc in respdyn_commands.items()
        if not doc["subcommands"] and name in redis_commands
    }
    missing = served - sent - set(differences.NOT_EXERCISED)
    assert not sorted(missing), "commands without a scenario line"


def test_unsupported_commands_answer_unknown_command(
    redis_target: Target, respdyn_target: Target, redis_commands: dict[str, Any],
    respdyn_commands: dict[str, Any],
) -> None:
    """Every Redis command respdyn lacks gets Redis' own "unknown command" error, so clients
    see a clean error rather than a hang or a protocol error."""
    conn = RawConnection(respdyn_target.host, respdyn_target.port)
    try:
        for name in sorted(redis_commands):
            if "|" in name or name in respdyn_commands:
                continue
            _, raw = conn.call([name.encode(), b"x"])
            expected = f"-ERR unknown command '{name}', with args beginning with: 'x' \r\n"
            assert raw == expected.encode(), name
    finally:
        conn.close()


WALKS = {
    "SCAN": ([b"MSET", *(x for i in range(600) for x in (b"key:%d" % i, b"v"))], [b"SCAN"]),
    "HSCAN": ([b"HSET", b"h", *(x for i in range(300) for x in (b"f%d" % i, b"%d" % i))],
              [b"HSCAN", b"h"]),
    "SSCAN": ([b"SADD", b"s", *(b"m%d" % i for i in range(300))], [b"SSCAN", b"s"]),
    "ZSCAN": ([b"ZADD", b"z", *(x for i in range(300) for x in (b"%d" % i, b"m%d" % i))],
              [b"ZSCAN", b"z"]),
}


def walk(target: Target, command: list[bytes], count: bytes) -> list[bytes]:
    """Every element a full cursor walk returns (duplicates kept: SCAN may repeat some)."""
    conn = RawConnection(target.host, target.port)
    try:
        cursor, seen = b"0", []
        for _ in range(10_000):
            (cursor, batch), _ = conn.call([*command, cursor, b"COUNT", count])
            seen += batch
            if cursor == b"0":
                return seen
        raise AssertionError(f"{command[0]!r} walk did not end")
    finally:
        conn.close()


@pytest.mark.parametrize("name", sorted(WALKS))
def test_cursor_walks_return_the_same_elements(
    name: str, redis_target: Target, respdyn_target: Target, respdyn_commands: dict[str, Any]
) -> None:
    """Batches and cursors differ (differences.py: scan), a complete walk must not: every
    element at least once, nothing else. Small COUNTs exercise many cursor round trips."""
    fill, command = WALKS[name]
    if command[0].decode().lower() not in respdyn_commands:
        pytest.skip(f"pending: respdyn does not serve {name} yet")
    flushall(redis_target, respdyn_target)
    for target in (redis_target, respdyn_target):
        conn = RawConnection(target.host, target.port)
        conn.call(fill)
        conn.close()
    for count in (b"1", b"7", b"100"):
        theirs, ours = walk(redis_target, command, count), walk(respdyn_target, command, count)
        if name in ("HSCAN", "ZSCAN"):  # field/value pairs
            theirs = list(zip(theirs[::2], theirs[1::2], strict=True))
            ours = list(zip(ours[::2], ours[1::2], strict=True))
        assert set(ours) == set(theirs), (name, count)


def pipeline_bytes() -> bytes:
    """One write holding many requests: RESP arrays, inline commands (with redis-cli quoting),
    errors, and commands of every family — what a pipelining client or `nc` sends."""
    requests = [b"PING\r\n", b"SET inline 'quoted value'\r\n", b"GET inline\r\n",
                b'SET esc "a\\x00b\\n"\r\n', b"STRLEN esc\r\n", b"\r\n", b"ECHO\r\n",
                b"NOSUCH arg\r\n"]
    for i in range(300):
        requests.append(encode_command([b"RPUSH", b"list", b"%d" % i]))
        requests.append(encode_command([b"INCRBY", b"counter", b"%d" % i]))
        requests.append(encode_command([b"HSET", b"hash", b"f%d" % (i % 7), b"%d" % i]))
    requests += [encode_command([b"LRANGE", b"list", b"0", b"-1"]),
                 encode_command([b"LINDEX", b"list", b"150"]),
                 encode_command([b"ZADD", b"z", *(x for i in range(200) for x in
                                                  (b"%d" % (i % 13), b"m%03d" % i))]),
                 encode_command([b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"]),
                 encode_command([b"ZADD", b"lex", *(x for i in range(200) for x in
                                                    (b"0", b"m%03d" % (i * 7 % 200)))]),
                 encode_command([b"ZRANGE", b"lex", b"[m050", b"(m100", b"BYLEX"]),
                 encode_command([b"ZRANGE", b"lex", b"(m150", b"-", b"BYLEX", b"REV", b"LIMIT",
                                 b"5", b"10"]),
                 encode_command([b"ZRANGE", b"z", b"5", b"(9", b"BYSCORE", b"LIMIT", b"3", b"20"]),
                 encode_command([b"LINSERT", b"list", b"BEFORE", b"150", b"x"]),
                 encode_command([b"LREM", b"list", b"-2", b"1"]),
                 encode_command([b"LRANGE", b"list", b"140", b"160"]),
                 encode_command([b"SET", b"big", b"v" * 300_000]), encode_command([b"GET", b"big"]),
                 encode_command([b"GET"]), b"DBSIZE\r\n"]
    return b"".join(requests)


def read_all(target: Target, payload: bytes, replies: int) -> bytes:
    conn = RawConnection(target.host, target.port)
    try:
        conn.sock.sendall(payload)
        return b"".join(conn.reader.read()[1] for _ in range(replies))
    finally:
        conn.close()


def test_pipelined_bytes_get_the_same_bytes_back(
    redis_target: Target, respdyn_target: Target, respdyn_commands: dict[str, Any]
) -> None:
    """The whole reply stream of one large pipelined write, byte for byte (lists and sorted
    sets are ordered, so nothing here needs a normal form)."""
    if "zadd" not in respdyn_commands:
        pytest.skip("pending: respdyn does not serve the data types yet")
    flushall(redis_target, respdyn_target)
    payload = pipeline_bytes()
    count = payload.count(b"\r\n*") + 1 + 7  # the RESP arrays + the inline lines
    theirs = read_all(redis_target, payload, count)
    ours = read_all(respdyn_target, payload, count)
    assert ours == theirs
