"""The declaration of one command: everything COMMAND, COMMAND DOCS, the dispatcher and the
compatibility table in docs need, stated once (Redis' command table, without its JSON files).

Arity follows Redis: a positive number is the exact argument count including the command name;
a negative one is the minimum (`-2` = the name and at least one argument). For a subcommand the
count includes the container and subcommand names (`CLIENT SETNAME name` has arity 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from respdyn.commands.context import Context
    from respdyn.session import Session

#: handler(ctx, session, args) -> reply value; `args` excludes the command (and subcommand) name.
Handler = Callable[["Context", "Session", list[bytes]], Any]

#: Redis' command flags that respdyn uses; COMMAND INFO shows them as given.
KNOWN_FLAGS = frozenset(
    {
        "write", "readonly", "denyoom", "admin", "pubsub", "noscript", "blocking", "loading",
        "stale", "skip_monitor", "skip_slowlog", "fast", "no_auth", "may_replicate",
        "no_mandatory_keys", "no_multi", "movablekeys", "allow_busy", "module",
    }
)

#: respdyn's own support levels, shown in docs/commands.md.
SUPPORT_LEVELS = ("identical", "differs", "respdyn")


@dataclass(frozen=True, slots=True)
class KeySpec:
    """Legacy key positions (first, last, step) as COMMAND INFO reports them; last -1 = to the
    end, step 2 for key/value pairs (MSET)."""

    first: int = 0
    last: int = 0
    step: int = 0

    def keys_of(self, argv: list[bytes]) -> list[bytes]:
        """The key arguments of a full argv (name included), for WATCH/cluster routing."""
        if self.first == 0:
            return []
        last = self.last if self.last >= 0 else len(argv) + self.last
        return argv[self.first : last + 1 : self.step]


    def keys_in_args(self, args: list[bytes]) -> list[bytes]:
        """The same, for `args` without the command name (what handlers receive)."""
        if self.first == 0 or len(args) < self.first:
            return []
        last = self.last - 1 if self.last >= 0 else len(args) + self.last
        return args[self.first - 1 : last + 1 : self.step]


NO_KEYS = KeySpec()


@dataclass(frozen=True)
class CommandSpec:
    name: str  #: lower case; subcommands are "container|sub" as in Redis 7
    arity: int
    handler: Handler | None
    group: str  #: Redis' group: string, generic, connection, server, hash, list, ...
    summary: str
    flags: frozenset[str] = frozenset()
    keys: KeySpec = NO_KEYS
    since: str = "1.0.0"
    complexity: str = ""
    #: documentation of the arguments for COMMAND DOCS (redis-cli hints): (name, type, flags)
    arguments: tuple[tuple[str, str, str], ...] = ()
    #: how respdyn's behaviour compares with Redis: "identical", "differs" (note says why)
    #: or "respdyn" (respdyn's own command)
    support: str = "identical"
    note: str = ""
    subcommands: dict[str, CommandSpec] = field(default_factory=dict)
    #: the handler may wait for other greenlets even on a single node (DEBUG SLEEP); such a
    #: command, like a blocking one, never runs in the event loop's callback (connection.py)
    yields: bool = False

    @property
    def locks_keys(self) -> bool:
        """Writes hold their keys' locks while running (respdyn/keyspace/locks.py); blocking
        commands take them themselves, around each attempt, never while waiting."""
        return "write" in self.flags and "blocking" not in self.flags and self.keys.first > 0

    def __post_init__(self) -> None:
        unknown = self.flags - KNOWN_FLAGS
        if unknown:
            raise ValueError(f"{self.name}: unknown flags {sorted(unknown)}")
        if self.support not in SUPPORT_LEVELS:
            raise ValueError(f"{self.name}: support must be one of {SUPPORT_LEVELS}")

    @property
    def may_wait(self) -> bool:
        """May switch greenlets on a single node: blocking pops and `yields` commands."""
        return self.yields or "blocking" in self.flags

    @property
    def is_container(self) -> bool:
        return bool(self.subcommands)

    @property
    def display_name(self) -> str:
        return self.name.split("|")[-1]

    def arity_ok(self, argc: int) -> bool:
        return argc == self.arity if self.arity >= 0 else argc >= -self.arity

    def acl_categories(self) -> list[str]:
        """Derived the way Redis derives its implicit categories from flags and group."""
        cats = []
        if "write" in self.flags:
            cats.append("@write")
        if "readonly" in self.flags:
            cats.append("@read")
        if "admin" in self.flags:
            cats += ["@admin", "@dangerous"]
        if "pubsub" in self.flags:
            cats.append("@pubsub")
        if "fast" in self.flags:
            cats.append("@fast")
        else:
            cats.append("@slow")
        if "blocking" in self.flags:
            cats.append("@blocking")
        group_cat = {
            "string": "@string", "generic": "@keyspace", "hash": "@hash", "list": "@list",
            "set": "@set", "sorted_set": "@sortedset", "connection": "@connection",
            "transactions": "@transaction", "pubsub": "@pubsub",
        }.get(self.group)
        if group_cat and group_cat not in cats:
            cats.insert(0, group_cat)
        return cats
