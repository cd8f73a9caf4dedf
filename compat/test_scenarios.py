"""The hand-written scenarios of compat/scenarios/*.txt, each sent through raw sockets to the
reference redis-server and to respdyn, in RESP2 and RESP3; every reply compared byte for byte
(or in the normal form compat/differences.py declares for that command)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from compat import differences
from compat.compare import Pair, command_key
from compat.resp import RawConnection
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
