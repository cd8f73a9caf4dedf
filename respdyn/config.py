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
from collections.abc import Callable
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
    #: row cache of the storage engine (newest values of keys read from SSTables), bytes
    row_cache_bytes: int = _setting(16 * 1024 * 1024, "row-cache-bytes")
    #: this node's id in the cluster (default: host:port)
    node_id: str = _setting("", "node-id")
    #: log level: debug | info | warning
    loglevel: str = _setting("info", "loglevel", runtime=True)

    # --- the Dynamo cluster (docs/cluster-protocol.md); any of seeds / cluster_port / node_id
    # --- turns it on, otherwise the node runs alone on its local store
    #: inter-node port; 0 = client port + 10000 (Redis Cluster's bus offset)
    cluster_port: int = _setting(0, "cluster-port")
    #: address the inter-node listener binds; empty = the client `host` (loopback by default)
    cluster_host: str = _setting("", "cluster-bind")
    #: nodes only talk to nodes of the same cluster name (a HELLO naming another is refused)
    cluster_name: str = _setting("respdyn", "cluster-name")
    #: shared secret members prove on connect (HMAC); empty = inter-node port on loopback only
    cluster_secret: str = _setting("", "cluster-secret")
    #: comma-separated `[node_id@]host:port` cluster addresses of the other members
    seeds: str = _setting("", "seeds")
    #: replicas per key (Dynamo's N)
    n: int = _setting(3, "dynamo-n")
    #: replies a read waits for (R), the cluster default; CONSISTENCY overrides per client
    r: int = _setting(2, "dynamo-r")
    #: acknowledgements a write waits for (W), the cluster default
    w: int = _setting(2, "dynamo-w")
    #: ring partitions (a power of two dividing 16384; Riak's default 64)
    partitions: int = _setting(64, "dynamo-partitions")
    #: longest quorum wait, ms: fewer than R/W answers by then is NOQUORUM
    cluster_timeout_ms: int = _setting(1000, "dynamo-timeout")
    #: concurrent writes: "siblings" keeps them all, "lww" keeps the newest at write time
    conflict_policy: str = _setting("siblings", "conflict-policy")
    #: DYNAMO DEBUG (the partition switch for tests); never on in production
    enable_debug_commands: bool = _setting(False, "enable-debug-commands")
    #: test only (with enable_debug_commands): a file holding a clock offset in ms (clock.py)
    debug_clock_skew_file: str = _setting("", "debug-clock-skew-file")
    #: ms between gossip rounds (one random peer per round, as Cassandra)
    gossip_interval_ms: int = _setting(1000, "gossip-interval")
    #: phi at or above which a silent peer is considered down (Cassandra's default 8)
    phi_threshold: float = _setting(8.0, "phi-convict-threshold")
    #: hints older than this are dropped, not delivered (Cassandra's max_hint_window: 3 h)
    hint_max_age_ms: int = _setting(3 * 3600 * 1000, "hint-max-age")
    #: bytes of hints kept per down node at most; beyond it a hint is refused
    hint_budget_bytes: int = _setting(64 * 1024 * 1024, "hint-budget")
    #: hinted keys delivered per second to a returning node at most
    hint_rate: int = _setting(2000, "hint-rate")
    #: ms after which a deletion (tombstone) is purged (Cassandra's gc_grace_seconds: 10 days)
    tombstone_grace_ms: int = _setting(10 * 86400 * 1000, "tombstone-grace")
    #: ms between background anti-entropy exchanges (one partition with one peer); 0 = off
    aae_interval_ms: int = _setting(10000, "aae-interval", runtime=True)

    def __post_init__(self) -> None:
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after every CONFIG SET, so running parts pick up the change."""
        self._watchers.append(callback)

    @property
    def effective_node_id(self) -> str:
        return self.node_id or f"{self.host}:{self.port}"

    @property
    def clustered(self) -> bool:
        """Run the Dynamo stack (any cluster option given) rather than the local store."""
        return bool(self.seeds or self.cluster_port or self.node_id)

    @property
    def effective_cluster_port(self) -> int:
        return self.cluster_port or self.port + 10000

    def seed_list(self) -> list[str]:
        return [s.strip() for s in self.seeds.split(",") if s.strip()]

    def check_cluster(self) -> None:
        """Refuse settings that cannot work (ValueError with the reason)."""
        if not (1 <= self.r <= self.n and 1 <= self.w <= self.n):
            raise ValueError(f"need 1 <= r <= n and 1 <= w <= n (n={self.n} r={self.r} w={self.w})")
        if self.conflict_policy not in ("siblings", "lww"):
            raise ValueError("conflict-policy must be siblings or lww")
        self._check_cluster_auth()

    def _check_cluster_auth(self) -> None:
        """Without a secret, anyone reaching the inter-node port could act as a member."""
        from respdyn.cluster.handshake import is_loopback

        host = self.cluster_host or self.host
        if not self.cluster_secret and not is_loopback(host):
            raise ValueError(
                f"the inter-node port would listen on {host}, which is not loopback, without "
                "a cluster secret: set --cluster-secret (or RESPDYN_CLUSTER_SECRET, "
                "--cluster-secret-file), or bind --cluster-host 127.0.0.1")
        if not self.cluster_name:
            raise ValueError("cluster-name must not be empty")

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
                value = getattr(self, f.name)
                if f.name in _HIDDEN and value:
                    value = "(hidden)"  # clients of the client port must not learn it
                out.append((name, _text(value)))
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
        for callback in self._watchers:
            callback()


#: settings respdyn does not have but clients ask for (redis-benchmark reads `save` and
#: `appendonly` at start); answered with values true of respdyn's design.
_FIXED = {"save": "", "appendonly": "yes", "maxmemory": "0", "cluster-enabled": "no"}
#: settings CONFIG GET does not reveal
_HIDDEN = frozenset({"cluster_secret"})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _convert(f: dataclasses.Field, text: str) -> Any:
    if f.type in ("bool", bool):
        if text.lower() not in ("yes", "no"):
            raise ValueError("argument must be 'yes' or 'no'")
        return text.lower() == "yes"
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
