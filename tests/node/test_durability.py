"""A process crash loses no acknowledged write with --fsync everysec or no, as with Redis'
appendfsync everysec: the WAL buffer reaches the OS (write(2)) before the replies are sent; only
an OS crash may lose the last second. (fsync always: tests/node/test_restart.py.)

Each test kills the server with SIGKILL right after the last reply arrives, well within the
once-a-second background write-out that used to be the only one.
"""

from __future__ import annotations

import pytest
import redis
from harness import RespdynProcess


def client(node: RespdynProcess) -> redis.Redis:
    return redis.Redis(host=node.host, port=node.port, socket_timeout=10)


@pytest.mark.parametrize("fsync", ["everysec", "no"])
def test_sigkill_right_after_acknowledged_writes_loses_none(tmp_path, fsync):
    node = RespdynProcess(tmp_path / "data", "--fsync", fsync).start()
    try:
        c = client(node)
        acknowledged = {}
        for i in range(200):  # one command per batch
            key = f"single:{i}"
            assert c.set(key, f"value:{i}")
            acknowledged[key] = f"value:{i}".encode()
        pipe = c.pipeline(transaction=False)  # many commands per batch
        for i in range(500):
            pipe.set(f"piped:{i}", f"value:{i}")
        assert all(pipe.execute())
        acknowledged.update({f"piped:{i}": f"value:{i}".encode() for i in range(500)})
        assert c.mset({f"multi:{i}": f"m{i}" for i in range(50)})
        acknowledged.update({f"multi:{i}": f"m{i}".encode() for i in range(50)})
        assert c.incrby("counter", 7) == 7
        assert c.delete("single:0") == 1
        del acknowledged["single:0"]
        node.kill()

        node.start()
        c = client(node)
        assert c.mget(list(acknowledged)) == list(acknowledged.values())
        assert c.get("counter") == b"7"
        assert c.exists("single:0") == 0
    finally:
        node.stop()
