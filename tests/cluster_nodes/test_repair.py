"""Anti-entropy on real node processes: a wiped node is restored by DYNAMO REPAIR or by the
background exchanges, and deletes a node missed while down stay deleted after repair.

Hinted handoff is switched off (`--hint-budget-bytes 0`) and the background loop too where the
command is tested, so the repair is the only way data reaches the node under test."""

from __future__ import annotations

import shutil
import time

import redis

#: no background exchanges, no hints: only DYNAMO REPAIR moves data
ONLY_REPAIR = ("--aae-interval-ms", "0", "--hint-budget-bytes", "0")


def _local(client: redis.Redis, keys: list[str]) -> list[int]:
    """DYNAMO LOCAL of each key on the client's node."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("DYNAMO", "LOCAL", key)
    return pipe.execute()


def _write_everywhere(client: redis.Redis, items: dict[str, str]) -> None:
    """Writes acknowledged by all three replicas (so the node we stop holds them too). Just
    after start a link may still be in its first reconnect backoff: a probe write waits for
    the client's node (which coordinates every write here) to reach both peers. The probe is
    the first item, so the data set stays exactly `items`."""
    client.execute_command("CONSISTENCY", "ALL")
    first = next(iter(items.items()))
    deadline = time.monotonic() + 15
    while True:
        try:
            client.set(*first)
            break
        except redis.ResponseError as exc:
            if not str(exc).startswith("NOQUORUM") or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    pipe = client.pipeline(transaction=False)
    for key, value in items.items():
        pipe.set(key, value)
    pipe.execute()
    client.execute_command("CONSISTENCY", "DEFAULT")


def _wipe_and_restart(cluster, k: int) -> None:
    node = cluster.nodes[k - 1]
    node.stop()
    shutil.rmtree(node.data_dir)
    node.start()


def _replicas_on(cluster, k: int, keys: list[str]) -> list[str]:
    """The keys whose preference list includes node k."""
    c = cluster.client(1)
    return [key for key in keys if f"node{k}".encode() in c.execute_command("DYNAMO", "PREFLIST",
                                                                            key)]


def test_repair_restores_a_wiped_node(make_cluster) -> None:
    cluster = make_cluster(3, *ONLY_REPAIR)
    items = {f"key:{i}": f"value:{i}" for i in range(300)}
    _write_everywhere(cluster.client(1), items)
    mine = _replicas_on(cluster, 3, list(items))
    assert len(mine) == 300  # three nodes, N = 3: every key is on node3
    assert _local(cluster.client(3), mine) == [1] * len(mine)

    _wipe_and_restart(cluster, 3)
    c3 = cluster.client(3)
    assert _local(c3, mine) == [0] * len(mine)

    started = time.monotonic()
    repaired = c3.execute_command("DYNAMO", "REPAIR")
    elapsed = time.monotonic() - started
    print(f"\nwiped node restored by DYNAMO REPAIR: {repaired} keys repaired in {elapsed:.2f} s")
    assert repaired == len(mine)
    assert _local(c3, mine) == [1] * len(mine)
    c3.execute_command("CONSISTENCY", "ONE")  # node3 answers from its own disk first
    assert c3.mget(mine) == [items[k].encode() for k in mine]
    info = c3.info("cluster")
    assert info["aae_keys_repaired"] == repaired and info["aae_last_repair_keys"] == repaired
    assert info["aae_exchanges"] >= 64 and info["aae_last_repair_ms"] >= 1
    assert c3.execute_command("DYNAMO", "REPAIR") == 0  # nothing left to repair


def test_deletes_missed_while_down_stay_deleted_after_repair(make_cluster) -> None:
    cluster = make_cluster(3, *ONLY_REPAIR)
    items = {f"del:{i}": f"v{i}" for i in range(100)}
    _write_everywhere(cluster.client(1), items)
    deleted = [f"del:{i}" for i in range(0, 100, 2)]
    kept = [f"del:{i}" for i in range(1, 100, 2)]

    cluster.nodes[2].stop()
    c1 = cluster.client(1)
    assert c1.delete(*deleted) == len(deleted)  # W = 2 of node1, node2
    cluster.nodes[2].start()

    c3 = cluster.client(3)
    c3.execute_command("CONSISTENCY", "ONE")
    assert c3.mget(deleted) == [items[k].encode() for k in deleted]  # node3 missed the deletes
    repaired = c3.execute_command("DYNAMO", "REPAIR")
    assert repaired == len(deleted)  # the tombstones, and nothing else
    assert c3.mget(deleted) == [None] * len(deleted)
    assert c3.mget(kept) == [items[k].encode() for k in kept]
    for k in (1, 2, 3):
        client = cluster.client(k)
        client.execute_command("CONSISTENCY", "ALL")
        assert client.mget(deleted) == [None] * len(deleted), f"node{k}"
        assert client.exists(*deleted) == 0
        assert client.mget(kept) == [items[key].encode() for key in kept]
    assert c1.execute_command("DYNAMO", "REPAIR") == 0


def test_background_exchanges_heal_a_wiped_node(make_cluster) -> None:
    cluster = make_cluster(3, "--aae-interval-ms", "20", "--hint-budget-bytes", "0")
    items = {f"bg:{i}": f"v{i}" for i in range(200)}
    _write_everywhere(cluster.client(1), items)
    keys = list(items)

    _wipe_and_restart(cluster, 3)
    c3 = cluster.client(3)
    started = time.monotonic()
    deadline = started + 25
    held = _local(c3, keys)
    while sum(held) < len(keys) and time.monotonic() < deadline:
        time.sleep(0.2)
        held = _local(c3, keys)
    elapsed = time.monotonic() - started
    print(f"\nwiped node healed by background anti-entropy: {sum(held)} keys in {elapsed:.2f} s")
    assert held == [1] * len(keys)
    total = sum(cluster.client(k).info("cluster")["aae_keys_repaired"] for k in (1, 2, 3))
    assert total >= len(keys)
    c3.execute_command("CONSISTENCY", "ONE")
    assert c3.mget(keys) == [items[k].encode() for k in keys]
