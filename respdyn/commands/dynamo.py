"""respdyn's own commands: versions (SIBLINGS, RESOLVE), per-client quorums (CONSISTENCY) and
the DYNAMO admin container (RING, MEMBERS, PREFLIST, LOCAL, CLOCK, HINTS, TRANSFERS, LEAVE, REMOVE,
DEBUG, HELP).

They work on a single node too, answering as a one-node ring (N = R = W = 1, one sibling, an
empty context token), so clients need not know how the server was started.
See docs/cluster-protocol.md for the sibling rules and the context token.
"""

from __future__ import annotations

from typing import Any

from respdyn import errors
from respdyn.cluster import dvv
from respdyn.cluster.hashing import SLOTS, key_slot
from respdyn.commands.args import to_int
from respdyn.commands.context import Context
from respdyn.commands.docs import help_reply
from respdyn.commands.registry import CommandTable
from respdyn.keyspace import layout, request
from respdyn.keyspace.record import Kind, Record
from respdyn.keyspace.replicated import ReplicatedStore, parse_context
from respdyn.protocol.reply import OK, Map
from respdyn.session import Session

table = CommandTable("dynamo")

_RESPDYN = {"support": "respdyn"}


def _cluster(ctx: Context) -> ReplicatedStore | None:
    store = ctx.keyspace.store
    return store if isinstance(store, ReplicatedStore) else None


def _nrw(ctx: Context) -> tuple[int, int, int]:
    cluster = _cluster(ctx)
    if cluster is None:
        return 1, 1, 1
    c = cluster.coordinator
    return c.n, c.r, c.w


# --- SIBLINGS / RESOLVE ----------------------------------------------------------------------


def _sibling_reply(sibling: Any, now: int, meta: bool) -> Any:
    value = None if sibling.tombstone or sibling.expired(now) else sibling.payload
    if not meta:
        return value
    return [value, sibling.timestamp, sibling.node]


@table.command(
    "siblings", -2, "readonly", keys=(1, 1, 1), since="0.1.0",
    summary="Returns the causal context token and every concurrent version of a key "
    "(nil for a delete); WITHMETA adds each version's timestamp (ms) and origin node. A merged "
    "type (counter, hash, set, sorted set, list) shows its one merged value and 'merged' "
    "(RAW: the stored versions).",
    arguments=(("key", "key", ""), ("withmeta", "pure-token", "optional"),
               ("raw", "pure-token", "optional")),
    **_RESPDYN,
)
def siblings(ctx: Context, session: Session, args: list[bytes]) -> Any:
    meta = raw = False
    for arg in args[1:]:
        word = arg.upper()
        if word == b"WITHMETA":
            meta = True
        elif word == b"RAW":
            raw = True  # the stored versions even of a merged type (their CRDT payloads)
        else:
            raise errors.syntax_error()
    record: Record | None = ctx.keyspace.store.read(layout.data_key(session.db, args[0]))
    empty = b"" if _cluster(ctx) is None else dvv.encode_context(())
    if record is None:
        return [empty, []]
    now = ctx.keyspace.clock()
    live = ctx.keyspace.resolve(record, now)
    if not raw and live is not None and ctx.keyspace.merges(live.kind):
        merged = _merged_view(ctx, session, args[0], live.kind)
        shown = [merged, live.timestamp, live.node] if meta else merged
        return [record.context or empty, [shown], b"merged"]
    return [record.context or empty, [_sibling_reply(s, now, meta) for s in record.siblings]]


#: how SIBLINGS shows a merged type: the reply of the type's own read command
_MERGED_READ = {
    Kind.COUNTER: (b"get",), Kind.HASH: (b"hgetall",), Kind.SET: (b"smembers",),
    Kind.ZSET: (b"zrange", b"0", b"-1", b"withscores"), Kind.LIST: (b"lrange", b"0", b"-1"),
}


def _merged_view(ctx: Context, session: Session, key: bytes, kind: int) -> Any:
    """A CRDT kind has no siblings for the application to settle: its versions merge. SIBLINGS
    shows that one merged value, as the type's read command returns it, and says "merged"."""
    name, *rest = _MERGED_READ[Kind(kind)]
    spec = ctx.registry.lookup(name)
    return spec.handler(ctx, session, [key, *rest])  # type: ignore[union-attr,misc]


@table.command(
    "resolve", 4, "write denyoom", keys=(1, 1, 1), since="0.1.0",
    summary="Writes a value superseding exactly the versions the context token covers; "
    "versions written after that context was read stay as siblings.",
    arguments=(("key", "key", ""), ("context", "string", ""), ("value", "string", "")),
    **_RESPDYN,
)
def resolve(ctx: Context, session: Session, args: list[bytes]) -> Any:
    key, token, value = args
    if token or _cluster(ctx) is not None:
        parse_context(token)  # garbage is refused before any write
    ctx.keyspace.put(session.db, key, Kind.STRING, value, 0, token if token else None)
    return OK


# --- CONSISTENCY -----------------------------------------------------------------------------


def _level(word: bytes, n: int) -> tuple[int, int] | None:
    level = {b"ONE": 1, b"QUORUM": n // 2 + 1, b"ALL": n}.get(word.upper())
    return None if level is None else (level, level)


@table.command(
    "consistency", -1, "fast", since="0.1.0",
    summary="Shows or sets this connection's read/write quorums: ONE, QUORUM, ALL, "
    "explicit R W, or DEFAULT (the cluster's).",
    arguments=(("level", "string", "optional"),),
    **_RESPDYN,
)
def consistency(ctx: Context, session: Session, args: list[bytes]) -> Any:
    n, r, w = _nrw(ctx)
    if not args:
        current = session.extra.get(request.SESSION_KEY) or (r, w)
        return Map([(b"n", n), (b"r", current[0]), (b"w", current[1])])
    if len(args) == 1:
        if args[0].upper() == b"DEFAULT":
            session.extra.pop(request.SESSION_KEY, None)
            return OK
        chosen = _level(args[0], n)
        if chosen is None:
            raise errors.syntax_error()
    elif len(args) == 2:
        chosen = (to_int(args[0]), to_int(args[1]))
        if not all(1 <= x <= n for x in chosen):
            raise errors.ReplyError(f"R and W must be between 1 and N ({n})")
    else:
        raise errors.syntax_error()
    session.extra[request.SESSION_KEY] = chosen
    return OK


# --- DYNAMO ----------------------------------------------------------------------------------

table.container("dynamo", summary="A container for respdyn's Dynamo ring commands.",
                since="0.1.0")


@table.command(
    "dynamo|ring", 2, "loading stale", since="0.1.0",
    summary="Lists the partitions: index, first and last slot, preference list (N nodes).",
    **_RESPDYN,
)
def dynamo_ring(ctx: Context, session: Session, args: list[bytes]) -> Any:
    cluster = _cluster(ctx)
    if cluster is None:
        return [[0, 0, SLOTS - 1, [ctx.config.effective_node_id.encode()]]]
    coordinator = cluster.coordinator
    ring = coordinator.membership.ring
    out = []
    for p in range(ring.q):
        slots = ring.slots_of(p)
        prefs = [node.encode() for node in coordinator.partition_preference(p)]
        out.append([p, slots.start, slots.stop - 1, prefs])
    return out


@table.command(
    "dynamo|members", 2, "loading stale", since="0.1.0",
    summary="Lists the members: node id, client address, cluster address, state.",
    **_RESPDYN,
)
def dynamo_members(ctx: Context, session: Session, args: list[bytes]) -> Any:
    cluster = _cluster(ctx)
    if cluster is None:
        me = ctx.config.effective_node_id
        return [[me.encode(), f"{ctx.config.host}:{ctx.config.port}".encode(), b"", b"self"]]
    membership = cluster.coordinator.membership
    return [
        [m.node_id.encode(), m.client_addr.encode(), m.cluster_addr.encode(),
         membership.state(m.node_id).encode()]
        for _, m in sorted(membership.table.items())
    ]


@table.command(
    "dynamo|preflist", 3, "loading stale", since="0.1.0",
    summary="Returns the preference list (the N replica nodes) of a key.",
    **_RESPDYN,
)
def dynamo_preflist(ctx: Context, session: Session, args: list[bytes]) -> Any:
    cluster = _cluster(ctx)
    if cluster is None:
        return [ctx.config.effective_node_id.encode()]
    slot = key_slot(args[0])
    return [node.encode() for node in cluster.coordinator.preference(slot)]


@table.command(
    "dynamo|local", 3, "loading stale", since="0.1.0",
    summary="Returns 1 if THIS node's disk holds a version of the key (a replica), else 0.",
    **_RESPDYN,
)
def dynamo_local(ctx: Context, session: Session, args: list[bytes]) -> Any:
    raw = layout.data_key(session.db, args[0])
    cluster = _cluster(ctx)
    if cluster is not None:
        return int(cluster.holds_locally(raw))
    return int(ctx.keyspace.store.engine.get(raw) is not None)  # type: ignore[attr-defined]


@table.command(
    "dynamo|debug", -3, "admin noscript loading stale", since="0.1.0",
    summary="Test only (needs --enable-debug-commands): PARTITION node-id... drops all "
    "traffic with those nodes; HEAL restores it.",
    **_RESPDYN,
)
def dynamo_debug(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if not ctx.config.enable_debug_commands:
        raise errors.ReplyError(
            "DYNAMO DEBUG is disabled; start the node with --enable-debug-commands"
        )
    cluster = _cluster(ctx)
    if cluster is None:
        raise errors.ReplyError("DYNAMO DEBUG needs a cluster node")
    blocked = cluster.coordinator.transport.blocked
    sub = args[0].upper()
    if sub == b"PARTITION" and len(args) > 1:
        blocked.update(a.decode("utf-8", "replace") for a in args[1:])
        return OK
    if sub == b"HEAL" and len(args) == 1:
        blocked.clear()
        return OK
    raise errors.syntax_error()


def _need_cluster(ctx: Context, what: str) -> ReplicatedStore:
    cluster = _cluster(ctx)
    if cluster is None:
        raise errors.ReplyError(f"{what} needs a cluster node")
    return cluster


@table.command(
    "dynamo|clock", 3, "admin noscript loading stale", since="0.2.0",
    summary="Returns THIS node's stored version of the key as it is on disk: the encoded "
    "clock, or nil. Two replicas agree exactly when their clocks are equal bytes.",
    **_RESPDYN,
)
def dynamo_clock(ctx: Context, session: Session, args: list[bytes]) -> Any:
    # Raw, not filtered by the tombstone grace: it checks replicas against each other (the
    # fault harness), and SIBLINGS WITHMETA hides value-less entries and tombstones' dots.
    cluster = _need_cluster(ctx, "DYNAMO CLOCK")  # a single node stores records, not clocks
    return cluster.replica.read_raw(layout.data_key(session.db, args[0]))


@table.command(
    "dynamo|hints", 2, "loading stale", since="0.2.0",
    summary="Lists the hints this node holds per down node: target, keys, bytes, delivered, "
    "expired, refused.",
    **_RESPDYN,
)
def dynamo_hints(ctx: Context, session: Session, args: list[bytes]) -> Any:
    cluster = _cluster(ctx)
    if cluster is None:
        return []
    backlogs = cluster.coordinator.hints.backlogs
    return [
        [target.encode(), b.keys, b.bytes, b.delivered, b.expired, b.refused]
        for target, b in sorted(backlogs.items())
    ]


@table.command(
    "dynamo|transfers", 2, "loading stale", since="0.2.0",
    summary="Lists this node's partition transfers of the last ring change: partition, from, "
    "to, state, keys sent.",
    **_RESPDYN,
)
def dynamo_transfers(ctx: Context, session: Session, args: list[bytes]) -> Any:
    cluster = _cluster(ctx)
    if cluster is None:
        return []
    coordinator = cluster.coordinator
    me = coordinator.node_id.encode()
    return [
        [item.partition, me, item.target.encode(), item.state.encode(), item.keys]
        for item in coordinator.transfers.items
    ]


@table.command(
    "dynamo|leave", 2, "admin noscript loading stale", since="0.2.0",
    summary="Makes this node leave the ring: it hands its partitions to their new owners, "
    "then exits.",
    **_RESPDYN,
)
def dynamo_leave(ctx: Context, session: Session, args: list[bytes]) -> Any:
    coordinator = _need_cluster(ctx, "DYNAMO LEAVE").coordinator
    try:
        coordinator.leave(ctx.shutdown)
    except ValueError as exc:
        raise errors.ReplyError(str(exc)) from None
    return OK


@table.command(
    "dynamo|remove", 3, "admin noscript loading stale", since="0.2.0",
    summary="Removes a dead node for good; its partitions are rebuilt from the surviving "
    "replicas.",
    **_RESPDYN,
)
def dynamo_remove(ctx: Context, session: Session, args: list[bytes]) -> Any:
    coordinator = _need_cluster(ctx, "DYNAMO REMOVE").coordinator
    node_id = args[0].decode("utf-8", "replace")
    try:
        coordinator.membership.remove(node_id)
    except KeyError:
        raise errors.ReplyError(f"no such member '{errors.shown(args[0], 128)}'") from None
    except ValueError as exc:
        raise errors.ReplyError(str(exc)) from None
    return OK


@table.command(
    "dynamo|repair", 2, "admin noscript loading stale", since="0.2.0",
    summary="Runs a full anti-entropy repair of this node's partitions against every other "
    "live replica now; replies with the number of keys repaired.",
    **_RESPDYN,
)
def dynamo_repair(ctx: Context, session: Session, args: list[bytes]) -> Any:
    from respdyn.cluster import antientropy

    cluster = _cluster(ctx)
    service = None if cluster is None else antientropy.of(cluster.coordinator)
    return 0 if service is None else service.repair()  # a single node has nothing to compare


@table.command(
    "dynamo|help", 2, "loading stale", since="0.1.0",
    summary="Returns helpful text about the different subcommands.", **_RESPDYN,
)
def dynamo_help(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return help_reply(ctx.registry.lookup("dynamo"))  # type: ignore[arg-type]
