"""Every known way respdyn's replies differ from Redis 7.0's — declared here and nowhere else.

Each entry names the command (Redis' name, "container|sub" for subcommands), optionally the
calls it applies to, the normal form both replies are compared in (compat/normalise.py), and
why. `kind="design"` is a deliberate difference (also stated in the command table's note);
`kind="bug"` is a known incompatibility waiting for a fix: its description gives the input and
both replies, and compat.report lists it (and flags a declaration no run observed any more, so a
fixed bug's entry gets removed). A reply difference not covered here fails the suite.

Fixed since they were found here (kept as regression lines in the scenario files):
- WATCH aborted every EXEC of a key's only watcher (unwatch ran before the check);
- `RPOP key count` returned the popped elements in list order instead of pop order;
- COMMAND DOCS gave HSET/HMSET/ZADD/ZUNIONSTORE/ZINTERSTORE `block` arguments without
  `arguments`: redis-cli 7.0 started without a command died with SIGSEGV;
- in a cluster, OBJECT ENCODING of a key written by INCR answered `-ERR internal error`
  (no encoding for the counter kind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from compat import normalise as n

Args = list[bytes] | tuple[bytes, ...]


@dataclass(frozen=True)
class Difference:
    command: str
    normalise: n.Normaliser
    reason: str
    kind: str = "design"  #: "design", "timing" (the clock, not respdyn) or "bug"
    when: Callable[[Args], bool] | None = None  #: only calls for which this is true
    name: str = ""  #: distinguishes several entries of one command
    #: only when respdyn answers exactly one of these (a bug seen in particular replies)
    replies: tuple[bytes, ...] = ()

    @property
    def id(self) -> str:
        return self.name or self.kind


def arg(index: int, *values: str) -> Callable[[Args], bool]:
    """Calls whose argument `index` (0 = the command name) is one of `values` (any case)."""
    wanted = {v.lower().encode() for v in values}
    return lambda argv: len(argv) > index and argv[index].lower() in wanted


def has(*values: str) -> Callable[[Args], bool]:
    """Calls with any of `values` among their arguments (any case)."""
    wanted = {v.lower().encode() for v in values}
    return lambda argv: any(a.lower() in wanted for a in argv[1:])


D = Difference

DIFFERENCES: list[Difference] = [
    # --- by design: order and layout Redis leaves unspecified --------------------------------
    D("keys", n.unordered, "keys come in hash-slot order; Redis' order is its hash table's"),
    D("scan", n.kind_only, "a cursor the server never returned (negative, out of range): the Redis "
      "docs call this undefined behaviour", when=lambda argv: len(argv) > 1 and argv[1] != b"0",
      name="foreign-cursor"),
    D("scan", n.scan_page, "the cursor is a hash slot and batches follow slots, not Redis' "
      "table; a finished walk (cursor 0) returns the same keys"),
    D("randomkey", n.type_of, "uniform over hash slots; which key comes back is random anyway"),
    # --- by design: server-specific values ------------------------------------------------------
    D("info", n.kind_only, "a subset of Redis' fields plus respdyn_version (INFO is text)"),
    D("command", n.kind_only, "respdyn serves a subset of Redis' commands"),
    D("command|count", n.type_of, "respdyn serves a subset of Redis' commands"),
    D("command|list", n.type_of, "respdyn serves a subset of Redis' commands"),
    D("command|info", n.without_categories, "no command tips; ACL categories derived from "
      "flags (see TABLE_DIFFERENCES); key specs derived from the legacy positions (key-spec "
      "flags like `access`, `variable_flags`, `notes` missing)", name="table"),
    D("command|help", n.help_text, "lists respdyn's subcommands in its own words"),
    D("config|help", n.help_text, "lists respdyn's subcommands in its own words"),
    D("client|help", n.help_text, "lists respdyn's subcommands in its own words"),
    D("client|setinfo", n.newer_than_reference, "Redis 7.2's subcommand, served so clients' "
      "handshakes succeed (Redis 7.0: unknown subcommand)"),
    D("client|no-touch", n.newer_than_reference, "Redis 7.2's subcommand, accepted and ignored"),
    D("object|encoding", n.type_of, "derived from the value as SET would store it; Redis keeps "
      "`raw` for strings built by APPEND/SETRANGE and `embstr`/`int` depend on its history"),
    D("hgetall", n.unordered_pairs, "fields in respdyn's storage order (sorted); Redis returns "
      "small hashes in insertion order, large ones in hash-table order, and promises none"),
    D("hkeys", n.unordered, "as HGETALL: no promised order"),
    D("hvals", n.unordered, "as HGETALL: no promised order"),
    D("hrandfield", n.unordered_pairs, "random order (a count at least the hash's size returns "
      "every field)", when=has("WITHVALUES"), name="withvalues"),
    D("hrandfield", n.unordered, "random order (a count at least the hash's size returns every "
      "field)"),
    D("hscan", n.scan_page, "fields in respdyn's storage order (a finished scan compares the "
      "fields and values as a multiset)"),
    *[D(c, n.unordered, "set members come in no promised order (respdyn: sorted; Redis: "
        "intset order or hash-table order)") for c in ("smembers", "sinter", "sunion", "sdiff",
                                                       "spop", "srandmember")],
    D("sscan", n.scan_page, "set members in no promised order"),
    D("pubsub|channels", n.unordered, "channels in no promised order (Redis: its dict's)"),
    D("lpos", n.anything, "RANK -9223372036854775808: Redis 7.0 negates LONG_MIN (overflow) and "
      "answers as if RANK were -1; Redis 7.2 rejects it; respdyn answers nil",
      when=has("-9223372036854775808"), name="rank-overflow"),
    *[D(c, n.some_channel, "without arguments, one reply per channel in the server's own "
        "order (Redis: its dict's)", when=lambda argv: len(argv) == 1)
      for c in ("unsubscribe", "punsubscribe")],
    D("pubsub|help", n.help_text, "lists respdyn's subcommands (no SHARDCHANNELS/SHARDNUMSUB)"),
    D("object|idletime", n.type_of, "always 0: respdyn keeps no access times"),
    D("command|docs", n.kind_only, "respdyn's own summaries; no history or nested arguments"),
    D("config|get", n.kind_only, "respdyn's settings (Redis' names where Redis has them)"),
    D("time", n.shape, "the clock moves between the two requests"),
    D("lastsave", n.type_of, "each server's own last save time"),
    D("client|id", n.type_of, "each server numbers its own clients"),
    D("client|list", n.client_fields, "as CLIENT INFO (one line per subscriber)",
      when=has("pubsub"), name="pubsub"),
    D("client|list", n.type_of, "buffer/memory fields are 0; lib-name/lib-ver as Redis 7.2; "
      "other clients of the shared test server come and go",
      when=lambda argv: not has("pubsub")(argv)),
    D("client|info", n.client_fields, "ids, addresses, buffer and memory figures are each "
      "server's own (respdyn: buffers 0); lib-name/lib-ver added as Redis 7.2 does"),
    D("hello", n.masking(b"id"), "each server numbers its own clients", name="client-id"),
    D("pttl", n.within(1000), "milliseconds pass between the two requests", kind="timing"),
    D("client|kill", n.type_of, "SKIPME yes alone kills every other client: how many depends on "
      "the other connections of the per-worker test server at that moment (an earlier test's "
      "pooled client, a closing one); a CI run saw redis 1, respdyn 0", kind="timing",
      when=lambda argv: [a.lower() for a in argv[2:]] == [b"skipme", b"yes"],
      name="skipme-count"),
    # --- known bugs (the integrator fixes them; remove the entry with the fix) -----------------
]

#: clients or tools that fail against respdyn because of a known bug: the test checks the
#: failure is still the declared one (and fails once it is fixed, to remove the entry)
CLIENT_BUGS: dict[str, str] = {
    "redis-py Lock": "unsupported: redis-py's Lock acquires and releases with Lua scripts "
    "(EVALSHA, then EVAL): respdyn answers `unknown command 'evalsha'` (scripting is not "
    "implemented), so Lock, and the libraries built on it (Celery's, django-redis' lock()), fail",
    # fixed in 98d06e0: "redis-cli stdin/interactive": redis-cli 7.0 without a command died
    # with SIGSEGV parsing COMMAND DOCS (HSET/ZADD… `block` arguments without `arguments`)
}

#: INFO fields Redis 7.0 has that respdyn leaves out, among those clients read
#: (compat/test_clients.py INFO_FIELDS), and why
INFO_MISSING: dict[str, str] = {
}

#: commands the compat suite deliberately never sends, with the reason (the report shows it)
NOT_EXERCISED: dict[str, str] = {
    "shutdown": "stops the server under test; covered by tests/commands/test_server.py",
    "debug": "Redis 7.0 refuses DEBUG unless enable-debug-command; respdyn serves SLEEP/HELP",
}

#: COMMAND INFO deltas (compat/test_command_table.py `table_delta`: what respdyn lacks (-) or
#: adds (+) against Redis 7.0, in flags and ACL categories) and why. respdyn derives ACL
#: categories from flags and group (respdyn.commands.spec.acl_categories); Redis lists extra
#: ones per command in its JSON files. ACL is not implemented, so no client behaviour depends
#: on the categories yet; they matter once ACL lands.
_ACL = ("design (COMMAND INFO's note): respdyn derives ACL categories from flags and group; "
        "Redis lists extra ones per command")
_CONTAINER = ("design (COMMAND INFO's note): Redis gives a container command only @slow; "
              "respdyn adds its group's category")
TABLE_DIFFERENCES: dict[str, tuple[str, str]] = {
    "bgsave": ("flags -no_async_loading", "design: respdyn never loads asynchronously, the "
               "flag is not in its flag set"),
    "save": ("flags -no_async_loading", "design: respdyn never loads asynchronously, the "
             "flag is not in its flag set"),
    "client": ("acl +@connection", _CONTAINER),
    "object": ("acl +@keyspace", _CONTAINER),
    "pubsub": ("acl +@pubsub", _CONTAINER),
    "pubsub|help": ("acl +@pubsub", _ACL),
    "command": ("acl -@connection", _ACL),
    **{f"command|{sub}": ("acl -@connection", _ACL)
       for sub in ("count", "docs", "getkeys", "help", "info", "list")},
    "dbsize": ("acl -@keyspace", _ACL),
    "flushall": ("acl -@dangerous -@keyspace", _ACL),
    "flushdb": ("acl -@dangerous -@keyspace", _ACL),
    "info": ("acl -@dangerous", _ACL),
    "lastsave": ("acl -@admin -@dangerous", _ACL),
    "keys": ("acl -@dangerous", _ACL),  # KEYS has no admin flag, so no derived @dangerous
}


def candidates(command: str, argv: Args, reply: bytes = b"") -> list[Difference]:
    """The declared differences that apply to this call (and respdyn's raw reply), in the
    order they are tried: entries naming respdyn's exact reply first, then file order (design
    entries before the bug entries that loosen them)."""
    return [
        diff for diff in sorted(DIFFERENCES, key=lambda d: not d.replies)
        if diff.command == command and (not diff.replies or reply in diff.replies)
        and (diff.when is None or diff.when(argv))
    ]


def find(command: str, argv: Args, reply: bytes = b"") -> Difference | None:
    """The first declared difference for this call, or None."""
    found = candidates(command, argv, reply)
    return found[0] if found else None


def declared_for(command: str) -> list[Difference]:
    return [d for d in DIFFERENCES if d.command == command]
