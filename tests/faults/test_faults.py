"""The fault harness in the test suite: the checker and the proxy without a network, then a
short run of a few schedules against 5 real nodes (N=3, R=2, W=2) behind the proxy mesh.

The long run (every schedule x several seeds, both policies) is `scripts/faults-long`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.faults.checker import FAIL, OK, UNKNOWN, Final, Op, check
from tests.faults.cluster import PROXY_HOST, FaultCluster
from tests.faults.proxy import rewrite_hello, split_frames
from tests.faults.runner import HEADER, converge, diverged_keys, dynamo_repair, run

pytestmark = pytest.mark.xdist_group("faults")

# -- the checker, table-driven ------------------------------------------------------------------


def _op(kind: str, key: str, value: str, start: float, end: float, outcome: str = OK) -> Op:
    return Op(0, kind, key, value, start, end if outcome != UNKNOWN else math.inf, outcome)


def test_cart_element_missing_is_lost_and_unknown_elements_are_phantoms() -> None:
    history = [_op("add", "cart:1", "a", 0, 1), _op("add", "cart:1", "b", 2, 3),
               _op("add", "cart:1", "c", 4, 5, FAIL)]
    verdict = check(history, {"cart:1": Final([b"a,c", b"a,zz"], b"a,c")})
    assert verdict.lost == ["cart:1:b"]
    assert verdict.phantom == ["cart:1:zz"]
    assert verdict.acked == 2


def test_register_value_superseded_by_a_later_write_is_not_lost() -> None:
    history = [_op("set", "reg:1", "v1", 0, 1), _op("set", "reg:1", "v2", 2, 3),
               _op("set", "reg:2", "w1", 0, 1), _op("set", "reg:2", "w2", 2, 3, UNKNOWN)]
    verdict = check(history, {"reg:1": Final([b"v1"], b"v1"), "reg:2": Final([b"w1"], b"w1")})
    assert verdict.lost == ["reg:1:v2"]  # w1 may have been superseded by the unknown w2


def test_resurrection_needs_a_settled_history_before_the_last_delete() -> None:
    settled = [_op("set", "del:1", "v", 0, 1), _op("del", "del:1", "", 2, 3)]
    assert check(settled, {"del:1": Final([b"v", None], b"v")}).resurrected == ["del:1:v"]
    assert check(settled, {"del:1": Final([None], None)}).resurrected == []
    in_doubt = [_op("set", "del:1", "v", 0, 1, UNKNOWN), _op("del", "del:1", "", 2, 3)]
    assert check(in_doubt, {"del:1": Final([b"v"], b"v")}).resurrected == []


# -- the proxy's frame handling -----------------------------------------------------------------


def test_split_frames_keeps_partial_tails() -> None:
    whole = b"*2\r\n$3\r\nGET\r\n$1\r\n1\r\n"
    buf = bytearray(whole + whole[:7])
    assert split_frames(buf) == [whole]
    assert bytes(buf) == whole[:7]


def test_hello_request_and_reply_advertise_the_proxy() -> None:
    request = b"*5\r\n$5\r\nHELLO\r\n$1\r\n0\r\n$2\r\nn1\r\n$4\r\nc:11\r\n$4\r\nr:12\r\n"
    reply = b"*5\r\n$1\r\n0\r\n$2\r\nok\r\n$2\r\nn2\r\n$4\r\nc:21\r\n$4\r\nr:22\r\n"
    assert rewrite_hello(request, b"p:1").endswith(b"$3\r\np:1\r\n")
    assert rewrite_hello(reply, b"p:2").endswith(b"$3\r\np:2\r\n")
    other = b"*3\r\n$3\r\nGET\r\n$1\r\n7\r\n$5\r\nHELLO\r\n"
    assert rewrite_hello(other, b"p:3") == other


# -- real clusters --------------------------------------------------------------------------------


@pytest.fixture
def fault_cluster(tmp_path: Path) -> Iterator[FaultCluster]:
    with FaultCluster(tmp_path, 5, ["--cluster-timeout-ms", "1000"]) as cluster:
        yield cluster


def test_no_inter_node_traffic_bypasses_the_proxies(fault_cluster: FaultCluster) -> None:
    for node in fault_cluster.nodes:
        c = node.client()
        for i in range(20):
            c.set(f"k{i}", "v")
        for member_id, _, cluster_addr, _state in c.execute_command("DYNAMO", "MEMBERS"):
            if member_id.decode() != node.node_id:
                assert cluster_addr.decode().startswith(PROXY_HOST + ":")
    assert fault_cluster.proxy_stats()["passed"] > 0


def test_a_mute_node_cannot_coordinate_but_still_hears(fault_cluster: FaultCluster) -> None:
    """Directed cut n1 -> everyone: n1's requests vanish, so its writes fail; the others'
    writes to keys n1 replicates still succeed (n1 hears them, its acks are lost)."""
    ids = fault_cluster.ids
    fault_cluster.set_rules({("n1", o): {"cut": True} for o in ids if o != "n1"})
    n1, n2 = fault_cluster.node("n1").client(), fault_cluster.node("n2").client()
    key = next(f"k{i}" for i in range(500)
               if n2.execute_command("DYNAMO", "PREFLIST", f"k{i}")[0] == b"n1")
    with pytest.raises(Exception, match=r"NOQUORUM|Timeout"):
        n1.set(key, "from n1")
    n2.set(key, "from n2")  # forwarded past n1 to the next replica
    fault_cluster.set_rules({})


def _key_coordinated_by(cluster: FaultCluster, node_id: str, avoid: str = "") -> str:
    c = cluster.node(node_id).client()
    for i in range(1000):
        prefs = c.execute_command("DYNAMO", "PREFLIST", f"k{i}")
        if prefs[0] == node_id.encode() and avoid.encode() not in prefs:
            return f"k{i}"
    raise LookupError(node_id)


def test_skew_moves_timestamps_and_agreement_is_exact(fault_cluster: FaultCluster) -> None:
    """The harness's skew reaches the node (--debug-clock-skew-file), the agreement check
    sees a replica that missed a write, and DYNAMO REPAIR on every node ends it."""
    key = _key_coordinated_by(fault_cluster, "n1")
    c1 = fault_cluster.node("n1").client()
    missing = c1.execute_command("DYNAMO", "PREFLIST", key)[2].decode()
    others = [i for i in fault_cluster.ids if i != missing]
    fault_cluster.set_rules({(a, b): {"cut": True} for a in [missing] for b in others}
                            | {(b, a): {"cut": True} for a in [missing] for b in others})
    fault_cluster.skew("n1", 90_000)
    deadline = time.monotonic() + 10
    while True:
        c1.set(key, "skewed")  # W = 2: n1 and the second replica
        _, siblings = c1.execute_command("SIBLINGS", key, "WITHMETA")
        if abs(siblings[0][1] - time.time() * 1000 - 90_000) < 30_000:
            break
        assert time.monotonic() < deadline, f"n1 does not stamp with its skewed clock: {siblings}"
        time.sleep(0.1)
    assert diverged_keys(fault_cluster, [key]) == [key]
    fault_cluster.heal_all()
    agreed, _, left = converge(fault_cluster, [key], dynamo_repair)
    assert agreed and left == []


def test_a_node_restarted_with_its_clock_behind_is_not_down_for_good(
    fault_cluster: FaultCluster,
) -> None:
    """Regression (found while switching the harness to --debug-clock-skew-file): the gossip
    generation was the process start time, and peers ignore heartbeats of a lower generation,
    so a node restarted with its clock 2 min behind its previous start was down for every peer
    (writes around it, hints held, repairs skipping it) until its clock caught up. Phi calls a
    silent member down within about 3 s, so the member must still be up well after that."""
    fault_cluster.skew("n1", -120_000)
    fault_cluster.restart("n1")
    settled = time.monotonic() + 6.0  # a member whose heartbeats are ignored is down by then
    deadline = settled + 15.0
    while True:
        states = {o.node_id: dict((r[0], r[3]) for r in o.client().execute_command(
            "DYNAMO", "MEMBERS"))[b"n1"] for o in fault_cluster.nodes if o.node_id != "n1"}
        if time.monotonic() > settled and set(states.values()) == {b"up"}:
            break
        assert time.monotonic() < deadline, f"n1 as its peers see it: {states}"
        time.sleep(0.2)


def _set_acknowledged(c: redis.Redis, key: str, value: str, timeout: float = 15.0) -> None:
    """SET until acknowledged: right after a restart, on a loaded machine, links and the
    handshake may outlast one quorum wait (1 s) and answer NOQUORUM; what these tests check
    is what happens to an acknowledged write, not how soon one is possible."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert c.set(key, value)
            return
        except redis.ResponseError as exc:
            if not str(exc).startswith("NOQUORUM") or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _write_restart_write(cluster: FaultCluster, key: str, via: str) -> None:
    """SET, SIGKILL + restart the key's coordinator n1, SET again (both acknowledged); the
    second value must be on every replica (a reissued dot would make peers drop it)."""
    client = cluster.node(via).client
    client().set(key, "before the crash")
    cluster.restart("n1")  # SIGKILL, then start again on the same data
    _set_acknowledged(client(), key, "after the crash")  # W = 2
    for other in cluster.nodes:
        c = other.client()
        c.execute_command("CONSISTENCY", "ALL")
        siblings = _siblings_from_all(c, key)
        assert b"after the crash" in siblings, (other.node_id, siblings)


def _siblings_from_all(c: redis.Redis, key: str, timeout: float = 15.0) -> list:
    """SIBLINGS read from every replica (CONSISTENCY ALL), retried while it answers NOQUORUM:
    right after the restart a peer's link to n1 may still be in its reconnect backoff, or n1's
    own links still connecting (a CI run failed so); the check is on what the replicas hold."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return c.execute_command("SIBLINGS", key)[1]
        except redis.ResponseError as exc:
            if not str(exc).startswith("NOQUORUM") or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def test_restart_after_sigkill_keeps_dots_of_writes_it_was_asked_for(
    fault_cluster: FaultCluster,
) -> None:
    """Regression (kill-restart seed 2 found it; fixed in fd3047c: the WAL reaches the OS
    before a client's reply): the client talks to the coordinator itself."""
    _write_restart_write(fault_cluster, _key_coordinated_by(fault_cluster, "n1"), "n1")


def test_restart_after_sigkill_keeps_dots_of_forwarded_writes(
    fault_cluster: FaultCluster,
) -> None:
    """The WAL writer flushes every second on its own, so a kill lands inside the unflushed
    window most of the time, not always: three rounds make the failure near certain."""
    c = fault_cluster.node("n5").client()
    keys = [f"k{i}" for i in range(1000)
            if (p := c.execute_command("DYNAMO", "PREFLIST", f"k{i}"))[0] == b"n1"
            and b"n5" not in p]
    for key in keys[:3]:
        _write_restart_write(fault_cluster, key, "n5")


# -- the short run: a few schedules, every figure must be zero ----------------------------------

SHORT = [("majority-minority", 1), ("bridge", 1), ("pause", 1), ("skew+partition", 1),
         ("skew+partition", 2)]  # seed 2: a quorum read-back missing a sloppy-quorum write


@pytest.mark.parametrize(("schedule", "seed"), SHORT)
def test_short_run_loses_nothing(tmp_path: Path, schedule: str, seed: int) -> None:
    result = run(schedule, seed, "siblings", duration=8.0, root=tmp_path)
    print(HEADER, result.row(), *result.steps, sep="\n")
    assert result.acked > 100, "the workload barely ran"
    assert result.lost == [] and result.phantom == [] and result.resurrected == []
    assert result.converged, f"replicas still differ on {result.diverged[:5]}"


def test_lww_loses_acknowledged_cart_adds(tmp_path: Path) -> None:
    """The checker is not blind: last-write-wins drops concurrent adds, as Jepsen measured."""
    result = run("none", 1, "lww", duration=5.0, root=tmp_path)
    print(HEADER, result.row(), sep="\n")
    assert any(item.startswith("cart:") for item in result.lost)
    assert result.phantom == []
