"""Two single nodes standing for the two sides of a partition, for tests that build concurrent
siblings from real commands: a key is replicated from side A to side B (`sync`), each side
takes writes alone, then `heal` puts both versions of the key as siblings of one record on
both sides, the shape a replica holds after concurrent writes, and `Keyspace.resolve` merges
them on the next read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from respdyn import node
from respdyn.config import ServerConfig
from respdyn.keyspace import layout
from respdyn.keyspace.record import Record, encode
from tests.commands.conftest import Caller


class Sides:
    def __init__(self, root: Path) -> None:
        self.engines = []
        self.callers = []
        for name in ("n1", "n2"):
            config = ServerConfig(data_dir=str(root / name), fsync="no", node_id=name)
            engine = node.open_engine(config)
            ctx = node.build_context(config, engine)
            self.engines.append(engine)
            self.callers.append(Caller(ctx, ctx.sessions.open(addr=f"127.0.0.1:{name}")))
        self.a, self.b = self.callers

    def _raw(self, side: Caller, key: str) -> Record | None:
        return side.ctx.keyspace.store.read(layout.data_key(0, key.encode()))

    def _write(self, side: Caller, key: str, record: Record) -> None:
        side.ctx.keyspace.store.engine.put(layout.data_key(0, key.encode()), encode(record))

    def sync(self, key: str) -> None:
        """Replicate A's version of `key` to B (before the partition)."""
        record = self._raw(self.a, key)
        assert record is not None
        self._write(self.b, key, record)

    def heal(self, key: str) -> None:
        """Both sides now hold both versions as siblings."""
        siblings = [s for side in self.callers if (r := self._raw(side, key))
                    for s in r.siblings]
        for side in self.callers:
            self._write(side, key, Record(siblings))

    def both(self, *argv: Any) -> tuple[Any, Any]:
        return self.a(*argv), self.b(*argv)

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
