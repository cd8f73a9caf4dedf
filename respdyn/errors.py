"""Every error a client can see, as typed exceptions carrying Redis' prefix and exact text.

Clients and tools match on these bytes (kvrocks broke go-redis by rewording one), so the texts
are Redis 7's, copied from its replies, and this module is the only place that spells them.
The encoder turns a `ReplyError` into `-PREFIX message\\r\\n`; nothing else formats errors.

Two families:
- `ProtocolError`: garbage from the peer. The connection replies, then closes (as Redis does).
- every other `ReplyError`: a client mistake. The connection replies and stays open.
"""

from __future__ import annotations


def _one_line(text: str) -> str:
    """An error reply is one line: user bytes must not smuggle CR/LF into it."""
    return text.replace("\r", " ").replace("\n", " ")


def shown(arg: bytes | str, limit: int | None = None) -> str:
    """Render a client-supplied argument for an error text, at most `limit` bytes of it.
    Lossless: surrogateescape keeps non-UTF-8 bytes, and the encoder writes them back as they
    came (Redis echoes raw bytes)."""
    if isinstance(arg, bytes):
        arg = (arg if limit is None else arg[:limit]).decode("utf-8", "surrogateescape")
    return _one_line(arg)


class ReplyError(Exception):
    """An error sent to the client as `-PREFIX message`."""

    prefix = "ERR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = _one_line(message)

    def resp_text(self) -> str:
        return f"{self.prefix} {self.message}"


class ProtocolError(ReplyError):
    """Malformed request bytes: reply `-ERR Protocol error: ...`, then close the connection."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Protocol error: {message}")


class HttpProbe(Exception):
    """First word `POST` or `Host:`: a cross-protocol attack; close without replying."""


class WrongType(ReplyError):
    prefix = "WRONGTYPE"

    def __init__(self) -> None:
        super().__init__("Operation against a key holding the wrong kind of value")


class NoAuth(ReplyError):
    prefix = "NOAUTH"

    def __init__(self, message: str = "Authentication required.") -> None:
        super().__init__(message)


class WrongPass(ReplyError):
    prefix = "WRONGPASS"

    def __init__(self) -> None:
        super().__init__("invalid username-password pair or user is disabled.")


class ExecAbort(ReplyError):
    prefix = "EXECABORT"

    def __init__(self) -> None:
        super().__init__("Transaction discarded because of previous errors.")


class NoQuorum(ReplyError):
    """respdyn's own: fewer replicas answered than the consistency level requires."""

    prefix = "NOQUORUM"

    def __init__(self, got: int, needed: int, what: str = "acknowledged") -> None:
        super().__init__(f"{got} of {needed} required replicas {what}")


class Misconf(ReplyError):
    """Persistence failed (e.g. fsync error): writes are refused, as Redis does after a bad save."""

    prefix = "MISCONF"


class Busy(ReplyError):
    prefix = "BUSY"


class Denied(ReplyError):
    """protected-mode: no password set and a non-loopback client; sent on accept, then close.
    Redis 7.0's text, typo ("Setup a an") included: clients compare the bytes."""

    prefix = "DENIED"

    def __init__(self) -> None:
        super().__init__(
            "Redis is running in protected mode because protected mode is enabled and no "
            "password is set for the default user. In this mode connections are only accepted "
            "from the loopback interface. If you want to connect from external computers to "
            "Redis you may adopt one of the following solutions: 1) Just disable protected mode "
            "sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
            "connecting to Redis from the same host the server is running, however MAKE SURE "
            "Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to "
            "make this change permanent. 2) Alternatively you can just disable the protected "
            "mode by editing the Redis configuration file, and setting the protected mode option "
            "to 'no', and then restarting the server. 3) If you started the server manually just "
            "for testing, restart it with the '--protected-mode no' option. 4) Setup a an "
            "authentication password for the default user. NOTE: You only need to do one of the "
            "above things in order for the server to start accepting connections from the "
            "outside."
        )


def max_clients_reached() -> ReplyError:
    """Sent on accept when `maxclients` are connected, then the connection is closed."""
    return ReplyError("max number of clients reached")


class NoProto(ReplyError):
    prefix = "NOPROTO"

    def __init__(self) -> None:
        super().__init__("unsupported protocol version")


# --- the common ERR texts, one constructor each ---------------------------------------------


def syntax_error() -> ReplyError:
    return ReplyError("syntax error")


def not_integer() -> ReplyError:
    return ReplyError("value is not an integer or out of range")


def not_float() -> ReplyError:
    return ReplyError("value is not a valid float")


def overflow() -> ReplyError:
    return ReplyError("increment or decrement would overflow")


def wrong_arity(name: str) -> ReplyError:
    return ReplyError(f"wrong number of arguments for '{name.lower()}' command")


def unknown_command(name: bytes, args: list[bytes]) -> ReplyError:
    """Redis' text: the name cut at 128 bytes, then arguments while the list is under 128
    bytes, each cut to what is left of those 128 (server.c, processCommand)."""
    listed = b""
    for arg in args:
        if len(listed) >= 128:
            break
        listed += b"'" + arg[: 128 - len(listed)] + b"' "
    return ReplyError(
        f"unknown command '{shown(name, 128)}', with args beginning with: {shown(listed)}"
    )


def unknown_subcommand(sub: bytes, container: str) -> ReplyError:
    return ReplyError(f"unknown subcommand '{shown(sub, 128)}'. Try {container.upper()} HELP.")


def invalid_expire(command: str) -> ReplyError:
    return ReplyError(f"invalid expire time in '{command.lower()}' command")


def db_out_of_range() -> ReplyError:
    return ReplyError("DB index is out of range")


def string_too_long() -> ReplyError:
    return ReplyError("string exceeds maximum allowed size (proto-max-bulk-len)")


def no_such_key() -> ReplyError:
    return ReplyError("no such key")


# --- connection and server commands ----------------------------------------------------------


def auth_without_password() -> ReplyError:
    return ReplyError(
        "AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?"
    )


def hello_noauth() -> NoAuth:
    return NoAuth(
        "HELLO must be called with the client already authenticated, otherwise the HELLO "
        "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
        "protocol version at the same time"
    )


def hello_bad_protover() -> ReplyError:
    return ReplyError("Protocol version is not an integer or out of range")


def hello_bad_option(opt: bytes) -> ReplyError:
    return ReplyError(f"Syntax error in HELLO option '{shown(opt)}'")


def bad_client_name() -> ReplyError:
    return ReplyError("Client names cannot contain spaces, newlines or special characters.")


def bad_client_attr(attr: bytes) -> ReplyError:
    return ReplyError(f"{shown(attr)} cannot contain spaces, newlines or special characters.")


def unrecognized_option(opt: bytes) -> ReplyError:
    return ReplyError(f"Unrecognized option '{shown(opt)}'")


def unknown_client_type(name: bytes) -> ReplyError:
    return ReplyError(f"Unknown client type '{shown(name)}'")


def invalid_client_id() -> ReplyError:
    return ReplyError("Invalid client ID")


def client_id_not_positive() -> ReplyError:
    return ReplyError("client-id should be greater than 0")


def no_such_client() -> ReplyError:
    return ReplyError("No such client")


def no_such_user(name: bytes) -> ReplyError:
    return ReplyError(f"No such user '{shown(name)}'")


def config_set_unknown(name: bytes) -> ReplyError:
    return ReplyError(f"Unknown option or number of arguments for CONFIG SET - '{shown(name)}'")


def config_set_failed(name: bytes, reason: str) -> ReplyError:
    return ReplyError(
        f"CONFIG SET failed (possibly related to argument '{shown(name)}') - {reason}"
    )


def getkeys_invalid_command() -> ReplyError:
    return ReplyError("Invalid command specified")


def getkeys_bad_arity() -> ReplyError:
    return ReplyError("Invalid number of arguments specified for command")


def getkeys_no_keys() -> ReplyError:
    return ReplyError("The command has no key arguments")


# --- strings and keys -------------------------------------------------------------------------


def offset_out_of_range() -> ReplyError:
    return ReplyError("offset is out of range")


def nan_or_infinity() -> ReplyError:
    return ReplyError("increment would produce NaN or Infinity")


def decrement_overflow() -> ReplyError:
    """DECRBY with LLONG_MIN: its negation does not fit."""
    return ReplyError("decrement would overflow")


def expire_nx_conflict() -> ReplyError:
    return ReplyError("NX and XX, GT or LT options at the same time are not compatible")


def expire_gt_lt_conflict() -> ReplyError:
    return ReplyError("GT and LT options at the same time are not compatible")


def unsupported_option(option: bytes) -> ReplyError:
    return ReplyError(f"Unsupported option {shown(option)}")


def same_object() -> ReplyError:
    return ReplyError("source and destination objects are the same")


def invalid_cursor() -> ReplyError:
    return ReplyError("invalid cursor")


def lfu_not_selected() -> ReplyError:
    return ReplyError(
        "An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
        "that when switching between policies at runtime LRU and LFU data will take some "
        "time to adjust."
    )


def value_out_of_range(low: int, high: int) -> ReplyError:
    """Redis' getRangeLongFromObjectOrReply without a custom message (e.g. COPY ... DB n)."""
    return ReplyError(f"value is out of range, value must between {low} and {high}")
