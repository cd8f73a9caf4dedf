"""The composition root: the one module that knows every layer and wires them together
(storage → store → keyspace → commands → server). Nothing imports this module but the CLI and
tests, so the layers below stay unaware of each other.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import storage
from respdyn.commands import connection, keys, server, strings
from respdyn.commands.context import Context
from respdyn.commands.dispatch import Dispatcher
from respdyn.commands.registry import CommandTable, Registry
from respdyn.config import ServerConfig
from respdyn.keyspace.keyspace import Keyspace, now_ms
from respdyn.keyspace.store import LocalStore, keep_unexpired
from respdyn.session import SessionRegistry

log = logging.getLogger(__name__)

#: the command families a node serves, in the order COMMAND lists them
TABLES: tuple[CommandTable, ...] = (
    connection.table, server.table, strings.table, keys.table,
)


def build_registry() -> Registry:
    return Registry(TABLES)


def open_engine(config: ServerConfig) -> storage.Engine:
    options = storage.Options(
        fsync=config.fsync,
        memtable_bytes=config.memtable_bytes,
        block_cache_bytes=config.block_cache_bytes,
        compaction_filter=keep_unexpired(now_ms),
    )
    os.makedirs(config.data_dir, exist_ok=True)
    return storage.open(config.data_dir, options)


def build_context(
    config: ServerConfig,
    engine: storage.Engine,
    offload: Callable[..., Any] | None = None,
) -> Context:
    """Everything below the server, for one node. Tests call this to drive commands directly."""
    store = LocalStore(engine, offload) if offload else LocalStore(engine)
    keyspace = Keyspace(store, node_id=config.effective_node_id.encode())
    return Context(
        keyspace=keyspace,
        config=config,
        registry=build_registry(),
        sessions=SessionRegistry(config.maxclients),
    )


def build_dispatcher(ctx: Context) -> Dispatcher:
    return Dispatcher(ctx)
