"""The `respdyn` command line. Every `serve` option can also come from a redis.conf-style file
(`--config`) or a `RESPDYN_<OPTION>` environment variable; the command line wins, then the
environment, then the file, then the defaults."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from respdyn.config import ServerConfig, parse_config_file

CONTEXT = {"auto_envvar_prefix": "RESPDYN", "help_option_names": ["-h", "--help"]}


def _load_config_file(ctx: click.Context, _param: click.Parameter, path: str | None) -> None:
    """Turn the file's directives into click defaults, so env vars and flags still win."""
    if path:
        try:
            values = parse_config_file(path)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc)) from None
        ctx.default_map = {**(ctx.default_map or {}), **values}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="respdyn")
def main() -> None:
    """respdyn: a Redis-protocol server backed by a Dynamo-style replicated store."""


@main.command(context_settings=CONTEXT)
@click.option(
    "--config", type=click.Path(exists=True, dir_okay=False), is_eager=True,
    expose_value=False, callback=_load_config_file,
    help="redis.conf-style file of settings (e.g. 'port 6380'); flags and env vars win.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=6379, show_default=True, type=int, help="Client port.")
@click.option(
    "--data-dir", default="./data", show_default=True, type=click.Path(file_okay=False),
    help="Directory of the storage engine's files (created if missing).",
)
@click.option(
    "--fsync", default="everysec", show_default=True,
    type=click.Choice(["always", "everysec", "no"]),
    help="WAL fsync policy (Redis' appendfsync): always = before each reply, "
    "everysec = once a second, no = leave it to the OS.",
)
@click.option("--requirepass", default="", help="Password clients must AUTH with.")
@click.option("--maxclients", default=10000, show_default=True, type=int,
              help="Connected clients at most.")
@click.option("--timeout", default=0, show_default=True, type=int,
              help="Close clients idle this many seconds (0 = never).")
@click.option("--memtable-bytes", default=4 * 1024 * 1024, show_default=True, type=int,
              help="Storage memtable size before it is flushed to an SSTable.")
@click.option("--block-cache-bytes", default=32 * 1024 * 1024, show_default=True, type=int,
              help="Storage block cache size.")
@click.option("--row-cache-bytes", default=16 * 1024 * 1024, show_default=True, type=int,
              help="Storage row cache size (values of keys read from SSTables; 0 = off).")
@click.option("--node-id", default="", help="Node id in the cluster (default host:port).")
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning"]), help="Log verbosity.")
@click.option("--cluster-port", default=0, type=int,
              help="Inter-node port (default: client port + 10000). Turns the cluster on.")
@click.option("--cluster-host", default="",
              help="Address the inter-node listener binds (default: --host).")
@click.option("--cluster-name", default="respdyn", show_default=True,
              help="Name of the cluster: nodes refuse peers that give another.")
@click.option("--cluster-secret", default="",
              help="Shared secret members prove on connect (HMAC); without one the "
              "inter-node port must be on loopback. Prefer RESPDYN_CLUSTER_SECRET or a file.")
@click.option("--cluster-secret-file", default=None, type=click.Path(dir_okay=False),
              help="Read the cluster secret from this file (trailing newline dropped).")
@click.option("--seeds", default="",
              help="Comma-separated [node_id@]host:port cluster addresses of other members.")
@click.option("--n", "n", default=3, show_default=True, type=int, help="Replicas per key (N).")
@click.option("--r", "r", default=2, show_default=True, type=int,
              help="Replies a read waits for (R).")
@click.option("--w", "w", default=2, show_default=True, type=int,
              help="Acknowledgements a write waits for (W).")
@click.option("--partitions", default=64, show_default=True, type=int,
              help="Ring partitions (power of two dividing 16384).")
@click.option("--cluster-timeout-ms", default=1000, show_default=True, type=int,
              help="Longest quorum wait before NOQUORUM, ms.")
@click.option("--conflict-policy", default="siblings", show_default=True,
              type=click.Choice(["siblings", "lww"]),
              help="Concurrent writes: keep siblings, or the newest (last write wins).")
@click.option("--enable-debug-commands", is_flag=True, default=False,
              help="Allow DYNAMO DEBUG (test-only partition switch).")
@click.option("--debug-clock-skew-file", default="", type=click.Path(dir_okay=False),
              help="Test only, needs --enable-debug-commands: skew this node's time of day "
              "by the milliseconds in this file (re-read every 0.2 s).")
@click.option("--gossip-interval-ms", default=1000, show_default=True, type=int,
              help="Milliseconds between gossip rounds.")
@click.option("--phi-threshold", default=8.0, show_default=True, type=float,
              help="Phi at or above which a silent peer is down.")
@click.option("--hint-max-age-ms", default=3 * 3600 * 1000, show_default=True, type=int,
              help="Hints older than this are dropped (anti-entropy repairs instead).")
@click.option("--hint-budget-bytes", default=64 * 1024 * 1024, show_default=True, type=int,
              help="Bytes of hints kept per down node at most.")
@click.option("--hint-rate", default=2000, show_default=True, type=int,
              help="Hinted keys per second delivered to a returning node.")
@click.option("--tombstone-grace-ms", default=10 * 86400 * 1000, show_default=True, type=int,
              help="Deletions are purged after this; repair nodes down longer before use.")
@click.option("--aae-interval-ms", default=10000, show_default=True, type=int,
              help="Milliseconds between anti-entropy exchanges (Merkle trees); 0 = off.")
def serve(**options: Any) -> None:
    """Run a respdyn node in the foreground until SHUTDOWN, SIGTERM or Ctrl-C."""
    secret_file = options.pop("cluster_secret_file")
    if secret_file:
        options["cluster_secret"] = _read_secret(secret_file)
    config = ServerConfig(**options)
    if config.clustered:
        try:
            config.check_cluster()
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    logging.basicConfig(
        level=config.loglevel.upper(),
        format="%(asctime)s %(process)d %(levelname).1s %(name)s: %(message)s",
    )
    from respdyn.node import Node  # gevent starts here, not when `--help` is shown

    Node(config).run()


def _read_secret(path: str) -> str:
    """A secret from a file (kept out of `ps` and shell history); empty files are refused."""
    try:
        secret = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read the cluster secret: {exc}") from None
    if not secret:
        raise click.BadParameter(f"{path} is empty (no cluster secret)")
    return secret


@main.group(context_settings=CONTEXT)
def sstable() -> None:
    """Inspect the storage engine's files."""


@sstable.command("dump")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def sstable_dump(path: str) -> None:
    """Print the properties and every record of one SSTable."""
    import sys

    from storage.dump import dump_table

    dump_table(path, sys.stdout)


@main.command(context_settings=CONTEXT)
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 64),
              help="How many nodes to start.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of every node.")
@click.option("--base-port", default=7001, show_default=True, type=int,
              help="Client port of node1; nodeK gets base-port + K - 1 (cluster port +10000).")
@click.option("--data-root", default="./data", show_default=True,
              type=click.Path(file_okay=False), help="Node K keeps its data in DATA_ROOT/nodeK.")
@click.argument("serve_args", nargs=-1, type=click.UNPROCESSED)
def cluster(nodes: int, host: str, base_port: int, data_root: str, serve_args: tuple) -> None:
    """Start a local cluster of NODES node processes; stop them all on Ctrl-C or SIGTERM.

    Extra arguments after `--` go to every `respdyn serve` (e.g. `-- --n 3 --r 2 --w 2`).
    """
    raise SystemExit(_run_local_cluster(nodes, host, base_port, data_root, list(serve_args)))


def _run_local_cluster(
    nodes: int, host: str, base_port: int, data_root: str, extra: list[str]
) -> int:
    """Start the node subprocesses, print their addresses, forward SIGINT/SIGTERM to them."""
    import os
    import signal
    import subprocess
    import sys

    ports = [base_port + k for k in range(nodes)]
    seeds = ",".join(f"node{k + 1}@{host}:{p + 10000}" for k, p in enumerate(ports))
    procs: list[subprocess.Popen] = []
    stopping = []

    def stop(_sig: int = 0, _frame: Any = None) -> None:
        stopping.append(True)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for k, port in enumerate(ports, 1):
        data_dir = os.path.join(data_root, f"node{k}")
        argv = [sys.executable, "-m", "respdyn", "serve", "--host", host, "--port", str(port),
                "--cluster-port", str(port + 10000), "--node-id", f"node{k}",
                "--seeds", seeds, "--data-dir", data_dir, *extra]
        procs.append(subprocess.Popen(argv, start_new_session=True))
        click.echo(f"node{k}: redis-cli -h {host} -p {port}   (cluster port {port + 10000}, "
                   f"data {data_dir}, pid {procs[-1].pid})")
    click.echo("Ctrl-C stops every node.")
    codes = []
    for proc in procs:
        while True:
            try:
                codes.append(proc.wait())
                break
            except KeyboardInterrupt:
                stop()
        if not stopping:
            stop()  # one node ended on its own: take the others down too
    return max(codes, default=0)
