"""Pub/sub through the dispatcher, with each session's pushes collected: multi-channel replies
in order, delivery to channel and pattern subscribers, RESP2 subscribed mode vs RESP3, counts,
and clients that leave (closed, RESET) without unsubscribing."""

from __future__ import annotations

import pytest

from respdyn import errors
from respdyn.commands import notify
from respdyn.protocol.reply import Push


@pytest.fixture
def inbox(call):
    """The pushes `call`'s session received (what the connection would write out of band)."""
    received: list = []
    call.session.on_push = received.append
    return received


def subscriber(call) -> tuple:
    other = call.other()
    received: list = []
    other.session.on_push = received.append
    return other, received


def test_subscribe_to_several_channels_answers_one_reply_each_in_order(call, inbox):
    last = call("SUBSCRIBE", "a", "b", "c")
    assert [*inbox, last] == [
        Push([b"subscribe", b"a", 1]), Push([b"subscribe", b"b", 2]),
        Push([b"subscribe", b"c", 3]),
    ]
    inbox.clear()
    last = call("UNSUBSCRIBE")
    assert [*inbox, last] == [
        Push([b"unsubscribe", b"a", 2]), Push([b"unsubscribe", b"b", 1]),
        Push([b"unsubscribe", b"c", 0]),
    ]


def test_publish_reaches_channel_and_pattern_subscribers(call):
    one, got_one = subscriber(call)
    two, got_two = subscriber(call)
    one("SUBSCRIBE", "news.tech")
    two("PSUBSCRIBE", "news.*")
    two("SUBSCRIBE", "news.tech")
    got_one.clear()
    got_two.clear()
    assert call("PUBLISH", "news.tech", "hello") == 3
    assert got_one == [Push([b"message", b"news.tech", b"hello"])]
    assert got_two == [Push([b"message", b"news.tech", b"hello"]),
                       Push([b"pmessage", b"news.*", b"news.tech", b"hello"])]
    assert call("PUBLISH", "sports", "x") == 0


def test_resp2_subscriber_may_only_subscribe_ping_quit_reset(call, inbox):
    call("SUBSCRIBE", "a")
    reply = call("GET", "k")
    assert isinstance(reply, errors.ReplyError)
    assert reply.message.startswith("Can't execute 'get': only (P|S)SUBSCRIBE")
    assert call("PING") == [b"pong", b""]
    assert call("PING", "x") == [b"pong", b"x"]
    call("UNSUBSCRIBE", "a")
    assert call("GET", "k") is None  # no subscriptions left: normal mode again


def test_resp3_subscriber_may_run_anything(call, inbox):
    call.session.protocol = 3
    call("SUBSCRIBE", "a")
    assert call("SET", "k", "v") is not None
    assert call("GET", "k") == b"v"


def test_closed_and_reset_subscribers_are_dropped(call):
    gone, _ = subscriber(call)
    reset, _ = subscriber(call)
    gone("SUBSCRIBE", "c")
    reset("SUBSCRIBE", "c")
    reset("PSUBSCRIBE", "*")
    assert call("PUBSUB", "NUMSUB", "c") == [b"c", 2]
    gone.session.closed = True
    reset("RESET")
    assert call("PUBLISH", "c", "m") == 0
    assert call("PUBSUB", "NUMSUB", "c") == [b"c", 0]
    assert call("PUBSUB", "NUMPAT") == 0
    assert call("PUBSUB", "CHANNELS") == []
    notifier = notify.of(call.ctx)
    assert not notifier.channels and not notifier.patterns


def test_pubsub_introspection(call):
    one, _ = subscriber(call)
    one("SUBSCRIBE", "news.1", "news.2", "other")
    one("PSUBSCRIBE", "n*", "n*", "x*")
    assert sorted(call("PUBSUB", "CHANNELS")) == [b"news.1", b"news.2", b"other"]
    assert sorted(call("PUBSUB", "CHANNELS", "news.*")) == [b"news.1", b"news.2"]
    assert call("PUBSUB", "NUMSUB", "news.1", "nobody") == [b"news.1", 1, b"nobody", 0]
    assert call("PUBSUB", "NUMPAT") == 2
    assert isinstance(call("PUBSUB", "CHANNELS", "a", "b"), errors.ReplyError)


def test_a_subscriber_without_a_connection_is_not_counted(call):
    ghost = call.other()  # on_push is None: nothing to deliver to
    ghost("SUBSCRIBE", "c")
    assert call("PUBLISH", "c", "m") == 0


def test_cluster_fan_out_hooks_are_called_for_local_publishes(call):
    seen = []
    notify.of(call.ctx).on_publish = lambda channel, message: seen.append((channel, message))
    call("PUBLISH", "c", "m")
    assert seen == [(b"c", b"m")]
    # a message arriving from another node is delivered here without going back out
    one, got = subscriber(call)
    one("SUBSCRIBE", "c")
    got.clear()
    assert notify.of(call.ctx).deliver(b"c", b"remote") == 1
    assert got == [Push([b"message", b"c", b"remote"])] and len(seen) == 1


def test_a_subscriber_that_disappears_without_unsubscribing_leaves_nothing(call):
    import gc

    gone, _ = subscriber(call)
    gone("SUBSCRIBE", "c")
    gone("PSUBSCRIBE", "p*")
    call.ctx.sessions.close(gone.session)
    del gone
    gc.collect()
    notifier = notify.of(call.ctx)
    assert len(notifier.channels[b"c"]) == 0  # held weakly: gone with the session
    assert call("PUBSUB", "NUMSUB", "c") == [b"c", 0]
    assert call("PUBSUB", "NUMPAT") == 0
    assert not notifier.channels and not notifier.patterns
