"""redis-cli, unchanged, against a real respdyn process: command output, --raw, --pipe, -r."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("redis-cli") is None, reason="redis-cli missing: scripts/install-redis"
)


def cli(node, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["redis-cli", "-h", node.host, "-p", str(node.port), *args],
        input=stdin, capture_output=True, timeout=30, check=True,
    )
    return proc.stdout.decode()


def test_interactive_style_output(node):
    cli(node, "flushall")
    assert cli(node, "set", "name", "respdyn") == "OK\n"
    assert cli(node, "get", "name") == "respdyn\n"
    assert cli(node, "get", "missing") == "\n"  # nil prints as an empty line when not a tty
    assert cli(node, "incr", "n") == "1\n"
    assert cli(node, "--raw", "mget", "name", "n") == "respdyn\n1\n"


def test_errors_print_like_redis(node):
    assert cli(node, "nosuch").startswith("ERR unknown command 'nosuch'")
    assert cli(node, "get").startswith("ERR wrong number of arguments for 'get' command")


def test_pipe_mass_insertion(node):
    cli(node, "flushall")
    n = 5000
    lines = "".join(f"SET pipe:{i} value{i}\r\n" for i in range(n)).encode()
    out = cli(node, "--pipe", stdin=lines)
    assert f"errors: 0, replies: {n}" in out
    assert cli(node, "get", f"pipe:{n - 1}") == f"value{n - 1}\n"
    assert cli(node, "dbsize") == f"{n}\n"


def test_repeat_and_scan(node):
    cli(node, "flushall")
    assert cli(node, "-r", "5", "incr", "rep") == "1\n2\n3\n4\n5\n"
    cli(node, "mset", "s:1", "a", "s:2", "b", "t:1", "c")
    assert sorted(cli(node, "--scan", "--pattern", "s:*").split()) == ["s:1", "s:2"]
