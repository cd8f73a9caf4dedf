"""Node settings: one dataclass, documented where declared, filled from (lowest first) defaults,
a config file, `RESPDYN_*` environment variables and command-line options.

The config file uses redis.conf's syntax (`name value` per line, `#` comments) and Redis' names
where Redis has the setting, so an operator's habits carry over. CONFIG GET/SET use the same
names; `Setting.runtime` says which may change while the node runs.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _setting(default: Any, name: str, runtime: bool = False, **kw: Any) -> Any:
    return field(default=default, metadata={"redis": name, "runtime": runtime}, **kw)


@dataclass
class ServerConfig:
    #: address the client listener binds (Redis: bind); loopback by default, as Redis' default
    host: str = _setting("127.0.0.1", "bind")
    #: client port (Redis' default 6379)
    port: int = _setting(6379, "port")
    #: directory of the storage engine's files
    data_dir: str = _setting("./data", "dir")
    #: WAL fsync policy, Redis' appendfsync names: always | everysec | no
    fsync: str = _setting("everysec", "appendfsync")
    #: password of the default user; empty = no authentication
    requirepass: str = _setting("", "requirepass", runtime=True)
    #: connected clients at most; more are refused with Redis' error
    maxclients: int = _setting(10000, "maxclients", runtime=True)
    #: number of logical databases (SELECT 0..databases-1); fixed at 16 by the key layout
    databases: int = _setting(16, "databases")
    #: close clients idle this many seconds (0 = never), Redis' `timeout`
    timeout: int = _setting(0, "timeout", runtime=True)
    #: largest bulk string accepted from a client, bytes (Redis: 512 MB)
    proto_max_bulk_len: int = _setting(512 * 1024 * 1024, "proto-max-bulk-len")
    #: unparsed input buffered per client at most, bytes (Redis: 1 GB)
    client_query_buffer_limit: int = _setting(1024 * 1024 * 1024, "client-query-buffer-limit")
    #: pending output per client before the server stops reading that client's input, bytes
    output_buffer_soft_limit: int = _setting(8 * 1024 * 1024, "client-output-buffer-soft-limit")
    #: background task frequency (active expiry cycles per second), Redis' `hz`
    hz: int = _setting(10, "hz", runtime=True)
    #: memtable size of the storage engine, bytes
    memtable_bytes: int = _setting(4 * 1024 * 1024, "memtable-bytes")
    #: block cache of the storage engine, bytes
    block_cache_bytes: int = _setting(32 * 1024 * 1024, "block-cache-bytes")
    #: this node's id in the cluster (default: host:port)
    node_id: str = _setting("", "node-id")
    #: log level: debug | info | warning
    loglevel: str = _setting("info", "loglevel", runtime=True)

    @property
    def effective_node_id(self) -> str:
        return self.node_id or f"{self.host}:{self.port}"

    # --- CONFIG GET / SET -------------------------------------------------------------------

    @classmethod
    def settings(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    def get_matching(self, pattern: str) -> list[tuple[str, str]]:
        """(redis name, value text) of every setting whose name matches the glob."""
        out = []
        for f in self.settings():
            name = f.metadata["redis"]
            if fnmatch.fnmatchcase(name, pattern.lower()):
                out.append((name, _text(getattr(self, f.name))))
        for name, value in _FIXED.items():
            if fnmatch.fnmatchcase(name, pattern.lower()):
                out.append((name, value))
        return out

    def field_for(self, redis_name: str) -> dataclasses.Field | None:
        for f in self.settings():
            if f.metadata["redis"] == redis_name.lower():
                return f
        return None

    def set_runtime(self, redis_name: str, text: str) -> None:
        """CONFIG SET one setting; raises ValueError with Redis' reason text."""
        f = self.field_for(redis_name)
        if f is None:
            raise ValueError("Unknown option or number of arguments for CONFIG SET")
        if not f.metadata["runtime"]:
            raise ValueError("can't set immutable config")
        setattr(self, f.name, _convert(f, text))


#: settings respdyn does not have but clients ask for (redis-benchmark reads `save` and
#: `appendonly` at start); answered with values true of respdyn's design.
_FIXED = {"save": "", "appendonly": "yes", "maxmemory": "0", "cluster-enabled": "no"}


def _text(value: Any) -> str:
    return str(value)


def _convert(f: dataclasses.Field, text: str) -> Any:
    if f.type in ("int", int):
        try:
            return int(text)
        except ValueError:
            raise ValueError("argument couldn't be parsed into an integer") from None
    if f.name == "fsync" and text not in ("always", "everysec", "no"):
        raise ValueError("argument(s) must be one of the following: always, everysec, no")
    return text


def parse_config_file(path: str | Path) -> dict[str, Any]:
    """redis.conf syntax -> {field name: value}; unknown names are an error (typos matter)."""
    by_redis_name = {f.metadata["redis"]: f for f in ServerConfig.settings()}
    values: dict[str, Any] = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        f = by_redis_name.get(words[0].lower())
        if f is None or len(words) != 2:
            raise ValueError(f"{path}:{lineno}: bad directive {line.strip()!r}")
        values[f.name] = _convert(f, words[1])
    return values
