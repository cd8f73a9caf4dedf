"""The command table itself: every declaration is complete, docs/commands.md is generated from
the current registry, and arity, flags and key positions equal a real Redis' COMMAND INFO."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest

from respdyn.commands import connection, server
from respdyn.commands.docs import commands_markdown
from respdyn.commands.spec import KNOWN_FLAGS, SUPPORT_LEVELS, CommandSpec
from respdyn.node import build_registry

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = build_registry()


def every_spec() -> list[CommandSpec]:
    out = []
    for spec in REGISTRY:
        out.append(spec)
        out.extend(spec.subcommands.values())
    return out


SPECS = every_spec()
IDS = [spec.name for spec in SPECS]


# --- declarations --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_is_complete(spec):
    assert spec.summary.strip(), "summary missing"
    assert spec.group, "group missing"
    assert spec.flags <= KNOWN_FLAGS
    assert spec.support in SUPPORT_LEVELS
    assert spec.arity != 0
    assert spec.handler is not None or spec.subcommands, "neither a handler nor subcommands"
    if spec.support == "differs":
        assert spec.note.strip(), "support='differs' needs a note saying how"
    if spec.keys.first:
        assert spec.keys.step >= 1
        assert spec.keys.last < 0 or spec.keys.last >= spec.keys.first


@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.subcommands], ids=lambda s: s.name)
def test_subcommands_are_named_after_their_container(spec):
    for sub_name, sub in spec.subcommands.items():
        assert sub.name == f"{spec.name}|{sub_name}"
        assert not sub.subcommands
        assert abs(sub.arity) >= 2, "a subcommand's arity counts the container and its name"


def test_docs_commands_md_is_current():
    committed = (ROOT / "docs" / "commands.md").read_text()
    assert committed == commands_markdown(REGISTRY), (
        "docs/commands.md is out of date: run .venv/bin/python scripts/gen_commands_doc.py"
    )


def test_generator_check_mode_reports_staleness(tmp_path, monkeypatch):
    """`scripts/gen_commands_doc.py --check` (CI's guard) fails on a stale file, passes after
    a regeneration."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_commands_doc.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)  # type: ignore[union-attr]
    monkeypatch.setattr(gen, "TARGET", tmp_path / "commands.md")
    (tmp_path / "commands.md").write_text("stale\n")
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    assert (tmp_path / "commands.md").read_text() == commands_markdown(build_registry())


def test_markdown_lists_every_command_once():
    text = commands_markdown(REGISTRY)
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    labels = [row.split("`")[1] for row in rows]
    assert labels == [spec.name.replace("|", " ").upper() for spec in SPECS]
    plain = [s for s in SPECS if s.handler is not None]
    assert f"**{len(plain)} commands**" in text


# --- against a real redis-server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisInfo:
    """COMMAND INFO from a live redis-server, over a raw socket (no client library quirks)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = hiredis.Reader()

    def call(self, *args: str) -> object:
        frame = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
        self.sock.sendall(frame.encode())
        while (reply := self.reader.gets()) is False:
            self.reader.feed(self.sock.recv(1 << 16))
        return reply

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def redis(tmp_path_factory) -> Iterator[RedisInfo]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = _connect(port, proc)
        yield client
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connect(port: int, proc: subprocess.Popen) -> RedisInfo:
    deadline = time.monotonic() + 10
    while True:
        try:
            client = RedisInfo(port)
            if client.call("PING") == b"PONG":
                return client
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
        time.sleep(0.05)  # waiting for the server process to listen, not for a result


def _table_entry(spec: CommandSpec) -> tuple[int, set[str], tuple[int, int, int]]:
    keys = spec.keys
    return spec.arity, set(spec.flags), (keys.first, keys.last, keys.step)


def _redis_entry(redis: RedisInfo, name: str) -> tuple[int, set[str], tuple[int, int, int]] | None:
    [entry] = redis.call("COMMAND", "INFO", name)  # type: ignore[misc]
    if entry is None:
        return None
    # flags respdyn's spec cannot express (no_async_loading, asking, ...) are left out
    flags = {f.decode() for f in entry[2]} & KNOWN_FLAGS
    return entry[1], flags, (entry[3], entry[4], entry[5])


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_table_matches_redis(redis, spec):
    """Arity, flags and key positions as Redis' COMMAND INFO says, unless declared different."""
    if spec.support != "identical":
        pytest.skip(f"declared {spec.support}: {spec.note}")
    theirs = _redis_entry(redis, spec.name)
    if theirs is None:
        pytest.skip(f"{spec.name} is not a command of this redis-server")
    assert _table_entry(spec) == theirs


OWN = [s for t in (connection.table, server.table) for s in t.specs]
OWN_SPECS = [x for s in OWN for x in (s, *s.subcommands.values())]


@pytest.mark.parametrize("spec", OWN_SPECS, ids=[s.name for s in OWN_SPECS])
def test_connection_and_server_tables_match_redis_even_where_behaviour_differs(redis, spec):
    """The connection/server families differ from Redis in replies only, never in their table."""
    theirs = _redis_entry(redis, spec.name)
    if theirs is None:
        assert spec.since >= "7.2", f"{spec.name}: unknown to Redis 7.0 but not a 7.2 command"
        return
    assert _table_entry(spec) == theirs
