"""Drive the command layer directly: real storage engine on a temp dir, real keyspace, real
dispatcher, no sockets. Replies are the handler values (reply markers), before encoding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from respdyn import node
from respdyn.commands.context import Context
from respdyn.config import ServerConfig
from respdyn.session import Session


class Caller:
    """One client session against one node's dispatcher."""

    def __init__(self, ctx: Context, session: Session) -> None:
        self.ctx = ctx
        self.session = session
        self.dispatch = node.build_dispatcher(ctx)

    def __call__(self, *argv: bytes | str | int) -> Any:
        args = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
        return self.dispatch.execute(self.session, args)

    def other(self) -> Caller:
        """A second client of the same node."""
        return Caller(self.ctx, self.ctx.sessions.open(addr="127.0.0.1:2"))


@pytest.fixture
def ctx(tmp_path) -> Iterator[Context]:
    config = ServerConfig(data_dir=str(tmp_path / "data"), fsync="no")
    engine = node.open_engine(config)
    context = node.build_context(config, engine)
    try:
        yield context
    finally:
        engine.close()


#: the fake clock's start, unix ms
NOW = 1_700_000_000_000


class Clock:
    """A settable clock swapped into the keyspace: expiry without sleeping."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(ctx: Context) -> Clock:
    fake = Clock(NOW)
    ctx.keyspace.clock = fake
    return fake


@pytest.fixture
def sides(tmp_path) -> Iterator[Any]:
    """Two nodes whose records can be joined into siblings (tests/commands/partition_sides)."""
    from tests.commands.partition_sides import Sides  # it imports Caller from here

    s = Sides(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def call(ctx: Context) -> Caller:
    return Caller(ctx, ctx.sessions.open(addr="127.0.0.1:1"))
