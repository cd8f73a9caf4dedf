"""The gevent network shell: listener, one connection loop per client, the shutdown signal."""

from respdyn.server.connection import Connection
from respdyn.server.listener import Listener, ServerSettings
from respdyn.server.shutdown import Shutdown

__all__ = ["Connection", "Listener", "ServerSettings", "Shutdown"]
