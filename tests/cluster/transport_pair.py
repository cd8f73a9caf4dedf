"""Two real transports on 127.0.0.1 (free ports): "a" calls, "b" answers with `handler`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from respdyn.cluster import messages as m
from respdyn.cluster.transport import Transport


@contextlib.contextmanager
def transport_pair(
    handler: Callable[[str, m.Request], list[bytes]], timeout: float
) -> Iterator[tuple[Transport, Transport]]:
    """(client, server); both closed afterwards."""
    server = Transport("b", "127.0.0.1:0", ("127.0.0.1", 0), handler=handler)
    server.serve()
    client = Transport("a", "127.0.0.1:0", ("127.0.0.1", 0), timeout=timeout)
    client.addresses["b"] = server.cluster_addr
    try:
        yield client, server
    finally:
        client.close()
        server.close()
