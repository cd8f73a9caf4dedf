"""The composition root: the one module that knows every layer and wires them together
(storage → store → keyspace → commands → server). Nothing imports this module but the CLI and
tests, so the layers below stay unaware of each other.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import storage
from respdyn import __version__, clock
from respdyn.commands import (
    connection,
    dynamo,
    hashes,
    keys,
    lists,
    notify,
    pubsub,
    server,
    sets,
    sortedsets,
    strings,
    transactions,
)
from respdyn.commands.context import Context
from respdyn.commands.dispatch import Dispatcher
from respdyn.commands.notify import SUBSCRIPTIONS
from respdyn.commands.registry import CommandTable, Registry
from respdyn.config import ServerConfig
from respdyn.keyspace import crdt
from respdyn.keyspace.crdt import lists as list_crdt
from respdyn.keyspace.keyspace import Keyspace
from respdyn.keyspace.record import Kind
from respdyn.keyspace.replicated import ReplicatedStore, keep_live_clocks
from respdyn.keyspace.store import LocalStore, VersionedStore, keep_unexpired
from respdyn.server.listener import Listener, ServerSettings
from respdyn.server.shutdown import Shutdown
from respdyn.session import SessionRegistry

log = logging.getLogger(__name__)

#: the command families a node serves, in the order COMMAND lists them
TABLES: tuple[CommandTable, ...] = (
    connection.table, server.table, strings.table, keys.table, dynamo.table,
    lists.table, transactions.table, pubsub.table, hashes.table, sets.table, sortedsets.table,
)

#: seconds between re-checks of a blocked pop in a cluster: pushes through other nodes arrive
#: as broadcast events; the re-check covers an event lost with a link
BLOCKED_POLL_S = 1.0


#: allocations (net of frees) of container objects between two young-generation collections;
#: CPython's default is 700 (see `tune_gc`)
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect less often, and never rescan what was built at start (Instagram's `gc.freeze`).

    Why. A request allocates dozens of short-lived containers, nearly all freed by reference
    counting; CPython's default threshold still ran a young collection every ~100 requests,
    promoted the objects in flight and so ran full collections too. Timed with `gc.callbacks`
    on a cluster's coordinator over 50k redis-benchmark SETs: 444 young, 40 middle and 4 full
    collections (~20 ms each, a stall for every client), 181 ms in all, 3.6 us per request;
    with this threshold, 4 young ones, 15 ms. Only cyclic garbage waits longer for its
    collection, and little of it is made."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def build_registry() -> Registry:
    return Registry(TABLES)


def open_engine(config: ServerConfig) -> storage.Engine:
    options = storage.Options(
        fsync=config.fsync,
        memtable_bytes=config.memtable_bytes,
        block_cache_bytes=config.block_cache_bytes,
        row_cache_bytes=config.row_cache_bytes,
        compaction_filter=(
            functools.partial(keep_live_clocks, config.tombstone_grace_ms)
            if config.clustered else keep_unexpired
        ),
    )
    os.makedirs(config.data_dir, exist_ok=True)
    return storage.open(config.data_dir, options)


def build_context(
    config: ServerConfig,
    engine: storage.Engine,
    offload: Callable[..., Any] | None = None,
    store: VersionedStore | None = None,
) -> Context:
    """Everything below the server, for one node. Tests call this to drive commands directly.
    `store` is the cluster's `ReplicatedStore` when the node is a cluster member."""
    if store is None:
        store = LocalStore(engine, offload) if offload else LocalStore(engine)
    mergers = {**crdt.MERGERS, Kind.LIST: list_crdt.merge}
    removals = crdt.REMOVALS if isinstance(store, ReplicatedStore) else None
    keyspace = Keyspace(store, node_id=config.effective_node_id.encode(), mergers=mergers,
                        removals=removals)
    ctx = Context(
        keyspace=keyspace,
        config=config,
        registry=build_registry(),
        sessions=SessionRegistry(config.maxclients),
    )
    clustered = isinstance(store, ReplicatedStore)
    notify.install(ctx, notify.Notifier(BLOCKED_POLL_S if clustered else None))
    ctx.info_sections["storage"] = lambda: _info_fields(store.info())
    # Redis always has the Cluster section; tools read cluster_enabled to pick their mode
    ctx.info_sections["cluster"] = (
        cluster_info(store) if clustered else lambda: {"cluster_enabled": 0}
    )
    return ctx


def build_cluster(
    config: ServerConfig, engine: storage.Engine, offload: Callable[..., Any] | None = None
) -> ReplicatedStore:
    """The Dynamo stack of one node: replica, transport, membership, coordinator, store.
    Nothing listens yet: `Node.start` binds the inter-node port and contacts the seeds."""
    from respdyn.cluster.coordinator import Coordinator
    from respdyn.cluster.handshake import Keyring
    from respdyn.cluster.membership import GOSSIP, Member, Membership
    from respdyn.cluster.replica import Replica
    from respdyn.cluster.transport import Transport

    node_id = config.effective_node_id
    cluster_addr = (config.cluster_host or config.host, config.effective_cluster_port)
    timeout = config.cluster_timeout_ms / 1000
    keyring = Keyring(config.cluster_name, config.cluster_secret)  # handshake.py: who may talk
    transport = Transport(node_id, f"{config.host}:{config.port}", cluster_addr, timeout=timeout,
                          keyring=keyring)
    transport.before_send = engine.write_out
    born, fresh = _birth(config.data_dir)
    me = Member(node_id, f"{config.host}:{config.port}", f"{cluster_addr[0]}:{cluster_addr[1]}",
                born=born)
    membership = Membership(
        me, transport, config.seed_list(), config.partitions, config.cluster_name,
        config.gossip_interval_ms / 1000, config.phi_threshold, config.data_dir,
    )
    replica = Replica(engine, node_id, config.conflict_policy, lambda: membership.members, offload)
    replica.grace_ms = config.tombstone_grace_ms
    if fresh:  # until gossip tells whether the cluster knew an older data directory of ours
        replica.recovering = True
        membership.on_verdict.append(lambda wiped: setattr(replica, "recovering", wiped))
    if offload is not None:
        transport.inline_ops = frozenset()  # engine calls yield: never stall the pipeline
    coordinator = Coordinator(replica, transport, membership, config.n, config.r, config.w, timeout)
    coordinator.serve(GOSSIP, membership.handle_gossip)
    coordinator.hints.max_age_ms = config.hint_max_age_ms
    coordinator.hints.budget_bytes = config.hint_budget_bytes
    coordinator.handoff.rate = config.hint_rate
    from respdyn.cluster import antientropy  # Merkle trees: started with the cluster

    antientropy.attach(coordinator, lambda: config.aae_interval_ms / 1000)
    return ReplicatedStore(coordinator)


IDENTITY_FILE = "IDENTITY"


def _birth(data_dir: str) -> tuple[int, bool]:
    """When this data directory was created (ms), and whether that is now. Gossip carries
    it, so the cluster can tell a wiped node from a new one (membership.Membership.wiped)."""
    path = os.path.join(data_dir, IDENTITY_FILE)
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().split()[0]), False
    except (FileNotFoundError, ValueError, IndexError):
        pass
    born = int(time.time() * 1000)
    with open(path + ".tmp", "w", encoding="ascii") as f:
        f.write(f"{born}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    return born, True


def cluster_info(store: ReplicatedStore) -> Callable[[], dict[str, Any]]:
    """INFO cluster: membership, quorum settings, sibling and repair counters."""

    def fields() -> dict[str, Any]:
        coordinator = store.coordinator
        membership = coordinator.membership
        stats = coordinator.stats
        return {
            "cluster_enabled": 1,
            "cluster_node_id": coordinator.node_id,
            "cluster_members": len(membership.members),
            "cluster_members_complete": int(membership.complete),
            "cluster_partitions": membership.ring.q,
            "cluster_n": coordinator.n,
            "cluster_r": coordinator.r,
            "cluster_w": coordinator.w,
            "cluster_conflict_policy": store.replica.policy,
            "cluster_reads": stats.reads,
            "cluster_writes": stats.writes,
            "cluster_forwarded_writes": stats.forwarded_writes,
            "cluster_read_repairs": stats.read_repairs,
            "cluster_noquorum_reads": stats.noquorum_reads,
            "cluster_noquorum_writes": stats.noquorum_writes,
            "cluster_reads_with_siblings": stats.reads_with_siblings,
            "cluster_max_siblings": stats.max_siblings,
            "cluster_stored_with_siblings": store.replica.stored_with_siblings,
            "cluster_ring_epoch": membership.ring.epoch,
            "cluster_recovering": int(coordinator.replica.recovering),
            "cluster_ring_size": len(membership.ring.members),
            "cluster_members_down": sum(
                membership.is_down(k) for k in membership.members if k != coordinator.node_id),
            **{f"cluster_member_{k}": f"state={membership.state(k)},phi="
               f"{min(membership.phi(k), 99.0):.2f}"
               for k in sorted(membership.table) if k != coordinator.node_id},
            **dict(zip(("cluster_hints_keys", "cluster_hints_bytes"),
                       coordinator.hints.total(), strict=True)),
            "cluster_hints_sent": stats.hints_sent,
            "cluster_hints_kept": stats.hints_kept,
            **{f"cluster_hints_for_{target}": f"keys={b.keys},bytes={b.bytes},"
               f"delivered={b.delivered},expired={b.expired},refused={b.refused}"
               for target, b in sorted(coordinator.hints.backlogs.items())},
            "cluster_transfers_busy": int(coordinator.transfers.busy),
            "cluster_transfers_pending": sum(
                item.state not in ("sent", "done") for item in coordinator.transfers.items),
            "cluster_transfers_completed": coordinator.transfers.completed,
            "cluster_partitions_dropped": coordinator.transfers.dropped,
            **_aae_fields(coordinator),
            "cluster_frames_sent": coordinator.transport.counters.frames,
            "cluster_frame_sends": coordinator.transport.counters.sends,
            # inter-node requests refused after a failed fsync (logged once, MISCONF)
            "cluster_misconf_refusals": coordinator.transport.counters.misconf,
        }

    return fields


def _aae_fields(coordinator: Any) -> dict[str, Any]:
    """INFO cluster's anti-entropy counters (aae_*)."""
    from respdyn.cluster import antientropy

    return antientropy.info_fields(coordinator)


def _info_fields(stats: dict[str, Any]) -> dict[str, Any]:
    """INFO lines are `name:value`; lists (per-level figures) become comma-separated."""
    return {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
            for k, v in stats.items()}


def build_dispatcher(ctx: Context) -> Dispatcher:
    return Dispatcher(ctx)


def _offload_to_threads(maxsize: int = 64) -> Callable[..., Any]:
    """Run blocking storage calls in real threads so concurrent `fsync=always` writers reach
    the engine together and share one group-committed fsync instead of stalling the hub."""
    import gevent

    pool = gevent.get_hub().threadpool
    pool.maxsize = max(pool.maxsize, maxsize)
    return lambda fn, *args: pool.apply(fn, args)


class Node:
    """One running respdyn node: storage, commands and the client listener, and the
    background loops, all stopped by one `Shutdown`."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.shutdown = Shutdown()
        self.engine: storage.Engine | None = None
        self.listener: Listener | None = None
        self.cluster: ReplicatedStore | None = None  #: the Dynamo stack, when clustered
        self.loops: list[Any] = []

    def start(self) -> None:
        import gevent

        self._skew_clock()
        self.engine = open_engine(self.config)
        offload = _offload_to_threads() if self.config.fsync == "always" else None
        if self.config.clustered:
            self.cluster = build_cluster(self.config, self.engine, offload)
            self.cluster.coordinator.transport.serve()
        ctx = build_context(self.config, self.engine, offload, self.cluster)
        ctx.shutdown = self.shutdown.trigger
        self.ctx = ctx
        if self.cluster is not None:
            self._fan_out_events(self.cluster, notify.of(ctx))
        settings = ServerSettings(
            host=self.config.host,
            port=self.config.port,
            proto_max_bulk_len=self.config.proto_max_bulk_len,
            client_query_buffer_limit=self.config.client_query_buffer_limit,
            # a coordinator waits for replicas, fsync=always for the disk: not in the loop
            inline_commands=self.cluster is None and offload is None,
        )
        self._apply_runtime_settings(settings)
        self.config.watch(lambda: self._apply_runtime_settings(settings))
        self.listener = Listener(
            build_dispatcher(ctx), ctx.sessions, settings, self.shutdown,
            idle_exempt=lambda session: bool(session.extra.get(SUBSCRIPTIONS)),
            before_reply=self.engine.write_out,  # acknowledged writes reach the OS first
        )
        self.listener.start()
        if self.cluster is not None:
            self._start_cluster(self.cluster)
        self.loops.append(gevent.spawn(self._expire_loop))
        log.info(
            "respdyn %s listening on %s:%d, data in %s, fsync %s",
            __version__, self.config.host, self.listener.server_port, self.config.data_dir,
            self.config.fsync,
        )

    def _skew_clock(self) -> None:
        """The fault harness's clock skew (respdyn/clock.py); never outside debug mode."""
        path = self.config.debug_clock_skew_file
        if path and not self.config.enable_debug_commands:
            log.warning("--debug-clock-skew-file ignored: it needs --enable-debug-commands")
        elif path:
            clock.skew_from_file(path)
            log.warning("clock skewed by the offset in %s (test only)", path)

    def _fan_out_events(self, store: ReplicatedStore, notifier: notify.Notifier) -> None:
        """Pushes and PUBLISHes made here reach the other members, and theirs reach here."""
        from respdyn.cluster import broadcast

        fan_out = broadcast.attach(store.coordinator, notifier.remote_key_changed,
                                   notifier.deliver)
        notifier.on_key_changed, notifier.on_publish = fan_out.pushed, fan_out.published

    def _start_cluster(self, store: ReplicatedStore) -> None:
        """Now that the client port is known: tell peers about it, then contact the seeds."""
        assert self.listener is not None
        client_addr = f"{self.config.host}:{self.listener.server_port}"
        coordinator = store.coordinator
        coordinator.transport.client_addr = client_addr
        coordinator.membership.set_client_addr(client_addr)
        coordinator.start()
        self._start_antientropy(coordinator)
        host, port = coordinator.transport.cluster_addr
        log.info("node %s: cluster port %s:%d, N=%d R=%d W=%d, seeds %s",
                 coordinator.node_id, host, port, coordinator.n, coordinator.r, coordinator.w,
                 self.config.seeds or "(none)")

    def _start_antientropy(self, coordinator: Any) -> None:
        """Build the Merkle trees in the background and run the exchange loop."""
        from respdyn.cluster import antientropy

        service = antientropy.of(coordinator)
        if service is not None:
            self.loops.extend(service.start())

    def _apply_runtime_settings(self, settings: ServerSettings) -> None:
        """The settings CONFIG SET may change while clients are connected."""
        settings.maxclients = self.config.maxclients
        settings.auth_required = bool(self.config.requirepass)
        settings.idle_timeout = self.config.timeout
        self.ctx.sessions.maxclients = self.config.maxclients

    def _expire_loop(self) -> None:
        """Redis' active expiry: a bounded step `hz` times a second, more while keys are due."""
        while not self.shutdown.wait(1.0 / max(1, self.config.hz)):
            try:
                while self.ctx.keyspace.expire_cycle() and not self.shutdown.is_set():
                    pass
            except Exception:
                log.exception("active expiry cycle failed")

    def run(self) -> None:
        """Serve until SHUTDOWN, SIGTERM or SIGINT; then stop cleanly."""
        import gevent

        self.start()
        tune_gc()  # after start: what it built stays, and the collector need not rescan it
        for sig in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(sig, self.shutdown.trigger)
        self.shutdown.wait()
        self.stop()

    def stop(self) -> None:
        import gevent

        self.shutdown.trigger()
        if self.listener is not None:
            self.listener.stop(timeout=5)
        gevent.killall(self.loops, timeout=5)
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        log.info("respdyn stopped")
