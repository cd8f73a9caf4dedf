"""The gevent network shell: listener, one connection loop per client, the shutdown signal.

Wiring (the node's composition root does this)::

    shutdown = Shutdown()
    sessions = SessionRegistry(maxclients=10000)
    settings = ServerSettings(host="127.0.0.1", port=6379, auth_required=bool(requirepass))
    listener = Listener(dispatch, sessions, settings, shutdown)  # dispatch(session, args)
    listener.start()          # or serve_forever(); listener.server_port is the bound port
    shutdown.wait()           # SIGTERM handler calls shutdown.trigger(): the listener stops

`dispatch(session, args: list[bytes])` returns a reply value (see protocol/reply.py); it may
block its greenlet on gevent primitives. It must set `session.authenticated`, `protocol` and
`close_after_reply` as AUTH/HELLO/QUIT require; the connection reads them after every command.
"""

from respdyn.server.connection import Connection
from respdyn.server.listener import Listener, ServerSettings
from respdyn.server.shutdown import Shutdown

__all__ = ["Connection", "Listener", "ServerSettings", "Shutdown"]
