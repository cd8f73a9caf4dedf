"""Per-request settings that travel from a client's session down to the store.

The dispatcher sets `consistency` around each handler call from the session's CONSISTENCY
override (None = the cluster's defaults); `ReplicatedStore` reads it when it asks the
coordinator for R or W. A ContextVar, because one greenlet runs one connection's commands one
at a time and greenlets each have their own context: no argument has to be threaded through
every command and keyspace method, and nothing leaks between clients.
"""

from __future__ import annotations

from contextvars import ContextVar

#: the session key under which CONSISTENCY stores its (r, w) override
SESSION_KEY = "consistency"

#: (r, w) of the running command's client, or None for the cluster's defaults
consistency: ContextVar[tuple[int, int] | None] = ContextVar("consistency", default=None)
