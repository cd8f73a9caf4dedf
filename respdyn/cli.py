"""The `respdyn` command line. Every `serve` option can also come from a redis.conf-style file
(`--config`) or a `RESPDYN_<OPTION>` environment variable; the command line wins, then the
environment, then the file, then the defaults."""

from __future__ import annotations

import logging
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
@click.option("--node-id", default="", help="Node id in the cluster (default host:port).")
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning"]), help="Log verbosity.")
def serve(**options: Any) -> None:
    """Run a respdyn node in the foreground until SHUTDOWN, SIGTERM or Ctrl-C."""
    config = ServerConfig(**options)
    logging.basicConfig(
        level=config.loglevel.upper(),
        format="%(asctime)s %(process)d %(levelname).1s %(name)s: %(message)s",
    )
    from respdyn.node import Node  # gevent starts here, not when `--help` is shown

    Node(config).run()


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
