"""Everything derived from the command declarations: COMMAND / COMMAND INFO / COMMAND DOCS
replies, the HELP texts of container commands, and the compatibility table in docs/commands.md.

Declaring a command once (`CommandSpec`) is only worth it if nothing restates it by hand, so
every one of these is generated here from the registry; the compat test compares the same
specs with a live Redis' COMMAND INFO.

Shapes follow Redis 7.0: COMMAND INFO entries are
`[name, arity, flags, first, last, step, acl categories, tips, key specs, subcommands]`, with
flags and categories as sets of status strings (arrays in RESP2) and key specs as maps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from respdyn.commands.registry import Registry
from respdyn.commands.spec import CommandSpec
from respdyn.protocol.reply import Map, Set, Status

#: the order in which Redis 7.0 prints command flags (server.c's flag name table)
FLAG_ORDER = (
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "fast",
    "no_auth",
    "may_replicate",
    "no_mandatory_keys",
    "no_multi",
    "allow_busy",
    "movablekeys",
)


def ordered_flags(spec: CommandSpec) -> list[str]:
    """The spec's flags in Redis' order, so COMMAND INFO reads like Redis' own."""
    return [flag for flag in FLAG_ORDER if flag in spec.flags]


# --- COMMAND / COMMAND INFO --------------------------------------------------------------------


def key_specs(spec: CommandSpec) -> list[Map]:
    """One range key spec derived from the legacy (first, last, step) positions.

    Redis 7 declares key specs per command (with access flags such as RW/RM/OW); respdyn has
    only the legacy positions, so the access flags are approximated from readonly/write."""
    keys = spec.keys
    if keys.first == 0:
        return []
    access = ["RO", "access"] if "readonly" in spec.flags else ["RW", "update"]
    lastkey = keys.last if keys.last < 0 else keys.last - keys.first
    return [
        Map(
            [
                (b"flags", Set([Status(f) for f in access])),
                (
                    b"begin_search",
                    Map([(b"type", b"index"), (b"spec", Map([(b"index", keys.first)]))]),
                ),
                (
                    b"find_keys",
                    Map(
                        [
                            (b"type", b"range"),
                            (
                                b"spec",
                                Map(
                                    [(b"lastkey", lastkey), (b"keystep", keys.step), (b"limit", 0)]
                                ),
                            ),
                        ]
                    ),
                ),
            ]
        )
    ]


#: the order in which Redis 7.0 lists ACL categories (acl.c's category table)
ACL_ORDER = (
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
)


def ordered_categories(spec: CommandSpec) -> list[str]:
    """The spec's ACL categories in Redis' order (unknown ones last, as given)."""
    rank = {f"@{name}": i for i, name in enumerate(ACL_ORDER)}
    return sorted(spec.acl_categories(), key=lambda c: rank.get(c, len(rank)))


def command_info(spec: CommandSpec) -> list[Any]:
    """One COMMAND INFO entry. Subcommands are an array for containers and an empty set for
    the others: Redis 7.0's exact RESP3 types."""
    subcommands = [command_info(sub) for sub in spec.subcommands.values()]
    return [
        spec.name.encode(),
        spec.arity,
        Set([Status(f) for f in ordered_flags(spec)]),
        spec.keys.first,
        spec.keys.last,
        spec.keys.step,
        Set([Status(c) for c in ordered_categories(spec)]),
        Set([]),  # command tips: respdyn declares none
        Set(key_specs(spec)),
        subcommands if subcommands else Set([]),
    ]


def lookup_full_name(registry: Registry, name: bytes) -> CommandSpec | None:
    """`get` or `client|id` (any case) -> its spec, as COMMAND INFO/DOCS accept names."""
    text = name.decode("latin-1").lower()
    parent, _, sub = text.partition("|")
    spec = registry.lookup(parent)
    if spec is None or not sub:
        return spec
    return spec.subcommands.get(sub)


def all_names(registry: Registry) -> Iterable[tuple[str, CommandSpec]]:
    """Every command and subcommand (`client|id`) with its spec: COMMAND LIST's universe."""
    for spec in registry:
        yield spec.name, spec
        for sub in spec.subcommands.values():
            yield sub.name, sub


# --- COMMAND DOCS ------------------------------------------------------------------------------


def _argument_doc(name: str, kind: str, flags: str) -> Map:
    """One argument's doc map. `TOKEN value` names become a token plus a value name, so that
    redis-cli's hints print `[AUTH username password]` from ("AUTH username password", ...)."""
    pairs: list[tuple[bytes, Any]] = []
    head, _, rest = name.partition(" ")
    if kind == "pure-token":
        pairs += [
            (b"name", name.lower().encode()),
            (b"type", b"pure-token"),
            (b"token", name.upper().encode()),
        ]
    elif rest and head.isupper():
        pairs += [(b"name", rest.encode()), (b"type", kind.encode()), (b"token", head.encode())]
    else:
        pairs += [(b"name", name.encode()), (b"type", kind.encode())]
    if kind == "key":
        pairs.append((b"key_spec_index", 0))
    if flags:
        pairs.append((b"flags", Set([Status(f) for f in flags.split()])))
    return Map(pairs)


def command_doc(spec: CommandSpec) -> Map:
    """COMMAND DOCS' map for one command (summary, since, group, complexity, arguments,
    subcommands), the fields redis-cli reads for its hints."""
    pairs: list[tuple[bytes, Any]] = [
        (b"summary", spec.summary.encode()),
        (b"since", spec.since.encode()),
        (b"group", spec.group.encode()),
        (b"complexity", (spec.complexity or "O(1)").encode()),
    ]
    if spec.arguments:
        pairs.append((b"arguments", [_argument_doc(*a) for a in spec.arguments]))
    if spec.subcommands:
        pairs.append(
            (
                b"subcommands",
                Map([(s.name.encode(), command_doc(s)) for s in spec.subcommands.values()]),
            )
        )
    return Map(pairs)


# --- HELP replies ------------------------------------------------------------------------------


def usage(spec: CommandSpec) -> str:
    """`SETNAME connection-name`-style usage line from the documented arguments."""
    words = [spec.display_name.upper()]
    for name, kind, flags in spec.arguments:
        text = name.upper() if kind == "pure-token" else name
        if "multiple" in flags.split():
            text = f"{text} [{text} ...]"
        if "optional" in flags.split():
            text = f"[{text}]"
        words.append(text)
    return " ".join(words)


def help_reply(container: CommandSpec) -> list[bytes]:
    """A container's HELP, in Redis' layout, listing the subcommands respdyn serves."""
    name = container.name.upper()
    lines = [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
    for sub in container.subcommands.values():
        if sub.display_name == "help":
            continue
        lines += [usage(sub), f"    {sub.summary}"]
    lines += ["HELP", "    Prints this help."]
    return [line.encode() for line in lines]


# --- docs/commands.md --------------------------------------------------------------------------


def _flags_cell(spec: CommandSpec) -> str:
    return " ".join(ordered_flags(spec)) or "-"


def _keys_cell(spec: CommandSpec) -> str:
    keys = spec.keys
    return "-" if keys.first == 0 else f"{keys.first},{keys.last},{keys.step}"


def _row(spec: CommandSpec) -> str:
    label = spec.name.replace("|", " ").upper()
    note = spec.note.replace("|", "\\|").replace("\n", " ")
    cells = [
        f"`{label}`",
        spec.group,
        str(spec.arity),
        _flags_cell(spec),
        _keys_cell(spec),
        spec.support if spec.handler is not None else "container",
        note,
    ]
    return "| " + " | ".join(cells) + " |"


def commands_markdown(registry: Registry) -> str:
    """docs/commands.md: every command and subcommand with group, arity, flags, key positions,
    support level and note; totals on top. Generated, never edited by hand."""
    rows: list[str] = []
    counts = {"identical": 0, "differs": 0, "respdyn": 0}
    for _, spec in all_names(registry):
        rows.append(_row(spec))
        if spec.handler is not None:
            counts[spec.support] += 1
    total = sum(counts.values())
    lines = [
        "# Commands",
        "",
        "Generated by `scripts/gen_commands_doc.py` from the command registry; do not edit by",
        "hand (a test fails when this file is out of date).",
        "",
        f"**{total} commands** (subcommands counted, pure containers not): "
        f"{counts['identical']} identical to Redis 7, {counts['differs']} differ "
        f"(see the notes), {counts['respdyn']} respdyn's own.",
        "",
        "Arity uses Redis' convention (negative = at least). Keys are the legacy",
        "first,last,step positions of COMMAND INFO.",
        "",
        "| command | group | arity | flags | keys | support | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]
    return "\n".join(lines)
