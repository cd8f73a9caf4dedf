"""Server commands through the dispatcher: COMMAND and its subcommands, CONFIG, INFO, DBSIZE,
FLUSHDB/FLUSHALL, TIME, LASTSAVE, SAVE/BGSAVE, SHUTDOWN and DEBUG, with Redis 7's replies and
error texts (checked against redis-server 7.0.15)."""

from __future__ import annotations

import time

import pytest

from respdyn.commands.registry import CommandTable
from respdyn.commands.server import command_all, human_bytes
from respdyn.errors import ReplyError
from respdyn.keyspace.record import Kind
from respdyn.protocol.reply import NO_REPLY, OK, Map, Set, Status, Verbatim

SYNTAX = "ERR syntax error"


def err(reply: object) -> str:
    assert isinstance(reply, ReplyError), reply
    return reply.resp_text()


def names(items: Set) -> list[str]:
    assert isinstance(items, Set)
    return [s.text for s in items.items]


@pytest.fixture
def keyed(ctx):
    """A test-only command with MSET-like key positions, for COMMAND GETKEYS and INFO."""
    table = CommandTable("string")

    @table.command("tkeys", -3, "write denyoom", keys=(1, -1, 2), summary="test pairs")
    def tkeys(ctx, session, args):
        return OK

    ctx.registry.add_table(table)
    return ctx


# --- COMMAND -------------------------------------------------------------------------------------


def test_command_count_counts_top_level_commands(ctx, call):
    assert call("COMMAND", "COUNT") == len(ctx.registry)


def test_command_info_entry_layout(call):
    [entry] = call("COMMAND", "INFO", "echo")
    name, arity, flags, first, last, step, cats, tips, specs, subs = entry
    assert (name, arity, first, last, step) == (b"echo", 2, 0, 0, 0)
    assert names(flags) == ["loading", "stale", "fast"]  # Redis' flag order
    assert names(cats) == ["@fast", "@connection"]  # Redis' category order
    assert (tips, specs, subs) == (Set([]), Set([]), Set([]))  # RESP3 sets, as Redis


def test_command_info_key_spec(keyed, call):
    [entry] = call("COMMAND", "INFO", "tkeys")
    assert entry[3:6] == [1, -1, 2]
    [spec] = entry[8].items
    pairs = dict(spec.items())
    assert names(pairs[b"flags"]) == ["RW", "update"]
    find = dict(pairs[b"find_keys"].items())
    assert dict(find[b"spec"].items()) == {b"lastkey": -1, b"keystep": 2, b"limit": 0}
    assert dict(dict(pairs[b"begin_search"].items())[b"spec"].items()) == {b"index": 1}


def test_command_info_container_lists_subcommands(call):
    [entry] = call("COMMAND", "INFO", "client")
    assert entry[:2] == [b"client", -2]
    subs = {sub[0]: sub for sub in entry[9]}
    assert {b"client|id", b"client|list", b"client|kill", b"client|setname"} <= set(subs)
    assert subs[b"client|kill"][1] == -3
    assert names(subs[b"client|kill"][2]) == ["admin", "noscript", "loading", "stale"]
    assert names(subs[b"client|kill"][6]) == ["@admin", "@slow", "@dangerous", "@connection"]


def test_command_info_names_unknown_and_subcommands(call):
    reply = call("COMMAND", "INFO", "PING", "Client|Id", "nosuch", "client|nosuch")
    assert [e if e is None else e[0] for e in reply] == [b"ping", b"client|id", None, None]


def test_command_info_without_names_is_every_command(ctx, call):
    reply = call("COMMAND", "INFO")
    assert [e[0].decode() for e in reply] == [spec.name for spec in ctx.registry]


def test_bare_command_handler_lists_every_command(ctx, call):
    reply = command_all(ctx, call.session, [])
    assert len(reply) == len(ctx.registry)
    assert [e[1] for e in reply if e[0] == b"command"] == [-1]


def test_bare_command_through_the_dispatcher(ctx, call):
    reply = call("COMMAND")
    assert [e[0].decode() for e in reply] == [spec.name for spec in ctx.registry]
    assert err(call("COMMAND", "NOSUCH")) == "ERR unknown subcommand 'NOSUCH'. Try COMMAND HELP."


def test_command_docs(call):
    reply = call("COMMAND", "DOCS", "PING", "nosuch")
    assert isinstance(reply, Map)
    [(name, doc)] = reply.items()
    fields = dict(doc.items())
    assert name == b"ping"
    assert [k for k, _ in doc.items()] == [
        b"summary",
        b"since",
        b"group",
        b"complexity",
        b"arguments",
    ]
    assert (fields[b"since"], fields[b"group"], fields[b"complexity"]) == (
        b"1.0.0",
        b"connection",
        b"O(1)",
    )
    [arg] = fields[b"arguments"]
    arg = dict(arg.items())
    assert (arg[b"name"], arg[b"type"], names(arg[b"flags"])) == (
        b"message",
        b"string",
        ["optional"],
    )


def test_command_docs_tokens_and_subcommands(call):
    doc = dict(dict(call("COMMAND", "DOCS", "hello").items())[b"hello"].items())
    auth = dict(doc[b"arguments"][1].items())
    assert (auth[b"token"], auth[b"name"]) == (b"AUTH", b"username password")
    client = dict(dict(call("COMMAND", "DOCS", "client").items())[b"client"].items())
    assert b"client|setname" in dict(client[b"subcommands"].items())


def test_command_docs_without_names_is_every_command(ctx, call):
    assert len(call("COMMAND", "DOCS").items()) == len(ctx.registry)


def test_command_list(ctx, call):
    listed = call("COMMAND", "LIST")
    assert b"client" in listed and b"client|id" in listed and b"ping" in listed
    expected = sum(1 + len(spec.subcommands) for spec in ctx.registry)
    assert len(listed) == expected


@pytest.mark.parametrize(
    "filterby, present, absent",
    [
        (["PATTERN", "cl*"], b"client|id", b"ping"),
        (["pattern", "CLIENT|S*"], b"client|setname", b"client|id"),
        (["ACLCAT", "connection"], b"ping", b"dbsize"),
        (["ACLCAT", "admin"], b"client|kill", b"client|id"),
    ],
)
def test_command_list_filterby(call, filterby, present, absent):
    listed = call("COMMAND", "LIST", "FILTERBY", *filterby)
    assert present in listed and absent not in listed


@pytest.mark.parametrize(
    "args, reply",
    [
        (["FILTERBY", "MODULE", "x"], []),
        (["FILTERBY", "x", "y"], SYNTAX),
        (["FILTERBY", "PATTERN"], SYNTAX),
        (["x"], SYNTAX),
    ],
)
def test_command_list_filterby_edges(call, args, reply):
    got = call("COMMAND", "LIST", *args)
    assert got == reply if isinstance(reply, list) else err(got) == reply


@pytest.mark.parametrize(
    "args, reply",
    [
        (["tkeys", "a", "1", "b", "2"], [b"a", b"b"]),
        (["TKEYS", "a", "1"], [b"a"]),
        (["nosuch", "a"], "ERR Invalid command specified"),
        (["tkeys", "a"], "ERR Invalid number of arguments specified for command"),
        (["echo", "a"], "ERR The command has no key arguments"),
        (["client", "nosuch"], "ERR Invalid command specified"),
    ],
)
def test_command_getkeys(keyed, call, args, reply):
    got = call("COMMAND", "GETKEYS", *args)
    assert got == reply if isinstance(reply, list) else err(got) == reply


def test_command_getkeys_arity(call):
    assert err(call("COMMAND", "GETKEYS", "get")) == (
        "ERR wrong number of arguments for 'command|getkeys' command"
    )


def test_command_help(call):
    reply = call("COMMAND", "HELP")
    assert reply[0] == b"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"COUNT" in reply and reply[-1] == b"    Prints this help."


@pytest.mark.parametrize(
    "argv, error",
    [
        (["COMMAND", "FOO"], "ERR unknown subcommand 'FOO'. Try COMMAND HELP."),
        (["COMMAND", "COUNT", "x"], "ERR wrong number of arguments for 'command|count' command"),
    ],
)
def test_command_errors(call, argv, error):
    assert err(call(*argv)) == error


# --- CONFIG --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patterns, pairs",
    [
        (["maxclients"], [(b"maxclients", b"10000")]),
        (["MAXCLIENTS"], [(b"MAXCLIENTS", b"10000")]),  # an exact name is echoed as spelled
        (["nosuch"], []),
        (["maxclients", "timeout"], [(b"maxclients", b"10000"), (b"timeout", b"0")]),
        (["maxclients", "max*"], [(b"maxclients", b"10000"), (b"maxmemory", b"0")]),
        (["MAX*"], [(b"maxclients", b"10000"), (b"maxmemory", b"0")]),
    ],
)
def test_config_get(call, patterns, pairs):
    reply = call("CONFIG", "GET", *patterns)
    assert isinstance(reply, Map)
    assert list(reply.items()) == pairs


def test_config_set_several_pairs(ctx, call):
    assert call("CONFIG", "SET", "maxclients", "100", "TIMEOUT", "7") == OK
    assert (ctx.config.maxclients, ctx.config.timeout) == (100, 7)
    assert ctx.sessions.maxclients == 100
    assert list(call("CONFIG", "GET", "maxclients").items()) == [(b"maxclients", b"100")]


@pytest.mark.parametrize(
    "args, error",
    [
        (["maxclients", "100", "timeout"], SYNTAX),
        (["nosuch", "1"], "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"),
        (
            ["maxclients", "x"],
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
            "argument couldn't be parsed into an integer",
        ),
        (
            ["maxclients", "5", "maxclients", "6"],
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
            "duplicate parameter",
        ),
        (
            ["port", "1"],
            "ERR CONFIG SET failed (possibly related to argument 'port') - "
            "can't set immutable config",
        ),
    ],
)
def test_config_set_errors(ctx, call, args, error):
    assert err(call("CONFIG", "SET", *args)) == error
    assert ctx.config.maxclients == 10000


def test_config_set_is_all_or_nothing(ctx, call):
    reply = call("CONFIG", "SET", "timeout", "5", "hz", "x")
    assert "possibly related to argument 'hz'" in err(reply)
    assert ctx.config.timeout == 0


def test_config_set_arity(call):
    assert err(call("CONFIG", "SET", "timeout")) == (
        "ERR wrong number of arguments for 'config|set' command"
    )
    assert err(call("CONFIG", "GET")) == "ERR wrong number of arguments for 'config|get' command"


def test_config_resetstat(ctx, call):
    call("PING")
    ctx.keyspace.lookup(0, b"missing")
    assert call("CONFIG", "RESETSTAT") == OK
    assert "ping" not in ctx.stats.commands
    assert ctx.keyspace.misses == 0


def test_config_help(call):
    reply = call("CONFIG", "HELP")
    assert reply[0] == b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert any(line.startswith(b"GET ") for line in reply)


# --- INFO ----------------------------------------------------------------------------------------

DEFAULT = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Keyspace"]


def info_text(reply: object) -> str:
    assert isinstance(reply, Verbatim) and reply.format == b"txt"
    return reply.text.decode()


def headers(text: str) -> list[str]:
    return [line[2:] for line in text.split("\r\n") if line.startswith("# ")]


def fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\r\n"):
        if line and not line.startswith("#"):
            key, _, value = line.partition(":")
            out[key] = value
    return out


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], DEFAULT),
        (["default"], DEFAULT),
        (["all"], [*DEFAULT[:7], "Commandstats", "Keyspace"]),
        (["everything"], [*DEFAULT[:7], "Commandstats", "Keyspace"]),
        (["server"], ["Server"]),
        (["keyspace", "SERVER"], ["Server", "Keyspace"]),  # Redis' order, not the caller's
        (["commandstats"], ["Commandstats"]),
        (["nosuch"], []),
    ],
)
def test_info_sections(ctx, call, args, expected):
    """Sections other layers contribute (node.py adds `storage`) come before Keyspace in
    `default`/`all`, as Redis' Cluster section does."""
    ctx.info_sections.clear()
    text = info_text(call("INFO", *args))
    assert [h.lower() for h in headers(text)] == [h.lower() for h in expected]


def test_info_crlf_layout(call):
    text = info_text(call("INFO", "server", "clients"))
    assert text.startswith("# Server\r\nredis_version:7.0.15\r\n")
    assert "\r\n\r\n# Clients\r\n" in text and text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert info_text(call("INFO", "nosuch")) == ""


def test_info_fields(ctx, call):
    call.other()
    text = info_text(call("INFO", "everything"))
    got = fields(text)
    assert got["redis_mode"] == "standalone" and got["role"] == "master"
    assert got["connected_clients"] == "2" and got["maxclients"] == "10000"
    assert got["tcp_port"] == str(ctx.config.port)
    assert int(got["used_memory"]) > 0 and got["rdb_last_save_time"] == str(ctx.last_save)


def test_info_keyspace(ctx, call):
    ctx.keyspace.put(0, b"a", Kind.STRING, b"1")
    ctx.keyspace.put(0, b"b", Kind.STRING, b"1", expire_at=int(time.time() * 1000) + 60_000)
    ctx.keyspace.put(5, b"c", Kind.STRING, b"1")
    text = info_text(call("INFO", "keyspace"))
    assert text == (
        "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\ndb5:keys=1,expires=0,avg_ttl=0\r\n"
    )


def test_info_commandstats(ctx, call):
    call("PING")
    call("PING")
    call("CLIENT", "SETNAME", "a b")  # failed
    ctx.config.requirepass = "pw"
    call.session.authenticated = False
    call("ECHO", "x")  # rejected: NOAUTH
    call("AUTH", "pw")
    got = fields(info_text(call("INFO", "commandstats")))
    calls, usec, per_call, rejected, failed = got["cmdstat_ping"].split(",")
    assert (calls, rejected, failed) == ("calls=2", "rejected_calls=0", "failed_calls=0")
    assert usec.startswith("usec=") and per_call.startswith("usec_per_call=")
    assert got["cmdstat_echo"].endswith("rejected_calls=1,failed_calls=0")
    assert got["cmdstat_client|setname"].startswith("calls=1,")
    assert got["cmdstat_client|setname"].endswith("failed_calls=1")


def test_info_contributed_sections(ctx, call):
    ctx.info_sections.clear()
    ctx.info_sections["cluster"] = lambda: {"cluster_enabled": 0, "ring_nodes": 3}
    text = info_text(call("INFO"))
    assert headers(text)[-2:] == ["Cluster", "Keyspace"]
    assert "# Cluster\r\ncluster_enabled:0\r\nring_nodes:3\r\n" in text
    assert headers(info_text(call("INFO", "CLUSTER"))) == ["Cluster"]


@pytest.mark.parametrize(
    "n, text",
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1.00K"),
        (1536, "1.50K"),
        (12_914_688, "12.32M"),
        (3 * 1024**3, "3.00G"),
    ],
)
def test_human_bytes(n, text):
    assert human_bytes(n) == text


# --- DBSIZE, FLUSHDB, FLUSHALL -------------------------------------------------------------------


@pytest.fixture
def filled(ctx):
    for db, key in ((0, b"a"), (0, b"b"), (1, b"c")):
        ctx.keyspace.put(db, key, Kind.STRING, b"v")
    return ctx


def test_dbsize_counts_the_selected_database(filled, call):
    assert call("DBSIZE") == 2
    call("SELECT", "1")
    assert call("DBSIZE") == 1


@pytest.mark.parametrize("mode", [[], ["ASYNC"], ["sync"]])
def test_flushdb_clears_only_the_selected_database(filled, call, mode):
    assert call("FLUSHDB", *mode) == OK
    assert call("DBSIZE") == 0
    assert filled.keyspace.dbsize(1) == 1


@pytest.mark.parametrize("mode", [[], ["ASYNC"], ["SYNC"]])
def test_flushall_clears_every_database(filled, call, mode):
    assert call("FLUSHALL", *mode) == OK
    assert filled.keyspace.nonempty_dbs() == {}


@pytest.mark.parametrize("command", ["FLUSHDB", "FLUSHALL"])
@pytest.mark.parametrize("args", [["foo"], ["SYNC", "ASYNC"]])
def test_flush_syntax_errors(filled, call, command, args):
    assert err(call(command, *args)) == SYNTAX
    assert filled.keyspace.dbsize(0) == 2


# --- TIME, LASTSAVE, SAVE, BGSAVE ----------------------------------------------------------------


def test_time(call):
    before = time.time()
    seconds, micros = call("TIME")
    after = time.time()
    assert seconds.isdigit() and micros.isdigit() and int(micros) < 1_000_000
    assert int(before) <= int(seconds) + int(micros) / 1e6 <= after + 1e-6


@pytest.fixture
def flushes(ctx, monkeypatch):
    """Counts memtable flushes requested of the store."""
    count = []
    real = ctx.keyspace.store.flush
    monkeypatch.setattr(ctx.keyspace.store, "flush", lambda: (count.append(1), real())[1])
    ctx.last_save = 0
    return count


def test_save_flushes_and_updates_lastsave(ctx, call, flushes):
    assert call("LASTSAVE") == 0
    assert call("SAVE") == OK
    assert flushes == [1]
    assert abs(call("LASTSAVE") - time.time()) < 5


@pytest.mark.parametrize("args", [[], ["SCHEDULE"], ["schedule"]])
def test_bgsave(ctx, call, flushes, args):
    assert call("BGSAVE", *args) == Status("Background saving started")
    assert flushes == [1] and ctx.last_save > 0


@pytest.mark.parametrize("args", [["x"], ["SCHEDULE", "x"]])
def test_bgsave_syntax_errors(call, flushes, args):
    assert err(call("BGSAVE", *args)) == SYNTAX
    assert flushes == []


def test_save_arity(call):
    assert err(call("SAVE", "x")) == "ERR wrong number of arguments for 'save' command"


# --- SHUTDOWN ------------------------------------------------------------------------------------


@pytest.fixture
def stops(ctx):
    calls = []
    ctx.shutdown = lambda: calls.append(1)
    return calls


@pytest.mark.parametrize(
    "args, saved", [([], 1), (["SAVE"], 1), (["NOSAVE"], 0), (["nosave", "NOW", "FORCE"], 0)]
)
def test_shutdown_stops_without_reply(call, stops, flushes, args, saved):
    assert call("SHUTDOWN", *args) is NO_REPLY
    assert stops == [1] and len(flushes) == saved
    assert call.session.close_after_reply


@pytest.mark.parametrize(
    "args, error",
    [
        (["foo"], SYNTAX),
        (["NOSAVE", "SAVE"], SYNTAX),
        (["ABORT", "NOW"], SYNTAX),
        (["ABORT"], "ERR Errors trying to SHUTDOWN. Check logs."),
    ],
)
def test_shutdown_errors(call, stops, args, error):
    assert err(call("SHUTDOWN", *args)) == error
    assert stops == []


# --- DEBUG ---------------------------------------------------------------------------------------


def test_debug_sleep(call):
    assert call("DEBUG", "SLEEP", "0") == OK
    assert call("DEBUG", "sleep", "0.001") == OK


@pytest.mark.parametrize(
    "args, error",
    [
        (["FOO"], "ERR unknown subcommand or wrong number of arguments for 'FOO'. Try DEBUG HELP."),
        (
            ["SLEEP"],
            "ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.",
        ),
        (["SLEEP", "x"], "ERR value is not a valid float"),
    ],
)
def test_debug_errors(call, args, error):
    assert err(call("DEBUG", *args)) == error


def test_debug_help(call):
    reply = call("DEBUG", "HELP")
    assert reply[0].startswith(b"DEBUG <subcommand>") and b"SLEEP <seconds>" in reply
