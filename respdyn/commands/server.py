"""Server commands (Redis' `server` group): COMMAND and its subcommands, CONFIG, INFO, DBSIZE,
FLUSHDB/FLUSHALL, TIME, LASTSAVE, SAVE/BGSAVE, SHUTDOWN and DEBUG.

COMMAND's replies are generated from the registry by `docs.py`; INFO's sections are built from
the counters in `ctx.stats`, the sessions, the keyspace and the sections other layers put in
`ctx.info_sections`.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent

import respdyn
from respdyn import errors
from respdyn.commands import docs, glob
from respdyn.commands.args import to_float
from respdyn.commands.context import Context
from respdyn.commands.registry import CommandTable
from respdyn.commands.spec import CommandSpec
from respdyn.protocol.reply import NO_REPLY, OK, Map, Status, Verbatim
from respdyn.session import Session

table = CommandTable("server")

#: this process' identity in INFO (Redis: a random run id per process)
RUN_ID = os.urandom(20).hex()

_CMD = "loading stale"
_ADMIN = "admin noscript loading stale"


# --- COMMAND -----------------------------------------------------------------------------------


def command_all(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Bare COMMAND: every command's info entry."""
    return [docs.command_info(spec) for spec in ctx.registry]


table.container(
    "command",
    arity=-1,
    flags=_CMD,
    handler=command_all,
    summary="Returns detailed information about all commands.",
    since="2.8.13",
    support="differs",
    note="as COMMAND INFO: no command tips; key specs derived from the legacy key positions",
)


@table.command("command|count", 2, _CMD, summary="Returns a count of commands.", since="2.8.13")
def command_count(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return len(ctx.registry)


@table.command(
    "command|info",
    -2,
    _CMD,
    summary="Returns information about one, multiple or all commands.",
    since="2.8.13",
    arguments=(("command-name", "string", "optional multiple"),),
    support="differs",
    note=(
        "no command tips; "
        "key specs derived from the legacy key positions; ACL categories derived from flags"
    ),
)
def command_info(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Unknown names answer a null entry, as Redis does; no names means every command."""
    if not args:
        return command_all(ctx, session, args)
    specs = (docs.lookup_full_name(ctx.registry, name) for name in args)
    return [None if spec is None else docs.command_info(spec) for spec in specs]


@table.command(
    "command|docs",
    -2,
    _CMD,
    summary="Returns documentary information about one, multiple or all commands.",
    since="7.0.0",
    arguments=(("command-name", "string", "optional multiple"),),
    support="differs",
    note="respdyn's own summaries; no history or nested argument blocks",
)
def command_docs(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """A map name -> docs; unknown names are left out (Redis does the same)."""
    if not args:
        specs = list(ctx.registry)
    else:
        found = (docs.lookup_full_name(ctx.registry, name) for name in args)
        specs = [spec for spec in found if spec is not None]
    return Map([(spec.name.encode(), docs.command_doc(spec)) for spec in specs])


Filter = Callable[[CommandSpec], bool]


def _by_pattern(value: bytes) -> Filter:
    return lambda spec: glob.match(value, spec.name.encode(), nocase=True)


def _by_aclcat(value: bytes) -> Filter:
    category = "@" + value.decode("latin-1").lower()
    return lambda spec: category in spec.acl_categories()


def _by_module(value: bytes) -> Filter:
    return lambda spec: False  # respdyn has no modules


#: COMMAND LIST FILTERBY (MODULE name | ACLCAT category | PATTERN glob)
_FILTERS: dict[bytes, Callable[[bytes], Filter]] = {
    b"pattern": _by_pattern,
    b"aclcat": _by_aclcat,
    b"module": _by_module,
}


@table.command(
    "command|list",
    -2,
    _CMD,
    summary="Returns a list of command names.",
    since="7.0.0",
    arguments=(("FILTERBY", "pure-token", "optional"),),
)
def command_list(ctx: Context, session: Session, args: list[bytes]) -> Any:
    keep: Filter = lambda spec: True  # noqa: E731
    if args:
        if len(args) != 3 or args[0].lower() != b"filterby":
            raise errors.syntax_error()
        make = _FILTERS.get(args[1].lower())
        if make is None:
            raise errors.syntax_error()
        keep = make(args[2])
    return [name.encode() for name, spec in docs.all_names(ctx.registry) if keep(spec)]


@table.command(
    "command|getkeys",
    -4,
    _CMD,
    summary="Extracts the key names from an arbitrary command.",
    since="2.8.13",
    arguments=(("command", "string", ""), ("arg", "string", "optional multiple")),
    support="differs",
    note="legacy key positions only: commands with movable keys are not parsed",
)
def command_getkeys(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Keys by the legacy positions (respdyn's commands with movable keys are not special-cased)."""
    spec = ctx.registry.lookup(args[0])
    if spec is not None and spec.is_container:
        spec = spec.subcommands.get(args[1].decode("latin-1").lower())
    if spec is None:
        raise errors.getkeys_invalid_command()
    if not spec.arity_ok(len(args)):
        raise errors.getkeys_bad_arity()
    keys = spec.keys.keys_of(args)
    if not keys:
        raise errors.getkeys_no_keys()
    return keys


@table.command(
    "command|help",
    2,
    _CMD,
    summary="Returns helpful text about the different subcommands.",
    since="5.0.0",
)
def command_help(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return docs.help_reply(ctx.registry.lookup("command"))  # type: ignore[arg-type]


# --- CONFIG ------------------------------------------------------------------------------------

table.container("config", summary="A container for server configuration commands.", since="2.0.0")

_GLOB_CHARS = frozenset(b"*?[")


@table.command(
    "config|get",
    -3,
    _ADMIN,
    summary="Returns the effective values of configuration parameters.",
    since="2.0.0",
    arguments=(("parameter", "string", "multiple"),),
    support="differs",
    note="respdyn's settings (Redis names where Redis has them)",
)
def config_get(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """A map of every matching setting, each once; an exact name is echoed as the client
    spelled it (Redis 7.0 does, e.g. `MAXCLIENTS`)."""
    found: dict[str, tuple[bytes, bytes]] = {}
    for pattern in args:
        text = pattern.decode("latin-1")
        exact = not _GLOB_CHARS.intersection(pattern)
        for name, value in ctx.config.get_matching(text):
            shown = pattern if exact else name.encode()
            found.setdefault(name, (shown, value.encode()))
    return Map(list(found.values()))


#: settings whose change must reach a live object, not just the config
_APPLY: dict[str, Callable[[Context], None]] = {
    "maxclients": lambda ctx: setattr(ctx.sessions, "maxclients", ctx.config.maxclients),
}


def _config_pairs(ctx: Context, args: list[bytes]) -> list[tuple[bytes, str]]:
    """CONFIG SET's checks before anything changes: pairs, known names, no duplicates."""
    if len(args) % 2:
        raise errors.syntax_error()
    pairs = [(args[i], args[i + 1].decode("latin-1")) for i in range(0, len(args), 2)]
    seen: set[str] = set()
    unknown = None
    for name, _ in pairs:
        key = name.decode("latin-1").lower()
        if ctx.config.field_for(key) is None:
            unknown = unknown or name
        elif key in seen:
            raise errors.config_set_failed(name, "duplicate parameter")
        seen.add(key)
    if unknown is not None:
        raise errors.config_set_unknown(unknown)
    return pairs


@table.command(
    "config|set",
    -4,
    _ADMIN,
    summary="Sets configuration parameters in-flight.",
    since="2.0.0",
    arguments=(("parameter", "string", ""), ("value", "string", "")),
    support="differs",
    note="runtime-settable respdyn settings only; values checked by ServerConfig, not Redis",
)
def config_set(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """All pairs or none: on a bad value the settings already changed are restored."""
    pairs = _config_pairs(ctx, args)
    before = {f.name: getattr(ctx.config, f.name) for f in ctx.config.settings()}
    for name, value in pairs:
        try:
            ctx.config.set_runtime(name.decode("latin-1"), value)
        except ValueError as exc:
            for field_name, old in before.items():
                setattr(ctx.config, field_name, old)
            raise errors.config_set_failed(name, str(exc)) from None
    for name, _ in pairs:
        apply = _APPLY.get(name.decode("latin-1").lower())
        if apply is not None:
            apply(ctx)
    return OK


@table.command(
    "config|resetstat", 2, _ADMIN, summary="Resets the server's statistics.", since="2.0.0"
)
def config_resetstat(ctx: Context, session: Session, args: list[bytes]) -> Any:
    ctx.stats.reset()
    ctx.keyspace.hits = ctx.keyspace.misses = 0
    return OK


@table.command(
    "config|help",
    2,
    _CMD,
    summary="Returns helpful text about the different subcommands.",
    since="5.0.0",
)
def config_help(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return docs.help_reply(ctx.registry.lookup("config"))  # type: ignore[arg-type]


# --- INFO --------------------------------------------------------------------------------------

Fields = dict[str, Any]


def human_bytes(n: int) -> str:
    """Redis' bytesToHuman: 1023B, 1.50K, 12.32M, ..."""
    if n < 1024:
        return f"{n}B"
    for unit, power in (("K", 1), ("M", 2), ("G", 3), ("T", 4)):
        if n < 1024 ** (power + 1):
            return f"{n / 1024**power:.2f}{unit}"
    return f"{n / 1024**5:.2f}P"


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _server(ctx: Context) -> Fields:
    uptime = int(time.time() - ctx.started_at)
    return {
        "redis_version": "7.0.15",
        "redis_git_sha1": "00000000",
        "redis_git_dirty": 0,
        "redis_build_id": "0",
        "redis_mode": "standalone",
        "respdyn_version": respdyn.__version__,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "arch_bits": 64,
        "multiplexing_api": "gevent",
        "python_version": platform.python_version(),
        "process_id": os.getpid(),
        "process_supervised": "no",
        "run_id": RUN_ID,
        "tcp_port": ctx.config.port,
        "server_time_usec": int(time.time() * 1_000_000),
        "uptime_in_seconds": uptime,
        "uptime_in_days": uptime // 86400,
        "hz": ctx.config.hz,
        "configured_hz": ctx.config.hz,
        "executable": os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else "",
        "config_file": "",
    }


def _clients(ctx: Context) -> Fields:
    return {
        "connected_clients": len(ctx.sessions),
        "cluster_connections": 0,
        "maxclients": ctx.config.maxclients,
        "blocked_clients": 0,
        "tracking_clients": 0,
    }


def _memory(ctx: Context) -> Fields:
    rss = _rss_bytes()
    peak = max(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "used_memory": rss,
        "used_memory_human": human_bytes(rss),
        "used_memory_rss": rss,
        "used_memory_rss_human": human_bytes(rss),
        "used_memory_peak": peak,
        "used_memory_peak_human": human_bytes(peak),
        "maxmemory": 0,
        "maxmemory_human": "0B",
        "maxmemory_policy": "noeviction",
        "mem_allocator": "pymalloc",
    }


def _persistence(ctx: Context) -> Fields:
    return {
        "loading": 0,
        "async_loading": 0,
        "rdb_changes_since_last_save": 0,
        "rdb_bgsave_in_progress": 0,
        "rdb_last_save_time": ctx.last_save,
        "rdb_last_bgsave_status": "ok",
        "aof_enabled": 1,
        "aof_rewrite_in_progress": 0,
        "aof_last_write_status": "ok",
    }


def _stats(ctx: Context) -> Fields:
    s = ctx.stats
    return {
        "total_connections_received": s.total_connections_received,
        "total_commands_processed": s.total_commands_processed,
        "instantaneous_ops_per_sec": 0,
        "rejected_connections": s.rejected_connections,
        "expired_keys": s.expired_keys,
        "evicted_keys": 0,
        "keyspace_hits": ctx.keyspace.hits,
        "keyspace_misses": ctx.keyspace.misses,
        "pubsub_channels": 0,
        "pubsub_patterns": 0,
        "total_error_replies": s.total_error_replies,
    }


def _replication(ctx: Context) -> Fields:
    return {
        "role": "master",
        "connected_slaves": 0,
        "master_failover_state": "no-failover",
        "master_replid": RUN_ID,
        "master_repl_offset": 0,
    }


def _cpu(ctx: Context) -> Fields:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "used_cpu_sys": f"{me.ru_stime:.6f}",
        "used_cpu_user": f"{me.ru_utime:.6f}",
        "used_cpu_sys_children": f"{children.ru_stime:.6f}",
        "used_cpu_user_children": f"{children.ru_utime:.6f}",
    }


def _commandstats(ctx: Context) -> Fields:
    out = {}
    for name, c in ctx.stats.commands.items():
        if not (c.calls or c.rejected_calls or c.failed_calls):
            continue
        per_call = c.usec / c.calls if c.calls else 0.0
        out[f"cmdstat_{name}"] = (
            f"calls={c.calls},usec={c.usec},usec_per_call={per_call:.2f},"
            f"rejected_calls={c.rejected_calls},failed_calls={c.failed_calls}"
        )
    return out


def _keyspace(ctx: Context) -> Fields:
    return {
        f"db{db}": f"keys={keys},expires={expires},avg_ttl=0"
        for db, (keys, expires) in ctx.keyspace.nonempty_dbs().items()
    }


#: (name, builder, in `default`) in Redis' order; other layers' sections go before keyspace
_BEFORE = (
    ("server", _server, True),
    ("clients", _clients, True),
    ("memory", _memory, True),
    ("persistence", _persistence, True),
    ("stats", _stats, True),
    ("replication", _replication, True),
    ("cpu", _cpu, True),
    ("commandstats", _commandstats, False),
)
_AFTER = (("keyspace", _keyspace, True),)


def info_sections(ctx: Context) -> list[tuple[str, Callable[[], Fields], bool]]:
    own = [(n, (lambda b=b: b(ctx)), d) for n, b, d in _BEFORE]
    contributed = [(n.lower(), b, True) for n, b in ctx.info_sections.items()]
    after = [(n, (lambda b=b: b(ctx)), d) for n, b, d in _AFTER]
    return own + contributed + after


def _selected(name: str, default: bool, wanted: set[str]) -> bool:
    if not wanted:
        return default
    return (
        name in wanted
        or "all" in wanted
        or "everything" in wanted
        or (default and "default" in wanted)
    )


def render_section(name: str, fields: Fields) -> str:
    header = f"# {name[:1].upper()}{name[1:]}\r\n"
    return header + "".join(f"{k}:{v}\r\n" for k, v in fields.items())


@table.command(
    "info",
    -1,
    _CMD,
    summary="Returns information and statistics about the server.",
    arguments=(("section", "string", "optional multiple"),),
    support="differs",
    note=(
        "a subset of Redis' fields plus respdyn_version; "
        "no errorstats/latencystats/modules sections"
    ),
)
def info(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Sections in Redis' order whatever the order asked; unknown names add nothing.
    A verbatim `txt` string in RESP3, as Redis 7 replies."""
    wanted = {a.decode("latin-1").lower() for a in args}
    parts = [
        render_section(name, build())
        for name, build, default in info_sections(ctx)
        if _selected(name, default, wanted)
    ]
    return Verbatim("\r\n".join(parts).encode("latin-1", "replace"))


# --- keyspace-wide, time and persistence -------------------------------------------------------


@table.command("dbsize", 1, "readonly fast", summary="Returns the number of keys in the database.")
def dbsize(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return ctx.keyspace.dbsize(session.db)


def _flush_mode(args: list[bytes]) -> None:
    """FLUSHDB/FLUSHALL take at most one of ASYNC|SYNC; respdyn's range delete is the same
    either way (a tombstone over the range, reclaimed by compaction)."""
    if len(args) > 1 or (args and args[0].lower() not in (b"async", b"sync")):
        raise errors.syntax_error()


_FLUSH_ARGS = (("ASYNC", "pure-token", "optional"), ("SYNC", "pure-token", "optional"))


@table.command(
    "flushdb",
    -1,
    "write",
    summary="Removes all keys from the current database.",
    arguments=_FLUSH_ARGS,
)
def flushdb(ctx: Context, session: Session, args: list[bytes]) -> Any:
    _flush_mode(args)
    ctx.keyspace.flushdb(session.db)
    return OK


@table.command(
    "flushall", -1, "write", summary="Removes all keys from all databases.", arguments=_FLUSH_ARGS
)
def flushall(ctx: Context, session: Session, args: list[bytes]) -> Any:
    _flush_mode(args)
    ctx.keyspace.flushall()
    return OK


@table.command("time", 1, "loading stale fast", summary="Returns the server time.", since="2.6.0")
def time_(ctx: Context, session: Session, args: list[bytes]) -> Any:
    now_us = time.time_ns() // 1000
    return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]


@table.command(
    "lastsave",
    1,
    "loading stale fast",
    summary="Returns the Unix timestamp of the last successful save to disk.",
)
def lastsave(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return ctx.last_save


def save_now(ctx: Context) -> None:
    """What SAVE means here: the WAL already holds every write; flushing the memtable to an
    SSTable is the closest thing to Redis' snapshot."""
    ctx.keyspace.store.flush()
    ctx.last_save = int(time.time())


@table.command(
    "save",
    1,
    "admin noscript no_multi",
    summary="Synchronously saves the database(s) to disk.",
    note="flushes the storage engine's memtable; every write is in the WAL already",
)
def save(ctx: Context, session: Session, args: list[bytes]) -> Any:
    save_now(ctx)
    return OK


@table.command(
    "bgsave",
    -1,
    "admin noscript",
    summary="Asynchronously saves the database(s) to disk.",
    arguments=(("SCHEDULE", "pure-token", "optional"),),
    note="flushes the memtable before replying (no fork)",
)
def bgsave(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) > 1 or (args and args[0].lower() != b"schedule"):
        raise errors.syntax_error()
    save_now(ctx)
    return Status("Background saving started")


#: SHUTDOWN's modifiers; NOSAVE and SAVE exclude each other, ABORT excludes all
_SHUTDOWN_WORDS = frozenset({b"nosave", b"save", b"now", b"force", b"abort"})


@table.command(
    "shutdown",
    -1,
    "admin noscript loading stale no_multi allow_busy",
    summary="Synchronously saves the database(s) to disk and shuts down the server.",
    arguments=(
        ("NOSAVE", "pure-token", "optional"),
        ("SAVE", "pure-token", "optional"),
        ("NOW", "pure-token", "optional"),
        ("FORCE", "pure-token", "optional"),
        ("ABORT", "pure-token", "optional"),
    ),
    note="ABORT is refused: a respdyn shutdown is never pending",
    support="differs",
)
def shutdown(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Stops the node. Like Redis, a successful SHUTDOWN sends no reply: the client sees the
    connection close."""
    words = {a.lower() for a in args}
    if (
        not words <= _SHUTDOWN_WORDS
        or {b"nosave", b"save"} <= words
        or (b"abort" in words and len(args) > 1)
    ):
        raise errors.syntax_error()
    if b"abort" in words:
        raise errors.ReplyError("Errors trying to SHUTDOWN. Check logs.")
    if b"nosave" not in words:
        save_now(ctx)
    session.close_after_reply = True
    ctx.shutdown()
    return NO_REPLY


# --- DEBUG -------------------------------------------------------------------------------------


def _debug_sleep(ctx: Context, args: list[bytes]) -> Any:
    gevent.sleep(max(0.0, to_float(args[0])))
    return OK


def _debug_help(ctx: Context, args: list[bytes]) -> Any:
    lines = [
        "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        "HELP",
        "    Prints this help.",
    ]
    return [line.encode() for line in lines]


#: DEBUG's subcommands: name -> (argument count after the name, action)
_DEBUG: dict[bytes, tuple[int, Callable[[Context, list[bytes]], Any]]] = {
    b"sleep": (1, _debug_sleep),
    b"help": (0, _debug_help),
}


@table.command(
    "debug",
    -2,
    "admin noscript loading stale",
    summary="A container for debugging commands.",
    arguments=(("subcommand", "string", ""), ("argument", "string", "optional multiple")),
    support="differs",
    note="only SLEEP and HELP; enabled (Redis 7 refuses DEBUG unless enable-debug-command)",
    yields=True,
)
def debug(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """DEBUG is one command in Redis (not a container): its words are parsed by the handler."""
    count, action = _DEBUG.get(args[0].lower(), (-1, None))
    if action is None or len(args) - 1 != count:
        raise errors.ReplyError(
            f"unknown subcommand or wrong number of arguments for '{errors.shown(args[0], 128)}'. "
            "Try DEBUG HELP."
        )
    return action(ctx, args[1:])
