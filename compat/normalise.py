"""Normal forms for replies whose exact bytes differ by design: each keeps what clients may
rely on (the type, the set of elements, a field's presence) and drops what they may not (order
Redis leaves unspecified, server-specific numbers). differences.py names one per difference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compat.resp import Tagged

Normaliser = Callable[[Any], Any]


def type_of(value: Any) -> str:
    """The RESP type of a reply (RESP3 null and RESP2 nil both read as "null")."""
    if value is None:
        return "null"
    if isinstance(value, Tagged):
        return {"+": "status", "-": "error", ",": "double", "(": "bignum", "=": "verbatim",
                "%": "map", "~": "set", ">": "push", "#": "bool", "|": "attribute"}[value.kind]
    return {bytes: "bulk", int: "integer", list: "array"}[type(value)]


def kind_only(value: Any) -> Any:
    """Only the top-level type: INFO's text, COMMAND's table, CONFIG GET's pairs."""
    return type_of(value)


def shape(value: Any) -> Any:
    """The structure with every leaf replaced by its type (lengths kept)."""
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, Tagged) and value.kind in "%~>":
        items = value.value
        if value.kind == "%":
            return ("map", [(shape(k), shape(v)) for k, v in items])
        return (type_of(value), [shape(v) for v in items])
    return type_of(value)


def _key(value: Any) -> Any:
    return repr(value)


def unordered(value: Any) -> Any:
    """Arrays, sets and maps compared as multisets (KEYS, SMEMBERS-like replies)."""
    if isinstance(value, list):
        return ("array", sorted(value, key=_key))
    if isinstance(value, Tagged) and value.kind in "~%":
        return (value.kind, sorted(value.value, key=_key))
    return value


def scan_page(value: Any) -> Any:
    """SCAN's [cursor, keys]: a finished walk (cursor 0 on both sides) compares the key set;
    a page in the middle of a walk compares its shape (batches depend on the hash layout)."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
        if value[0] == b"0":
            return ["0", unordered(value[1])]
        return ["cursor", "keys"]
    return value


def error_only(value: Any) -> Any:
    """An error reply whose text may differ; a success must still match exactly."""
    if isinstance(value, Tagged) and value.kind == "-":
        return "error"
    return value


def within(tolerance: int) -> Normaliser:
    """Integers that measure time (PTTL): equal within `tolerance` (bucketed)."""

    def norm(value: Any) -> Any:
        if isinstance(value, int) and value >= 0:
            return ("about", round(value / tolerance))
        return value

    return norm


def masking(*fields: bytes) -> Normaliser:
    """Map replies (HELLO) with the named fields' values replaced by their types."""

    def mask_pairs(pairs: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        return [(k, type_of(v) if k in fields else v) for k, v in pairs]

    def norm(value: Any) -> Any:
        if isinstance(value, Tagged) and value.kind == "%":
            return ("map", mask_pairs(value.value))
        if isinstance(value, list) and len(value) % 2 == 0:
            return ("map", mask_pairs(list(zip(value[::2], value[1::2], strict=True))))
        return value

    return norm


def lines_fields(value: Any) -> Any:
    """CLIENT LIST/INFO: the number of lines and the field names of each line, in order."""
    text = value.value if isinstance(value, Tagged) and value.kind == "=" else value
    if not isinstance(text, bytes):
        return value
    if isinstance(value, Tagged):
        text = text[4:]  # verbatim "txt:" prefix
    return [[f.split(b"=", 1)[0] for f in line.split()] for line in text.splitlines()]


def command_info(value: Any) -> Any:
    """COMMAND INFO entries: name, arity, flags (as a set), first/last/step key and ACL
    categories (as a set); tips, key specs and subcommands dropped."""
    if not isinstance(value, list):
        return value
    out = []
    for entry in value:
        if not isinstance(entry, list) or len(entry) < 7:
            out.append(entry)
            continue
        name, arity, flags, first, last, step, cats = entry[:7]
        out.append([name, arity, _members(flags), first, last, step, _members(cats)])
    return out


def without_categories(value: Any) -> Any:
    """COMMAND INFO as command_info, ACL categories left out (compat/test_command_table.py
    compares them against declared deltas)."""
    return [e[:6] if isinstance(e, list) else e for e in command_info(value)]


def _members(value: Any) -> Any:
    items = value.value if isinstance(value, Tagged) else value
    return sorted(v.value if isinstance(v, Tagged) else v for v in items)


def help_text(value: Any) -> Any:
    """A HELP reply: an array of lines whose text is the server's own."""
    if isinstance(value, list):
        return "help lines"
    return value


def newer_than_reference(value: Any) -> Any:
    """A Redis 7.2 command that Redis 7.0 does not know: 7.0's "unknown subcommand" error and
    respdyn's success both mean "a 7.2 command"; any other reply is kept."""
    if isinstance(value, Tagged) and (
        (value.kind == "-" and b"unknown subcommand" in value.value)
        or (value.kind == "+" and value.value == b"OK")
    ):
        return "redis-7.2 command"
    return value


def anything(value: Any) -> Any:
    """Known bugs only: both replies are recorded (and shown in the report), not compared."""
    return "bug"


def unordered_pairs(value: Any) -> Any:
    """Field/value replies in no promised order (HGETALL, HRANDFIELD … WITHVALUES): RESP2's
    flat array, RESP3's map or array of pairs, all compared as a sorted list of pairs."""
    if isinstance(value, Tagged) and value.kind == "%":
        pairs = list(value.value)
    elif isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        pairs = [tuple(v) for v in value]
    elif isinstance(value, list) and len(value) % 2 == 0:
        pairs = list(zip(value[::2], value[1::2], strict=True))
    else:
        return value
    return ("pairs", sorted(pairs, key=_key))


def some_channel(value: Any) -> Any:
    """[unsubscribe, channel, count] with the channel left out: UNSUBSCRIBE without arguments
    leaves the channels in the server's own order, one reply each."""
    items = value.value if isinstance(value, Tagged) and value.kind == ">" else value
    if isinstance(items, list) and len(items) == 3:
        return [items[0], "a channel", items[2]]
    return value


#: CLIENT INFO/LIST fields whose values are the server's own (ids, addresses, buffers, ages)
_CLIENT_VOLATILE = {b"id", b"addr", b"laddr", b"fd", b"age", b"idle", b"qbuf", b"qbuf-free",
                    b"argv-mem", b"multi-mem", b"rbs", b"rbp", b"obl", b"oll", b"omem",
                    b"tot-mem"}
#: fields respdyn adds as Redis 7.2 does
_CLIENT_NEWER = {b"lib-name", b"lib-ver"}


def client_fields(value: Any, ignored: frozenset[bytes] = frozenset()) -> Any:
    """CLIENT INFO lines: the same fields in the same order, the same values where they are
    not the server's own (name, flags, db, sub, psub, multi, events, cmd, user, resp)."""
    text = value.value if isinstance(value, Tagged) and value.kind == "=" else value
    if not isinstance(text, bytes):
        return value
    if isinstance(value, Tagged):
        text = text[4:]  # verbatim "txt:" prefix
    lines = []
    for line in text.splitlines():
        fields = [f.partition(b"=") for f in line.split(b" ")]
        lines.append([(k, "…" if k in _CLIENT_VOLATILE | ignored else v)
                      for k, _, v in fields if k not in _CLIENT_NEWER])
    return (type_of(value), lines)


def client_fields_except(*names: bytes) -> Normaliser:
    """client_fields with the named fields' values left out too (a known bug in them)."""
    return lambda value: client_fields(value, frozenset(names))
