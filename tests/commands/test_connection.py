"""Connection commands through the dispatcher: replies and error texts as Redis 7 gives them
(checked against redis-server 7.0.15), authentication flows, CLIENT LIST/KILL across sessions."""

from __future__ import annotations

import re

import pytest

from respdyn.errors import ReplyError
from respdyn.protocol.reply import OK, PONG, Map, Status, Verbatim

NO_PASSWORD = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOAUTH = "NOAUTH Authentication required."
BAD_NAME = "ERR Client names cannot contain spaces, newlines or special characters."
SYNTAX = "ERR syntax error"
NOT_INT = "ERR value is not an integer or out of range"


def err(reply: object) -> str:
    assert isinstance(reply, ReplyError), reply
    return reply.resp_text()


@pytest.fixture
def locked(ctx, call):
    """A password is set and `call`'s session has not authenticated yet."""
    ctx.config.requirepass = "pw"
    call.session.authenticated = False
    return call


# --- PING, ECHO, QUIT, SELECT --------------------------------------------------------------------


def test_ping(call):
    assert call("PING") == PONG
    assert call("PING", "hi") == b"hi"
    assert err(call("PING", "a", "b")) == "ERR wrong number of arguments for 'ping' command"


def test_echo(call):
    assert call("ECHO", "x y") == b"x y"
    assert err(call("ECHO")) == "ERR wrong number of arguments for 'echo' command"


def test_quit_replies_ok_then_closes(call):
    assert call("QUIT") == OK
    assert call.session.close_after_reply


@pytest.mark.parametrize(
    "index, reply",
    [
        ("0", OK),
        ("15", OK),
        ("16", "ERR DB index is out of range"),
        ("-1", "ERR DB index is out of range"),
        ("x", NOT_INT),
        ("1.5", NOT_INT),
        ("2147483648", "ERR value is out of range, value must between -2147483648 and 2147483647"),
        ("99999999999999999999", NOT_INT),
        ("", NOT_INT),
    ],
)
def test_select(call, index, reply):
    got = call("SELECT", index)
    assert got == reply if reply is OK else err(got) == reply


def test_select_switches_database(ctx, call):
    from respdyn.keyspace.record import Kind

    ctx.keyspace.put(3, b"k", Kind.STRING, b"v")
    assert call("DBSIZE") == 0
    assert call("SELECT", 3) == OK
    assert call.session.db == 3
    assert call("DBSIZE") == 1


# --- HELLO ---------------------------------------------------------------------------------------


def hello_pairs(reply: object) -> dict:
    assert isinstance(reply, Map)
    return dict(reply.items())


def test_hello_3_switches_protocol_and_replies_a_map(call):
    reply = call("HELLO", "3")
    assert call.session.protocol == 3
    assert [k for k, _ in reply.items()] == [
        b"server",
        b"version",
        b"proto",
        b"id",
        b"mode",
        b"role",
        b"modules",
    ]
    assert hello_pairs(reply) == {
        b"server": b"redis",
        b"version": b"7.0.15",
        b"proto": 3,
        b"id": call.session.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


def test_hello_without_version_keeps_protocol(call):
    assert hello_pairs(call("HELLO"))[b"proto"] == 2
    call("HELLO", "3")
    assert hello_pairs(call("HELLO"))[b"proto"] == 3
    assert hello_pairs(call("HELLO", "2"))[b"proto"] == 2
    assert call.session.protocol == 2


@pytest.mark.parametrize(
    "args, error",
    [
        (["1"], "NOPROTO unsupported protocol version"),
        (["4"], "NOPROTO unsupported protocol version"),
        (["-1"], "NOPROTO unsupported protocol version"),
        (["x"], "ERR Protocol version is not an integer or out of range"),
        (["3", "FOO"], "ERR Syntax error in HELLO option 'FOO'"),
        (["3", "AUTH", "default"], "ERR Syntax error in HELLO option 'AUTH'"),
        (["3", "SETNAME"], "ERR Syntax error in HELLO option 'SETNAME'"),
        (["3", "SETNAME", "a b"], BAD_NAME),
        (["3", "AUTH", "nobody", "x"], WRONGPASS),
    ],
)
def test_hello_errors_leave_protocol_alone(call, args, error):
    assert err(call("HELLO", *args)) == error
    assert call.session.protocol == 2


def test_hello_setname(call):
    call("HELLO", "3", "SETNAME", "app")
    assert call("CLIENT", "GETNAME") == b"app"


def test_hello_requires_authentication(locked):
    assert err(locked("HELLO", "3")) == (
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
        "the RESP protocol version at the same time"
    )
    assert err(locked("HELLO", "3", "AUTH", "default", "bad")) == WRONGPASS
    assert not locked.session.authenticated
    reply = locked("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n")
    assert hello_pairs(reply)[b"proto"] == 3
    assert locked.session.authenticated and locked.session.name == b"n"


# --- AUTH ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, reply",
    [
        (["x"], NO_PASSWORD),
        (["default", "anything"], OK),  # the default user is nopass
        (["nobody", "x"], WRONGPASS),
        (["a", "b", "c"], SYNTAX),
    ],
)
def test_auth_without_password_configured(call, args, reply):
    got = call("AUTH", *args)
    assert got == reply if reply is OK else err(got) == reply


@pytest.mark.parametrize(
    "args, reply",
    [
        (["pw"], OK),
        (["default", "pw"], OK),
        (["bad"], WRONGPASS),
        (["default", "bad"], WRONGPASS),
        (["nobody", "pw"], WRONGPASS),
    ],
)
def test_auth_with_password(locked, args, reply):
    got = locked("AUTH", *args)
    if reply is OK:
        assert got == OK and locked.session.authenticated
    else:
        assert err(got) == reply and not locked.session.authenticated


@pytest.mark.parametrize(
    "argv",
    [
        ["PING"],
        ["ECHO", "x"],
        ["CLIENT", "ID"],
        ["SELECT", "1"],
        ["DBSIZE"],
        ["INFO"],
        ["COMMAND", "COUNT"],
    ],
)
def test_noauth_before_authentication(locked, argv):
    assert err(locked(*argv)) == NOAUTH


@pytest.mark.parametrize(
    "argv", [["AUTH", "pw"], ["HELLO", "2", "AUTH", "default", "pw"], ["RESET"], ["QUIT"]]
)
def test_no_auth_commands_run_before_authentication(locked, argv):
    assert not isinstance(locked(*argv), ReplyError)


def test_failed_auth_does_not_log_out(ctx, call):
    ctx.config.requirepass = "pw"
    assert err(call("AUTH", "bad")) == WRONGPASS
    assert call("PING") == PONG


# --- RESET ---------------------------------------------------------------------------------------


def test_reset_restores_a_fresh_connection(call):
    call("HELLO", "3", "SETNAME", "app")
    call("SELECT", "4")
    call("CLIENT", "SETINFO", "LIB-NAME", "lib")
    call.session.extra["multi"] = []
    assert call("RESET") == Status("RESET")
    s = call.session
    assert (s.protocol, s.db, s.name, s.extra, s.authenticated) == (2, 0, b"", {}, True)
    assert s.lib_name == b"lib"  # Redis keeps LIB-NAME/LIB-VER across RESET


def test_reset_logs_out_when_a_password_is_set(ctx, call):
    ctx.config.requirepass = "pw"
    assert call("RESET") == Status("RESET")
    assert err(call("PING")) == NOAUTH


# --- CLIENT ID / names / SETINFO -----------------------------------------------------------------


def test_client_id_and_names(call):
    assert call("CLIENT", "ID") == call.session.id
    assert call("CLIENT", "GETNAME") is None
    assert call("CLIENT", "SETNAME", "worker-1") == OK
    assert call("CLIENT", "GETNAME") == b"worker-1"
    assert call("CLIENT", "SETNAME", "") == OK
    assert call("CLIENT", "GETNAME") is None


@pytest.mark.parametrize("name", [b"a b", b"a\nb", b"a\rb", "é".encode(), b"a\x7f", b"\x00"])
def test_client_setname_rejects_unprintable(call, name):
    assert err(call("CLIENT", "SETNAME", name)) == BAD_NAME
    assert call.session.name == b""


def test_client_setinfo(call):
    assert call("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == OK
    assert call("CLIENT", "SETINFO", "lib-ver", "5.0.1") == OK
    assert (call.session.lib_name, call.session.lib_ver) == (b"redis-py", b"5.0.1")
    assert err(call("CLIENT", "SETINFO", "color", "x")) == "ERR Unrecognized option 'color'"
    assert err(call("CLIENT", "SETINFO", "lib-name", "a b")) == (
        "ERR lib-name cannot contain spaces, newlines or special characters."
    )


# --- CLIENT INFO / LIST --------------------------------------------------------------------------

LINE = re.compile(
    r"id=\d+ addr=\S* laddr=\S* fd=-?\d+ name=\S* age=\d+ idle=\d+ flags=N db=\d+ sub=0 psub=0 "
    r"ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 "
    r"tot-mem=0 events=r cmd=\S+ user=default redir=-1 resp=[23] lib-name=\S* lib-ver=\S*"
)


def lines(reply: object) -> list[dict[str, str]]:
    assert isinstance(reply, Verbatim) and reply.format == b"txt"
    text = reply.text.decode()
    assert text == "" or text.endswith("\n")
    out = []
    for line in text.splitlines():
        assert LINE.fullmatch(line), line
        out.append(dict(field.split("=", 1) for field in line.split(" ")))
    return out


def test_client_info_describes_the_caller(call):
    call("CLIENT", "SETNAME", "me")
    call("SELECT", "2")
    [me] = lines(call("CLIENT", "INFO"))
    assert me["id"] == str(call.session.id)
    assert (me["addr"], me["name"], me["db"], me["cmd"], me["resp"]) == (
        "127.0.0.1:1",
        "me",
        "2",
        "client|info",
        "2",
    )


def test_client_list_shows_every_session(call):
    other = call.other()
    other("CLIENT", "SETNAME", "other")
    listed = {int(c["id"]): c for c in lines(call("CLIENT", "LIST"))}
    assert set(listed) == {call.session.id, other.session.id}
    assert listed[other.session.id]["name"] == "other"
    assert listed[other.session.id]["cmd"] == "client|setname"


@pytest.mark.parametrize(
    "filters, expect",
    [
        (["TYPE", "normal"], {"me", "other"}),
        (["TYPE", "NORMAL"], {"me", "other"}),
        (["TYPE", "pubsub"], set()),
        (["TYPE", "replica"], set()),
        (["ID", "{other}"], {"other"}),
        (["ID", "{other}", "999", "{me}"], {"me", "other"}),
        (["ID", "999"], set()),
        (["ID", "0"], set()),
    ],
)
def test_client_list_filters(call, filters, expect):
    other = call.other()
    ids = {"{me}": str(call.session.id), "{other}": str(other.session.id)}
    names = {str(call.session.id): "me", str(other.session.id): "other"}
    reply = call("CLIENT", "LIST", *[ids.get(f, f) for f in filters])
    assert {names[c["id"]] for c in lines(reply)} == expect


@pytest.mark.parametrize(
    "args, error",
    [
        (["TYPE", "foo"], "ERR Unknown client type 'foo'"),
        (["TYPE"], SYNTAX),
        (["ID"], SYNTAX),
        (["ID", "1", "x"], "ERR Invalid client ID"),
        (["TYPE", "normal", "ID", "1"], SYNTAX),
        (["foo"], SYNTAX),
    ],
)
def test_client_list_errors(call, args, error):
    assert err(call("CLIENT", "LIST", *args)) == error


# --- CLIENT KILL ---------------------------------------------------------------------------------


def test_client_kill_old_form(call):
    other = call.other()
    assert call("CLIENT", "KILL", "127.0.0.1:2") == OK
    assert other.session.close_after_reply and not call.session.close_after_reply
    assert err(call("CLIENT", "KILL", "1.2.3.4:5")) == "ERR No such client"
    assert err(call("CLIENT", "KILL", "ID")) == "ERR No such client"  # argc 3: an address


def test_client_kill_old_form_may_kill_the_caller(call):
    assert call("CLIENT", "KILL", "127.0.0.1:1") == OK
    assert call.session.close_after_reply


@pytest.mark.parametrize(
    "filters, killed, other_dies, me_dies",
    [
        (["ID", "{other}"], 1, True, False),
        (["ID", "999"], 0, False, False),
        (["ADDR", "127.0.0.1:2"], 1, True, False),
        (["ADDR", "127.0.0.1:1"], 0, False, False),  # SKIPME yes by default
        (["ADDR", "127.0.0.1:1", "SKIPME", "no"], 1, False, True),
        (["LADDR", "127.0.0.1:6379"], 1, True, False),
        (["USER", "default"], 1, True, False),
        (["TYPE", "normal", "SKIPME", "NO"], 2, True, True),
        (["TYPE", "pubsub"], 0, False, False),
        (["SKIPME", "yes"], 1, True, False),
        (["ID", "{other}", "ADDR", "127.0.0.1:1"], 0, False, False),
    ],
)
def test_client_kill_filters(ctx, call, filters, killed, other_dies, me_dies):
    other = call.other()
    other.session.laddr = "127.0.0.1:6379"
    ids = {"{other}": str(other.session.id)}
    assert call("CLIENT", "KILL", *[ids.get(f, f) for f in filters]) == killed
    assert other.session.close_after_reply is other_dies
    assert call.session.close_after_reply is me_dies


def test_client_kill_calls_the_servers_kill_hook(call):
    other = call.other()
    closed = []
    other.session.on_kill = lambda: closed.append(True)
    assert call("CLIENT", "KILL", "ID", str(other.session.id)) == 1
    assert closed == [True]


@pytest.mark.parametrize(
    "args, error",
    [
        (["ID", "0"], "ERR client-id should be greater than 0"),
        (["ID", "-1"], "ERR client-id should be greater than 0"),
        (["ID", "x"], "ERR client-id should be greater than 0"),
        (["TYPE", "foo"], "ERR Unknown client type 'foo'"),
        (["USER", "nobody"], "ERR No such user 'nobody'"),
        (["SKIPME", "maybe"], SYNTAX),
        (["FOO", "x"], SYNTAX),
        (["ADDR", "x", "ID"], SYNTAX),
    ],
)
def test_client_kill_errors(call, args, error):
    call.other()
    assert err(call("CLIENT", "KILL", *args)) == error


# --- CLIENT misc ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sub", ["NO-EVICT", "NO-TOUCH"])
def test_client_accepted_no_ops(call, sub):
    assert call("CLIENT", sub, "on") == OK
    assert call("CLIENT", sub, "OFF") == OK
    assert err(call("CLIENT", sub, "x")) == SYNTAX


def test_client_help_lists_the_subcommands(call):
    reply = call("CLIENT", "HELP")
    assert reply[0] == b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert reply[-2:] == [b"HELP", b"    Prints this help."]
    assert b"SETNAME connection-name" in reply


@pytest.mark.parametrize(
    "argv, error",
    [
        (["CLIENT"], "ERR wrong number of arguments for 'client' command"),
        (["CLIENT", "FOO"], "ERR unknown subcommand 'FOO'. Try CLIENT HELP."),
        (["CLIENT", "ID", "x"], "ERR wrong number of arguments for 'client|id' command"),
        (["CLIENT", "SETNAME"], "ERR wrong number of arguments for 'client|setname' command"),
        (["CLIENT", "KILL"], "ERR wrong number of arguments for 'client|kill' command"),
    ],
)
def test_client_arity(call, argv, error):
    assert err(call(*argv)) == error


def test_client_list_shows_subscribers_and_transactions(call):
    other = call.other()
    other("SUBSCRIBE", "ch")
    other("PSUBSCRIBE", "p*", "q*")
    line = call("CLIENT", "LIST", "TYPE", "pubsub").text.decode()
    assert f"id={other.session.id} " in line
    assert " flags=P " in line and " sub=1 psub=2 " in line
    assert call("CLIENT", "LIST", "TYPE", "normal").text.decode().count("\n") == 1  # us only
    third = call.other()
    third("MULTI")
    third("SET", "k", "v")
    listing = call("CLIENT", "LIST", "ID", str(third.session.id)).text.decode()
    assert " flags=x " in listing and " multi=1 " in listing
