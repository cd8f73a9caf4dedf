"""Connection commands (Redis' `connection` group): PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT
and the CLIENT container. They read and change the caller's `Session`, and CLIENT LIST/KILL
reach the other sessions through `ctx.sessions`.

Authentication is Redis' default-user model: `requirepass` empty means the default user has no
password (every client is authenticated); set, a client must AUTH/HELLO AUTH as `default`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from respdyn import errors
from respdyn.commands import lists, notify, transactions
from respdyn.commands.args import to_int
from respdyn.commands.context import Context
from respdyn.commands.docs import help_reply
from respdyn.commands.registry import CommandTable
from respdyn.protocol.reply import OK, PONG, Map, Status, Verbatim
from respdyn.session import Session

table = CommandTable("connection")

#: what HELLO reports: Redis' name and a 7.0 version, so clients that gate features on the
#: server version (RESP3, CLIENT SETINFO) treat respdyn as the Redis it emulates
SERVER_NAME = b"redis"
SERVER_VERSION = b"7.0.15"
DEFAULT_USER = b"default"
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

#: flags of the commands that must work before authentication (Redis marks them no_auth)
_NO_AUTH = "noscript loading stale fast no_auth allow_busy"
_CLIENT = "noscript loading stale"
_CLIENT_ADMIN = "admin noscript loading stale"


# --- authentication ----------------------------------------------------------------------------


def password_required(ctx: Context) -> bool:
    return bool(ctx.config.requirepass)


def authenticate(ctx: Context, session: Session, user: bytes, password: bytes) -> None:
    """Redis' ACLAuthenticateUser for the default user only: with no password configured the
    default user is `nopass` (any password works); a failed attempt never logs a client out."""
    known_user = user == DEFAULT_USER
    if known_user and not password_required(ctx):
        session.authenticated = True
        return
    expected = ctx.config.requirepass.encode()
    if not (known_user and hmac.compare_digest(password, expected)):
        raise errors.WrongPass()
    session.authenticated = True


@table.command(
    "auth",
    -2,
    _NO_AUTH,
    summary="Authenticates the connection.",
    arguments=(("username", "string", "optional"), ("password", "string", "")),
)
def auth(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) > 2:
        raise errors.syntax_error()
    if len(args) == 1:
        if not password_required(ctx):
            raise errors.auth_without_password()
        args = [DEFAULT_USER, args[0]]
    authenticate(ctx, session, args[0], args[1])
    return OK


# --- PING, ECHO, QUIT, SELECT ------------------------------------------------------------------


@table.command(
    "ping",
    -1,
    "fast",
    summary="Returns the server's liveliness response.",
    arguments=(("message", "string", "optional"),),
    note="a subscribed RESP2 client's [pong, message] reply belongs to the pub/sub layer",
)
def ping(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) > 1:
        raise errors.wrong_arity("ping")
    return args[0] if args else PONG


@table.command(
    "echo",
    2,
    "loading stale fast",
    summary="Returns the given string.",
    arguments=(("message", "string", ""),),
)
def echo(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return args[0]


@table.command("quit", -1, _NO_AUTH, summary="Closes the connection.", since="1.0.0")
def quit_(ctx: Context, session: Session, args: list[bytes]) -> Any:
    session.close_after_reply = True
    return OK


@table.command(
    "select",
    2,
    "loading stale fast",
    summary="Changes the selected database.",
    arguments=(("index", "integer", ""),),
)
def select(ctx: Context, session: Session, args: list[bytes]) -> Any:
    index = to_int(args[0])
    if not INT_MIN <= index <= INT_MAX:  # Redis parses a C int here, not a long long
        raise errors.value_out_of_range(INT_MIN, INT_MAX)
    if not 0 <= index < ctx.config.databases:
        raise errors.db_out_of_range()
    session.db = index
    return OK


# --- RESET, HELLO ------------------------------------------------------------------------------


@table.command(
    "reset",
    1,
    _NO_AUTH,
    summary="Resets the connection.",
    since="6.2.0",
    note="also drops every higher layer's per-connection state (session.extra)",
)
def reset(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Back to a fresh connection's state, as Redis' clearClientConnectionState: RESP2, db 0,
    no name, logged out if a password is set, and every higher layer's per-connection state
    (MULTI, WATCH, subscriptions, consistency level) dropped. LIB-NAME/LIB-VER stay."""
    session.protocol = 2
    session.db = 0
    session.name = b""
    session.authenticated = not password_required(ctx)
    session.extra.clear()
    return Status("RESET")


def hello_map(session: Session) -> Map:
    return Map(
        [
            (b"server", SERVER_NAME),
            (b"version", SERVER_VERSION),
            (b"proto", session.protocol),
            (b"id", session.id),
            (b"mode", b"standalone"),
            (b"role", b"master"),
            (b"modules", []),
        ]
    )


def _parse_hello_options(args: list[bytes]) -> dict[str, list[bytes]]:
    """HELLO's `AUTH user pass` / `SETNAME name` options -> {"auth": [...], "setname": [...]}."""
    wanted = {"auth": 2, "setname": 1}
    found: dict[str, list[bytes]] = {}
    i = 0
    while i < len(args):
        option = args[i].decode("latin-1").lower()
        count = wanted.get(option)
        if count is None or len(args) - i - 1 < count:
            raise errors.hello_bad_option(args[i])
        found[option] = args[i + 1 : i + 1 + count]
        i += 1 + count
    return found


@table.command(
    "hello",
    -1,
    _NO_AUTH,
    summary="Handshakes with the server.",
    since="6.0.0",
    arguments=(
        ("protover", "integer", "optional"),
        ("AUTH username password", "string", "optional"),
        ("SETNAME clientname", "string", "optional"),
    ),
    note="reports server redis, version 7.0.15 so version-gated clients work",
)
def hello(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """Redis' order of checks: version, option syntax, AUTH, then "must be authenticated",
    then SETNAME; the protocol switch happens before the reply, so a HELLO 3 reply is a map."""
    version = 0
    if args:
        version = to_int(args[0], errors.hello_bad_protover())
        if version not in (2, 3):
            raise errors.NoProto()
    options = _parse_hello_options(args[1:])
    if "auth" in options:
        authenticate(ctx, session, *options["auth"])
    if not session.authenticated:
        raise errors.hello_noauth()
    if "setname" in options:
        session.name = checked_name(options["setname"][0], errors.bad_client_name())
    if version:
        session.protocol = version
    return hello_map(session)


# --- CLIENT ------------------------------------------------------------------------------------

table.container("client", summary="A container for client connection commands.", since="2.4.0")


def checked_name(value: bytes, error: errors.ReplyError) -> bytes:
    """Names and library attributes must keep CLIENT LIST parseable: printable ASCII, no space."""
    if any(c < 0x21 or c > 0x7E for c in value):
        raise error
    return value


@table.command(
    "client|id",
    2,
    _CLIENT,
    summary="Returns the unique client ID of the connection.",
    since="5.0.0",
)
def client_id(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return session.id


@table.command(
    "client|getname", 2, _CLIENT, summary="Returns the name of the connection.", since="2.6.9"
)
def client_getname(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return session.name or None


@table.command(
    "client|setname",
    3,
    _CLIENT,
    summary="Sets the connection name.",
    since="2.6.9",
    arguments=(("connection-name", "string", ""),),
)
def client_setname(ctx: Context, session: Session, args: list[bytes]) -> Any:
    session.name = checked_name(args[0], errors.bad_client_name())
    return OK


#: CLIENT SETINFO attribute -> Session field
_SETINFO_FIELDS = {b"lib-name": "lib_name", b"lib-ver": "lib_ver"}


@table.command(
    "client|setinfo",
    4,
    _CLIENT,
    summary="Sets information specific to the connection.",
    since="7.2.0",
    arguments=(("LIB-NAME libname", "string", ""), ("LIB-VER libver", "string", "")),
    note="Redis 7.2's command, served so clients' handshakes succeed",
)
def client_setinfo(ctx: Context, session: Session, args: list[bytes]) -> Any:
    attr, value = args
    field_name = _SETINFO_FIELDS.get(attr.lower())
    if field_name is None:
        raise errors.unrecognized_option(attr)
    setattr(session, field_name, checked_name(value, errors.bad_client_attr(attr)))
    return OK


def _flags(session: Session) -> str:
    """Redis' client flags that apply here: P subscribed, x in MULTI, b blocked, else N."""
    extra = session.extra
    flags = "".join(flag for key, flag in _FLAG_KEYS if extra.get(key))
    return flags or "N"


#: session.extra entries that show as CLIENT LIST flags (the order Redis prints them)
_FLAG_KEYS = ((transactions.MULTI, "x"), (lists.BLOCKED, "b"), (notify.SUBSCRIPTIONS, "P"))


def client_line(session: Session, now: float) -> str:
    """One CLIENT LIST / CLIENT INFO line, Redis 7's fields in Redis' order (buffer and memory
    fields are 0: the server owns the buffers); Redis 7.2's lib-name/lib-ver at the end."""
    subs = notify.subscriptions(session)
    tx = session.extra.get(transactions.MULTI)
    fields = [
        ("id", session.id),
        ("addr", session.addr),
        ("laddr", session.laddr),
        ("fd", session.fd),
        ("name", session.name.decode("latin-1")),
        ("age", int(now - session.created)),
        ("idle", int(now - session.last_interaction)),
        ("flags", _flags(session)),
        ("db", session.db),
        ("sub", len(subs.channels) if subs else 0),
        ("psub", len(subs.patterns) if subs else 0),
        ("ssub", 0),
        ("multi", len(tx.queue) if tx is not None else -1),
        ("qbuf", 0),
        ("qbuf-free", 0),
        ("argv-mem", 0),
        ("multi-mem", 0),
        ("rbs", 0),
        ("rbp", 0),
        ("obl", 0),
        ("oll", 0),
        ("omem", 0),
        ("tot-mem", 0),
        ("events", "r"),
        ("cmd", session.last_command),
        ("user", "default"),
        ("redir", -1),
        ("resp", session.protocol),
        ("lib-name", session.lib_name.decode("latin-1")),
        ("lib-ver", session.lib_ver.decode("latin-1")),
    ]
    return " ".join(f"{k}={v}" for k, v in fields)


def client_type(session: Session) -> str:
    """Redis' client classes: `pubsub` while subscribed, else `normal` (respdyn has no
    replicas on the client port)."""
    return "pubsub" if notify.subscriptions(session) else "normal"


#: the names CLIENT LIST/KILL TYPE accept (Redis' getClientTypeByName)
CLIENT_TYPES = {
    b"normal": "normal",
    b"slave": "replica",
    b"replica": "replica",
    b"master": "master",
    b"pubsub": "pubsub",
}


def parse_client_type(name: bytes) -> str:
    kind = CLIENT_TYPES.get(name.lower())
    if kind is None:
        raise errors.unknown_client_type(name)
    return kind


def _listing(lines: list[str]) -> Verbatim:
    return Verbatim("".join(f"{line}\n" for line in lines).encode("latin-1"))


@table.command(
    "client|info",
    2,
    _CLIENT,
    summary="Returns information about the connection.",
    since="6.2.0",
    support="differs",
    note="same line format as CLIENT LIST",
)
def client_info(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return _listing([client_line(session, time.monotonic())])


def _selected_clients(ctx: Context, args: list[bytes]) -> list[Session]:
    """CLIENT LIST's filters: none, `TYPE t`, or `ID id [id ...]` (Redis 7.0 takes one)."""
    if not args:
        return list(ctx.sessions)
    option = args[0].lower()
    if option == b"type" and len(args) == 2:
        kind = parse_client_type(args[1])
        return [s for s in ctx.sessions if client_type(s) == kind]
    if option == b"id" and len(args) >= 2:
        ids = [to_int(a, errors.invalid_client_id()) for a in args[1:]]
        found = (ctx.sessions.get(i) for i in ids)
        return [s for s in found if s is not None]
    raise errors.syntax_error()


@table.command(
    "client|list",
    -2,
    _CLIENT_ADMIN,
    summary="Lists open connections.",
    since="2.4.0",
    complexity="O(N) where N is the number of client connections",
    arguments=(
        ("TYPE type", "string", "optional"),
        ("ID client-id", "integer", "optional multiple"),
    ),
    support="differs",
    note=(
        "buffer/memory fields are 0; "
        "lib-name/lib-ver fields as Redis 7.2; no replica clients on the client port"
    ),
)
def client_list(ctx: Context, session: Session, args: list[bytes]) -> Any:
    now = time.monotonic()
    return _listing([client_line(s, now) for s in _selected_clients(ctx, args)])


# CLIENT KILL filters: option -> (session, parsed value) -> matches; parsers raise Redis' errors


def _parse_kill_id(value: bytes) -> int:
    client = to_int(value, errors.client_id_not_positive())
    if client < 1:
        raise errors.client_id_not_positive()
    return client


def _parse_user(value: bytes) -> bytes:
    if value != DEFAULT_USER:
        raise errors.no_such_user(value)
    return value


def _parse_skipme(value: bytes) -> bool:
    choice = {b"yes": True, b"no": False}.get(value.lower())
    if choice is None:
        raise errors.syntax_error()
    return choice


def _text(value: bytes) -> str:
    return value.decode("latin-1")


_KILL_FILTERS: dict[bytes, tuple[Callable[[bytes], Any], Callable[[Session, Any], bool]]] = {
    b"id": (_parse_kill_id, lambda s, v: s.id == v),
    b"type": (parse_client_type, lambda s, v: client_type(s) == v),
    b"addr": (_text, lambda s, v: s.addr == v),
    b"laddr": (_text, lambda s, v: s.laddr == v),
    b"user": (_parse_user, lambda s, v: True),
}


def _kill(ctx: Context, me: Session, victim: Session) -> None:
    """Close a client; the caller itself is closed only after its reply is sent."""
    if victim is me:
        me.close_after_reply = True
    else:
        victim.kill()


def _kill_by_filters(ctx: Context, me: Session, args: list[bytes]) -> int:
    filters: list[tuple[Callable[[Session, Any], bool], Any]] = []
    skipme = True
    for i in range(0, len(args), 2):
        option = args[i].lower()
        if i + 1 >= len(args):
            raise errors.syntax_error()
        if option == b"skipme":
            skipme = _parse_skipme(args[i + 1])
            continue
        entry = _KILL_FILTERS.get(option)
        if entry is None:
            raise errors.syntax_error()
        parse, matches = entry
        filters.append((matches, parse(args[i + 1])))
    killed = 0
    for victim in ctx.sessions:
        if (victim is me and skipme) or not all(m(victim, v) for m, v in filters):
            continue
        _kill(ctx, me, victim)
        killed += 1
    return killed


@table.command(
    "client|kill",
    -3,
    _CLIENT_ADMIN,
    summary="Terminates open connections.",
    since="2.4.0",
    complexity="O(N) where N is the number of client connections",
    arguments=(
        ("ip:port", "string", "optional"),
        ("ID client-id", "integer", "optional"),
        ("TYPE type", "string", "optional"),
        ("USER username", "string", "optional"),
        ("ADDR ip:port", "string", "optional"),
        ("LADDR ip:port", "string", "optional"),
        ("SKIPME yes/no", "string", "optional"),
    ),
)
def client_kill(ctx: Context, session: Session, args: list[bytes]) -> Any:
    """`CLIENT KILL addr` (old form: OK or `No such client`, may kill the caller) or filters
    (the number killed; the caller is skipped unless SKIPME no)."""
    if len(args) > 1:
        return _kill_by_filters(ctx, session, args)
    addr = args[0].decode("latin-1")
    for victim in ctx.sessions:
        if victim.addr == addr:
            _kill(ctx, session, victim)
            return OK
    raise errors.no_such_client()


_ON_OFF = {b"on": True, b"off": False}


def _on_off(value: bytes) -> bool:
    choice = _ON_OFF.get(value.lower())
    if choice is None:
        raise errors.syntax_error()
    return choice


@table.command(
    "client|no-evict",
    3,
    _CLIENT_ADMIN,
    summary="Sets the client eviction mode.",
    since="7.0.0",
    arguments=(("on", "pure-token", ""), ("off", "pure-token", "")),
    note="accepted and ignored: respdyn never evicts clients",
)
def client_no_evict(ctx: Context, session: Session, args: list[bytes]) -> Any:
    _on_off(args[0])
    return OK


@table.command(
    "client|no-touch",
    3,
    _CLIENT,
    summary="Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
    since="7.2.0",
    arguments=(("on", "pure-token", ""), ("off", "pure-token", "")),
    note="Redis 7.2; accepted and ignored: respdyn keeps no LRU/LFU data",
)
def client_no_touch(ctx: Context, session: Session, args: list[bytes]) -> Any:
    _on_off(args[0])
    return OK


@table.command(
    "client|help",
    2,
    "loading stale",
    summary="Returns helpful text about the different subcommands.",
    since="5.0.0",
)
def client_help(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return help_reply(ctx.registry.lookup("client"))  # type: ignore[arg-type]
