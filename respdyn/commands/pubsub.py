"""Pub/sub (Redis' `pubsub` group): PUBLISH, (P)SUBSCRIBE, (P)UNSUBSCRIBE, PUBSUB.

Subscriptions live in the node's `Notifier` (channel/pattern -> sessions) and in the client's
`Subscriptions` (session.extra). Messages reach a client with `session.on_push`, which the
connection encodes in the client's protocol (RESP3 `>` push, RESP2 array) and sends even while
the client is idle. A command that answers several replies (SUBSCRIBE a b) pushes all but the
last and returns the last, so they go out in order.

In a cluster a PUBLISH is also handed to the cluster fan-out (`Notifier.on_publish`) so the
subscribers of every node get it; PUBLISH's reply counts this node's receivers only, as in
Redis Cluster. A RESP2 client with subscriptions may only run the commands in
`SUBSCRIBED_ALLOWED` (the dispatcher enforces it); RESP3 clients may run anything.
"""

from __future__ import annotations

from typing import Any

from respdyn import errors
from respdyn.commands import glob, notify
from respdyn.commands.context import Context
from respdyn.commands.registry import CommandTable
from respdyn.protocol.reply import Push, Status
from respdyn.session import Session

table = CommandTable("pubsub")

#: what a subscribed RESP2 client may run (Redis 7.0's list)
SUBSCRIBED_ALLOWED = frozenset({
    "ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe",
    "punsubscribe", "quit", "reset",
})


def not_allowed(name: str) -> errors.ReplyError:
    return errors.ReplyError(
        f"Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        "are allowed in this context")


def _replies(session: Session, replies: list[Push]) -> Push:
    """Send all replies but the last as pushes, return the last (the command's reply)."""
    for reply in replies[:-1]:
        if session.on_push is not None:
            session.on_push(reply)
    return replies[-1]


def _subs(session: Session) -> notify.Subscriptions:
    subs = session.extra.get(notify.SUBSCRIPTIONS)
    if subs is None:
        subs = session.extra[notify.SUBSCRIPTIONS] = notify.Subscriptions()
    return subs


def subscribe(ctx: Context, session: Session, names: list[bytes], pattern: bool) -> Push:
    notifier, subs = notify.of(ctx), _subs(session)
    mine = subs.patterns if pattern else subs.channels
    kind = b"psubscribe" if pattern else b"subscribe"
    replies = []
    for name in names:
        if name not in mine:
            mine[name] = None
            notifier.subscribe(session, name, pattern)
        replies.append(Push([kind, name, subs.count()]))
    return _replies(session, replies)


def unsubscribe(ctx: Context, session: Session, names: list[bytes], pattern: bool) -> Push:
    """No names: every channel (pattern) of the client, in subscription order."""
    notifier, subs = notify.of(ctx), _subs(session)
    mine = subs.patterns if pattern else subs.channels
    kind = b"punsubscribe" if pattern else b"unsubscribe"
    replies = []
    for name in names or list(mine):
        if name in mine:
            del mine[name]
            notifier.unsubscribe(session, name, pattern)
        replies.append(Push([kind, name, subs.count()]))
    if not replies:
        replies.append(Push([kind, None, subs.count()]))
    return _replies(session, replies)


@table.command("subscribe", -2, "pubsub noscript loading stale", since="2.0.0",
               summary="Listens for messages published to channels.",
               complexity="O(N) where N is the number of channels to subscribe to.")
def subscribe_(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return subscribe(ctx, session, args, False)


@table.command("psubscribe", -2, "pubsub noscript loading stale", since="2.0.0",
               summary="Listens for messages published to channels that match one or more "
               "patterns.",
               complexity="O(N) where N is the number of patterns to subscribe to.")
def psubscribe(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return subscribe(ctx, session, args, True)


@table.command("unsubscribe", -1, "pubsub noscript loading stale", since="2.0.0",
               summary="Stops listening to messages posted to channels.",
               complexity="O(N) where N is the number of channels to unsubscribe.")
def unsubscribe_(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return unsubscribe(ctx, session, args, False)


@table.command("punsubscribe", -1, "pubsub noscript loading stale", since="2.0.0",
               summary="Stops listening to messages published to channels that match one or "
               "more patterns.",
               complexity="O(N) where N is the number of patterns to unsubscribe.")
def punsubscribe(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return unsubscribe(ctx, session, args, True)


@table.command("publish", 3, "pubsub loading stale fast", since="2.0.0",
               summary="Posts a message to a channel.",
               complexity="O(N+M) where N is the number of clients subscribed to the receiving "
               "channel and M is the total number of subscribed patterns (by any client).",
               support="differs",
               note="in a cluster the message reaches every node's subscribers; the reply "
               "counts this node's receivers (as Redis Cluster)")
def publish(ctx: Context, session: Session, args: list[bytes]) -> int:
    return notify.of(ctx).publish(args[0], args[1])


table.container("pubsub", summary="A container for Pub/Sub commands.", since="2.8.0")


@table.command("pubsub|channels", -2, "pubsub loading stale", since="2.8.0",
               summary="Returns the active channels.",
               complexity="O(N) where N is the number of active channels, and assuming "
               "constant time pattern matching (relatively short channels and patterns)")
def pubsub_channels(ctx: Context, session: Session, args: list[bytes]) -> Any:
    if len(args) > 1:
        raise errors.wrong_arity("pubsub|channels")
    channels = notify.of(ctx).active_channels()
    if not args:
        return channels
    matches = glob.matcher(args[0])
    return [c for c in channels if matches(c)]


@table.command("pubsub|numsub", -2, "pubsub loading stale", since="2.8.0",
               summary="Returns a count of subscribers to channels.",
               complexity="O(N) for the NUMSUB subcommand, where N is the number of requested "
               "channels")
def pubsub_numsub(ctx: Context, session: Session, args: list[bytes]) -> Any:
    notifier = notify.of(ctx)
    out: list[Any] = []
    for channel in args:
        out += [channel, len(notifier.subscribers(channel))]
    return out


@table.command("pubsub|numpat", 2, "pubsub loading stale", since="2.8.0",
               summary="Returns a count of unique pattern subscriptions.", complexity="O(1)")
def pubsub_numpat(ctx: Context, session: Session, args: list[bytes]) -> int:
    return notify.of(ctx).pattern_count()


_HELP = [
    b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CHANNELS [<pattern>]",
    b"    Return the currently active channels matching a <pattern> (default: '*').",
    b"NUMPAT",
    b"    Return number of subscriptions to patterns.",
    b"NUMSUB [<channel> ...]",
    b"    Return the number of subscribers for the specified channels, excluding",
    b"    pattern subscriptions(default: no channels).",
    b"HELP",
    b"    Prints this help.",
]


@table.command("pubsub|help", 2, "loading stale", since="6.2.0",
               summary="Returns helpful text about the different subcommands.",
               complexity="O(1)", support="differs",
               note="no SHARDCHANNELS/SHARDNUMSUB lines: sharded pub/sub is not served")
def pubsub_help(ctx: Context, session: Session, args: list[bytes]) -> Any:
    return [Status(line.decode()) for line in _HELP]
