"""One client connection: read, run every complete command, answer them all with one write.

Why the raw socket and a libev watcher instead of `sock.recv`/`sock.sendall`: gevent's socket
methods add a Python layer and a timeout object per call; reading the non-blocking `_socket`
directly when an io watcher says it is readable halves the CPU per request.

Waiting for input: an idle connection *parks* its greenlet (`_park`), and the read watcher's
callback, run by the event loop itself, reads the socket (`_react`) and hands the greenlet
back with a reason: `_RUN` (requests to run), `_WAKE` (output is waiting: a push, a send the
socket did not take whole), `_EOF` (send what is due, close), `_DROP` (close now: killed,
socket error). The watcher stays started across requests (see `_park`). Only this greenlet
runs requests and writes the socket, except `push()` (pub/sub, from the publisher's greenlet),
which appends to the output and wakes us, and `kill()` (CLIENT KILL), which shuts the socket
down so that the callback sees it and hands us `_DROP`.

Durability before replies: `before_reply` (the node wires the storage engine's `write_out`) runs
before any reply bytes go to the kernel, so writes acknowledged by a batch of replies have
reached the OS first (Redis writes its AOF buffer in beforeSleep for the same reason): a process
crash loses no acknowledged write, at the cost of one write(2) per batch, not per command. If it
fails, the connection is dropped rather than acknowledging writes that were not written.

Replies are sent the way Redis sends them (handleClientsWithPendingWrites in beforeSleep): a
connection that has run the commands of its read hands its output to the `ReplyBatcher`, whose
one callback per event-loop iteration calls `before_reply` once and then sends every pending
connection's replies. With 50 clients, ~30 of them are ready in one iteration: they share one
WAL write(2) instead of making one each. A send the socket cannot take whole is finished by the
connection's own greenlet (woken like a push), never by the loop.

Running commands in the loop's callback (`inline`, for a node whose commands never wait for
I/O: one node, fsync everysec or no): the callback does not hand each read to the greenlet
but runs its requests there; the dispatcher's `inline` says which it may (not a blocking or
sleeping command, no MULTI or subscriber state, no key held by another client's command).
That saves the two greenlet switches and the waiter of every read (~1.5 us of ~20 per
unpipelined request, measured). The first request it may not run, and anything that needs
the greenlet (a flush that may wait, QUIT, an AUTH change, shutdown), hands back `_RUN`; the
greenlet carries on from there, then parks again. A cluster node's callback hands back every
read: its coordinator waits for replicas.

Output is bounded (CVE-2025-21605): when the pending replies pass `output_soft_limit` we flush
before running more commands; blocked on a slow reader, we stop reading its input. Pushes that
pile up past `output_hard_limit` (a subscriber that never reads) close the connection.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gevent import get_hub, getcurrent
from gevent.hub import Waiter

from respdyn.errors import HttpProbe, ProtocolError, ReplyError
from respdyn.protocol.encoder import encode_into
from respdyn.protocol.reader import RequestReader
from respdyn.session import Session

if TYPE_CHECKING:
    from respdyn.server.listener import ServerSettings
    from respdyn.server.shutdown import Shutdown

log = logging.getLogger(__name__)

Dispatch = Callable[[Session, list[bytes]], Any]
BeforeReply = Callable[[], None]

_READ, _WRITE = 1, 2
_INTERNAL = ReplyError("internal error")
_probe_logged_at = [-1e9]  # HttpProbe warnings: at most one a minute for the whole process


#: why the loop's callback hands a parked connection back to its greenlet (see the module doc)
_RUN = "run"  #: run what the callback could not (a held request, a flush, a close, shutdown)
_WAKE = "wake"  #: output is waiting (a push, a send the socket did not take whole)
_EOF = "eof"  #: the client hung up (or overran the query buffer): send what is due, close
_DROP = "drop"  #: close now (killed, socket error)


class ReplyBatcher:
    """Sends the replies of every connection that ran commands in this event-loop iteration
    from one loop callback, after one `before_reply` (see the module doc)."""

    def __init__(self, before_reply: BeforeReply | None = None) -> None:
        self.before_reply = before_reply
        self.loop = get_hub().loop
        self._pending: list[Connection] = []

    def defer(self, conn: Connection) -> None:
        """Send `conn.out` at the end of this loop iteration."""
        pending = self._pending
        pending.append(conn)
        if len(pending) == 1:
            self.loop.run_callback(self._send_all)

    def _send_all(self) -> None:
        pending, self._pending = self._pending, []
        if self.before_reply is not None:
            try:
                self.before_reply()
            except Exception as exc:
                log.error("closing %d clients: writes could not be written out: %s",
                          len(pending), exc)
                for conn in pending:
                    conn._deferred = False
                    conn.kill()  # no reply may acknowledge writes that were not written
                return
        for conn in pending:
            conn._send_deferred()


class Connection:
    """The per-client loop; `run()` returns when the client leaves or must be dropped."""

    def __init__(
        self,
        sock: Any,
        session: Session,
        dispatch: Dispatch,
        settings: ServerSettings,
        shutdown: Shutdown | None = None,
        before_reply: BeforeReply | None = None,
        batcher: ReplyBatcher | None = None,
    ) -> None:
        self.sock = sock
        self.raw = getattr(sock, "_sock", sock)  # gevent keeps the non-blocking _socket here
        self.session = session
        self.dispatch = dispatch
        self.settings = settings
        self.shutdown = shutdown
        #: makes the writes of the commands run so far durable against a process crash
        self.before_reply = before_reply
        #: sends our replies at the end of the loop iteration (None: each batch sends its own)
        self.batcher = batcher
        self._deferred = False  # our output waits for the batcher's callback
        self.hub = get_hub()
        fd = sock.fileno()
        self._rw = self.hub.loop.io(fd, _READ)
        self._ww = self.hub.loop.io(fd, _WRITE)
        self.reader = RequestReader(max_bulk_len=settings.proto_max_bulk_len)
        self.reader.unauthenticated = not session.authenticated
        self.out = bytearray()  #: encoded replies not yet handed to the kernel
        self.closing = False
        #: True while a slow reader keeps us waiting for the socket to take more output
        self.write_blocked = False
        self._inflight = 0  # unsent bytes of the buffer being written
        self.last_read = time.monotonic()  #: when the client last sent bytes (idle timeout)
        self._greenlet: Any = None
        #: runs a request in the loop's callback, or returns NotImplemented (module doc)
        self.inline: Callable[[Session, list[bytes]], Any] | None = (
            getattr(dispatch, "inline", None) if settings.inline_commands and batcher else None
        )
        self._waiter: Waiter | None = None  # set while parked: the callback hands back here
        self._held: Any = None  # a request (or protocol error) the callback left to us
        session.on_kill = self.kill
        session.on_push = self.push

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until EOF, QUIT, a protocol error, a kill or shutdown; always closes."""
        self._greenlet = getcurrent()
        try:
            while not self.closing:
                if self.out and not self._deferred:  # pushed, or left by the batcher
                    self._flush()
                reason = self._park()
                if reason is _RUN:
                    if not (self._settle() and self._run_commands()):
                        break
                elif reason is _EOF:
                    self._send_deferred_now()
                    break
                elif reason is _DROP:
                    break
                # _WAKE: flush what is pending, park again
        except OSError:
            pass  # peer reset / killed while writing: nothing to tell anyone
        finally:
            self.close()

    def _park(self) -> str:
        """Wait for input, the loop's callback reading it (and running what it may, see the
        module doc); returns why it handed us back.

        The read watcher stays started between requests: stopping and restarting it around
        every request made libev issue an epoll_ctl per request, which fails (EEXIST: libev
        never removes the fd on a stop). Only input arriving while we are busy stops it (see
        `_on_readable`); we start it again here."""
        self._waiter = waiter = Waiter(self.hub)
        if not self._rw.active:
            self._rw.start(self._on_readable)
        try:
            return waiter.get()  # type: ignore[no-any-return]
        finally:
            self._waiter = None

    def _hand_back(self, reason: str) -> None:
        """In the loop: resume the parked greenlet (no-op when it is not parked)."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.switch(reason)

    def _on_readable(self) -> None:
        """The read watcher's callback; nothing may escape into the loop."""
        if self._waiter is None:  # busy in a command (or a flush): input waits for it, and
            self._rw.stop()  # a level-triggered watcher would fire every loop iteration
            return
        try:
            reason = self._react()
        except Exception:
            log.exception("closing %s: error in the event loop's callback", self.session.addr)
            reason = _DROP
        if reason is not None:
            self._hand_back(reason)

    def _react(self) -> str | None:
        """Read, and run what the loop may run; None = stay parked."""
        if self.closing:
            return _DROP
        try:
            data = self.raw.recv(self.settings.recv_size)
        except BlockingIOError:
            return None
        except OSError:
            return _DROP
        if not data:
            return _EOF
        self.last_read = time.monotonic()
        reader = self.reader
        reader.feed(data)
        if reader.buffered > self.settings.client_query_buffer_limit:
            log.warning("closing %s: query buffer over the limit", self.session.addr)
            return _EOF
        if self.inline is None:
            return _RUN  # every request runs in our greenlet (a cluster node)
        return self._run_inline()

    def _run_inline(self) -> str | None:
        """`_run_commands` in the loop's callback, up to the first request or state that needs
        the greenlet (which then carries on where this stopped)."""
        reader, session, inline = self.reader, self.session, self.inline
        soft = self._soft_limit()
        authenticated = session.authenticated
        gets = reader.gets
        out = self.out
        while True:
            try:
                args = gets()
            except (ProtocolError, HttpProbe) as exc:
                self._held = exc
                return _RUN
            if args is None:
                break
            if self._answer(inline, args, out) is NotImplemented:  # type: ignore[arg-type]
                self._held = args
                return _RUN
            if self.closing:
                return _DROP
            if session.close_after_reply or len(out) > soft or (
                session.authenticated is not authenticated
            ):
                return _RUN  # the greenlet settles it (`_settle`) and goes on
        if self.shutdown is not None and self.shutdown.is_set():
            return _RUN
        if out and not self._deferred:
            self._deferred = True
            self.batcher.defer(self)  # type: ignore[union-attr]
        return None

    def _answer(self, run: Dispatch, args: list[bytes], out: bytearray) -> Any:
        """Run one request and append its encoded reply to `out`; returns the reply. Nothing
        is appended when `run` declined it (NotImplemented) or the client was killed."""
        session = self.session
        try:
            reply = run(session, args)
        except ReplyError as exc:
            reply = exc
        except Exception:
            log.exception("command %r failed", args[0][:64])
            reply = _INTERNAL
        if reply is NotImplemented or self.closing:
            return reply
        mark = len(out)
        try:
            encode_into(reply, session.protocol, out.extend)
        except Exception:
            log.exception("bad reply value from %r", args[0][:64])
            del out[mark:]
            encode_into(_INTERNAL, session.protocol, out.extend)
        return reply

    def _soft_limit(self) -> int:
        """Pending output after which we flush before running more (lower before AUTH)."""
        soft = self.settings.output_soft_limit
        if not self.session.authenticated:
            soft = min(soft, self.settings.unauth_output_limit)
        return soft

    def _settle(self) -> bool:
        """What `_run_commands` does after a command, for the last one the loop ran: follow
        an authentication change, close after QUIT, flush past the soft limit."""
        session = self.session
        self.reader.unauthenticated = not session.authenticated
        if session.close_after_reply:
            self._flush()
            return False
        if len(self.out) > self._soft_limit():
            self._flush()
        return True

    def _run_commands(self) -> bool:
        """Run every complete request read so far, in order; False = close the connection."""
        reader, session, dispatch = self.reader, self.session, self.dispatch
        soft = self._soft_limit()
        gets = reader.gets
        out = self.out
        while True:
            try:
                if self._held is None:
                    args = gets()
                else:  # left by the loop's callback (`_run_inline`)
                    args, self._held = self._held, None
                    if isinstance(args, Exception):
                        raise args
            except ProtocolError as exc:
                encode_into(exc, session.protocol, self.out.extend)
                self._flush()
                return False
            except HttpProbe:
                self._log_probe()
                return False
            if args is None:
                break
            self._answer(dispatch, args, out)
            if self.closing:  # killed by another client while the command ran
                return False
            if reader.unauthenticated == session.authenticated:  # AUTH, HELLO AUTH, RESET
                reader.unauthenticated = not session.authenticated
                soft = self._soft_limit()
            if session.close_after_reply:
                self._flush()
                return False
            if len(out) > soft:
                self._flush()  # blocks while the client does not read: input waits too
                out = self.out  # _flush swapped in a fresh buffer
        stop = self.shutdown is not None and self.shutdown.is_set()
        if self.out:
            if self.batcher is None or stop:
                self._flush()
            elif not self._deferred:
                self._deferred = True
                self.batcher.defer(self)
        return not stop

    # -- output -----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Hand all pending output to the kernel, waiting (this greenlet only) when it is full.
        Every reply goes through here, so `before_reply` runs first (see the module doc)."""
        if self.before_reply is not None and self.out:
            self._write_out()
        send = self.raw.send
        while self.out:
            data = self.out
            self.out = bytearray()  # pushes that arrive while we wait go here
            try:
                sent = send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                continue
            if not self.session.authenticated and len(data) > self.settings.unauth_output_limit:
                # CVE-2025-21605: hold no reply backlog for a client that may never log in
                log.warning("closing %s: unauthenticated output over the limit", self.session.addr)
                raise ConnectionAbortedError("unauthenticated output limit")
            with memoryview(data) as view:
                view = view[sent:]
                self.write_blocked = True
                try:
                    while view:
                        self._inflight = len(view)
                        self.hub.wait(self._ww)
                        if self.closing:
                            raise ConnectionAbortedError("killed")
                        with contextlib.suppress(BlockingIOError):
                            view = view[send(view) :]
                finally:
                    self.write_blocked = False
                    self._inflight = 0

    def _send_deferred_now(self) -> None:
        """Before closing on the client's EOF: the replies of the commands already run (a long
        pipeline's last reads, EOF read at once after them) still go out, as they did when
        each batch sent its own. Not on a protocol error: Redis drops the pending replies."""
        if self._deferred and self.out:
            self._flush()

    def _send_deferred(self) -> None:
        """The batcher's send (in the loop's callback, after `before_reply`): what the socket
        takes now; the rest is left for our greenlet, woken to wait for the socket."""
        self._deferred = False
        data = self.out
        if self.closing or self.write_blocked or not data:
            return  # a blocked _flush of our greenlet sends it after what it is sending
        try:
            sent = self.raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.kill()  # reset by the peer: our greenlet wakes up and ends
            return
        if sent == len(data):
            data.clear()
            return
        if not self.session.authenticated and len(data) > self.settings.unauth_output_limit:
            log.warning("closing %s: unauthenticated output over the limit", self.session.addr)
            self.kill()
            return
        del data[:sent]
        self._wake()  # parked: run() flushes the rest; busy: it sends it after its commands

    def _write_out(self) -> None:
        try:
            self.before_reply()  # type: ignore[misc]
        except Exception as exc:
            log.error("closing %s: writes could not be written out: %s", self.session.addr, exc)
            raise ConnectionAbortedError("write-out failed") from exc

    @property
    def waiting_for_input(self) -> bool:
        """Parked between commands (not inside one, not blocked writing)."""
        return self._waiter is not None

    @property
    def output_pending(self) -> int:
        """Reply bytes held for this client (CLIENT LIST's omem; bounded, see module doc)."""
        return len(self.out) + self._inflight

    def push(self, value: Any) -> None:
        """Send an out-of-band value (pub/sub message) from any greenlet, in order."""
        if self.closing:
            return
        encode_into(value, self.session.protocol, self.out.extend)
        if self.output_pending > self.settings.output_hard_limit:
            log.warning("closing %s: output buffer over the hard limit", self.session.addr)
            self.kill()
        else:
            self._wake()

    def _wake(self) -> None:
        """Make the greenlet, if parked, flush its output (from another greenlet or the loop):
        the loop hands it back in a callback of its own, never inside a send loop. A busy
        greenlet needs no wake: it flushes before it parks again."""
        if self._waiter is not None:
            self.hub.loop.run_callback(self._hand_back, _WAKE)

    # -- ending -----------------------------------------------------------------------------

    def kill(self) -> None:
        """CLIENT KILL: from another greenlet, drop the client now; from our own command,
        reply first (Session.kill already set close_after_reply)."""
        if getcurrent() is self._greenlet or self.closing:
            return
        self.closing = True
        with contextlib.suppress(OSError):
            self.raw.shutdown(socket.SHUT_RDWR)  # wakes our greenlet: EOF / EPIPE

    def close(self) -> None:
        """Release the socket and watchers (idempotent; the registry entry is the caller's)."""
        self.closing = True
        self.session.on_push = None
        self._rw.close()
        self._ww.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def _log_probe(self) -> None:
        now = time.monotonic()
        if now - _probe_logged_at[0] >= 60:
            _probe_logged_at[0] = now
            log.warning(
                "Possible SECURITY ATTACK detected: a client (%s) sent HTTP ('POST' or "
                "'Host:') to the Redis port; connection closed",
                self.session.addr,
            )
