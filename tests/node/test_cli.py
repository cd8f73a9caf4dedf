"""The command line: --help documents every option; config file < env < flags."""

from __future__ import annotations

import os
import subprocess
import sys

import redis
from harness import free_port, ping, stop, wait_until_serving

from respdyn.config import ServerConfig


def run_cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "respdyn", *args], capture_output=True,
                          timeout=30, check=True)
    return proc.stdout.decode()


def test_help_documents_every_option():
    text = run_cli("serve", "--help")
    for option in ("--host", "--port", "--data-dir", "--fsync", "--requirepass", "--config",
                   "--maxclients", "--timeout"):
        assert option in text
    assert "always" in text and "everysec" in text


def test_config_file_then_env_then_flags(tmp_path):
    port_file, port_env = free_port(), free_port()
    conf = tmp_path / "respdyn.conf"
    conf.write_text(f"# a comment\nport {port_file}\nrequirepass secret\ndir {tmp_path/'d'}\n")
    env = {**os.environ, "RESPDYN_PORT": str(port_env)}
    proc = subprocess.Popen([sys.executable, "-m", "respdyn", "serve", "--config", str(conf)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving_auth(proc, port_env, tmp_path)
        assert not ping("127.0.0.1", port_file)
        c = redis.Redis(port=port_env, password="secret", socket_timeout=10)
        assert c.ping()
        assert c.config_get("requirepass") == {"requirepass": "secret"}
    finally:
        stop(proc)


def wait_until_serving_auth(proc, port, tmp_path):
    """PING answers NOAUTH when a password is set; wait for the port to accept instead."""
    import socket
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("server did not start")


def test_config_file_rejects_unknown_directives(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("portt 1234\n")
    proc = subprocess.run([sys.executable, "-m", "respdyn", "serve", "--config", str(conf)],
                          capture_output=True, timeout=30)
    assert proc.returncode != 0
    assert b"bad directive" in proc.stderr


def test_every_config_field_has_a_cli_or_file_name():
    names = {f.metadata["redis"] for f in ServerConfig.settings()}
    assert {"port", "bind", "dir", "appendfsync", "requirepass"} <= names


def test_sstable_dump_command(tmp_path):
    import storage

    db = storage.open(str(tmp_path / "db"), storage.Options(background_compaction=False))
    db.put(b"alpha", b"one")
    db.flush()
    db.close()
    tables = sorted((tmp_path / "db").glob("*.sst"))
    assert tables, "flush wrote no table"
    out = run_cli("sstable", "dump", str(tables[0]))
    assert "alpha" in out
    assert "one" in out


_ = wait_until_serving  # the plain PING wait is for servers without a password
