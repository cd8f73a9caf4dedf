"""Crash safety with real processes: a child writes, reporting each acknowledged operation over a
pipe; the parent SIGKILLs it at a random moment, reopens the store and checks it.

Operations are generated deterministically from their index (OPS_SOURCE, run in both
processes), each put carries a value naming its operation, so the parent can tell from the
recovered data which prefix of the operation stream survived. The recovered state must equal
exactly that prefix (batches all-or-nothing, no value never written, nothing reordered), and:
  * fsync=always: the prefix holds every acknowledged operation (plus maybe the one in flight);
  * fsync=everysec: it may miss only operations acknowledged in the last ~second before the kill
    (checked with a 1 s margin for a loaded machine).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

import storage

OPS_SOURCE = r'''
import random

def op(i):
    """Operation i: ("put", key, value) | ("delete", key) | ("batch", [(key, value|None), ...])."""
    rng = random.Random(i)
    r = rng.random()
    key = b"k%03d" % rng.randrange(300)
    if r < 0.65:
        return ("put", key, b"v%d:" % i + b"x" * rng.randrange(200))
    if r < 0.8:
        return ("delete", key)
    items = [(b"k%03d" % rng.randrange(300), b"v%d.%d:" % (i, j)) for j in range(3)]
    items.append((b"k%03d" % rng.randrange(300), None))
    return ("batch", items)
'''

CHILD = (
    OPS_SOURCE
    + r"""
import sys
import storage

path, fsync, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
inline = sys.argv[4] == "inline"  # no background thread: several frozen memtables wait
db = storage.open(path, storage.Options(
    fsync=fsync, memtable_bytes=8 * 1024 if inline else 32 * 1024, target_file_bytes=32 * 1024,
    level1_bytes=128 * 1024, block_size=1024, background_compaction=not inline))
out = sys.stdout
out.write("ready\n")
out.flush()
i = start
while True:
    o = op(i)
    if o[0] == "put":
        db.put(o[1], o[2])
    elif o[0] == "delete":
        db.delete(o[1])
    else:
        batch = storage.WriteBatch()
        for key, value in o[1]:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        db.write(batch)
    out.write("%d\n" % i)  # acknowledged: the write call returned
    out.flush()
    i += 1
"""
)

_ns: dict = {}
exec(OPS_SOURCE, _ns)
op = _ns["op"]
_OP_INDEX = re.compile(rb"^v(\d+)[:.]")


def apply(model: dict, i: int) -> None:
    o = op(i)
    if o[0] == "put":
        model[o[1]] = o[2]
    elif o[0] == "delete":
        model.pop(o[1], None)
    else:
        for key, value in o[1]:
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value


def run_child(
    path: str, fsync: str, start: int, run_for: float, inline: bool = False
) -> tuple[list[tuple[int, float]], float]:
    """Start the child, SIGKILL it `run_for` seconds after it is ready.
    -> ([(op index, time acknowledged)], kill time)."""
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, fsync, str(start), "inline" if inline else "bg"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    acks: list[tuple[int, float]] = []
    try:
        line = proc.stdout.readline()
        assert line == b"ready\n", proc.stderr.read().decode()
        kill_at = time.monotonic() + run_for
        while time.monotonic() < kill_at:
            line = proc.stdout.readline()
            if not line:
                break
            acks.append((int(line), time.monotonic()))
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        for line in proc.stdout:  # acknowledged before it died, still in the pipe
            acks.append((int(line), killed))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the child died on its own"
    return acks, killed


def recovered_prefix(state: dict, base: dict, start: int, last_possible: int) -> int:
    """The op index p such that `state` == base + ops[start..p]; fails if there is none."""
    visible = [int(m.group(1)) for v in state.values() if (m := _OP_INDEX.match(v))]
    p = max([start - 1, *(i for i in visible if i >= start)])
    model = dict(base)
    for i in range(start, p + 1):
        apply(model, i)
    # trailing deletes leave no value behind: extend over them while the state still fits
    while model != state and p < last_possible:
        p += 1
        apply(model, p)
    assert model == state, f"recovered state is no prefix of the operations (p={p})"
    # an op that changes nothing (deleting an absent key) cannot be told apart: count it in
    while p < last_possible:
        trial = dict(model)
        apply(trial, p + 1)
        if trial != state:
            break
        p += 1
        model = trial
    return p


def read_all(path: str) -> dict:
    db = storage.open(path, storage.Options(fsync="no"))
    try:
        return dict(db.scan())
    finally:
        db.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("inline", [False, True], ids=["background", "frozen-queue"])
def test_sigkill_with_fsync_always_loses_no_acknowledged_write(tmp_path, inline):
    """frozen-queue: no background thread and an 8 KiB memtable, so at the kill up to
    max_frozen_memtables (3) frozen memtables wait for a flush, each only in its WAL."""
    path = str(tmp_path / "db")
    rng = random.Random(2024)
    model: dict = {}
    start = 0
    total_acked = 0
    most_logs = 0  # WALs left by a killed child: its frozen memtables + the active one
    for _ in range(20):
        acks, _ = run_child(path, "always", start, rng.uniform(0.05, 0.4), inline)
        most_logs = max(most_logs, sum(n.endswith(".log") for n in os.listdir(path)))
        last_acked = acks[-1][0] if acks else start - 1
        total_acked += len(acks)
        state = read_all(path)
        p = recovered_prefix(state, model, start, last_acked + 1)
        assert p >= last_acked, f"acknowledged op {last_acked} lost (recovered up to {p})"
        assert p <= last_acked + 1
        for i in range(start, p + 1):
            apply(model, i)
        start = p + 1
    assert total_acked > 200  # the rounds really wrote something
    if inline:
        assert most_logs >= 3, "no kill found several frozen memtables"


@pytest.mark.timeout(120)
def test_sigkill_with_fsync_everysec_loses_at_most_about_a_second(tmp_path):
    path = str(tmp_path / "db")
    rng = random.Random(7)
    model: dict = {}
    start = 0
    for _ in range(3):
        acks, killed = run_child(path, "everysec", start, rng.uniform(1.5, 2.5))
        assert acks, "the child acknowledged nothing"
        last_acked = acks[-1][0]
        must_have = [i for i, t in acks if t < killed - 2.0]  # 1 s policy + 1 s margin
        state = read_all(path)
        p = recovered_prefix(state, model, start, last_acked + 1)
        if must_have:
            assert p >= must_have[-1], f"op {must_have[-1]} acknowledged >2 s before the kill lost"
        for i in range(start, p + 1):
            apply(model, i)
        start = p + 1
