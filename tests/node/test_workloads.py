"""Real workloads against a real respdyn process, driven by unchanged client libraries.

- RQ (1.11: job results live in the job's hash; RQ >= 1.12 keeps them in Redis streams, which
  respdyn does not serve). A forking `rq` worker in its own process blocks in BLPOP on an empty
  queue and is woken by jobs enqueued by another client; its pipelines are MULTI/EXEC, jobs are
  hashes, registries sorted sets, the worker set a set, and it subscribes to its control
  channel. RQ needs no EVAL for this (its Lua is only for unique jobs, the scheduler and rate
  limits).
- A session store: hashes with a TTL, refreshed on access, updated with WATCH/MULTI, expiring.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

WAIT = 30.0

#: the worker process: unchanged RQ, except that the registry cleanup (ZREMRANGEBYSCORE) is
#: skipped while respdyn does not serve that command
WORKER = """
import sys, redis, rq
from rq import Queue, Worker
conn = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]))
try:
    conn.zremrangebyscore("rq:probe", 0, 0)
except redis.ResponseError:
    Worker.clean_registries = lambda self: None
worker = Worker([Queue("jobs", connection=conn)], connection=conn, name="w1")
worker.work(max_jobs=int(sys.argv[3]), with_scheduler=False)
"""


@pytest.fixture
def r(node):
    client = redis.Redis(host=node.host, port=node.port, socket_timeout=WAIT)
    client.flushall()
    yield client
    client.close()


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise TimeoutError(what)


def serves_zremrangebyscore(r: redis.Redis) -> bool:
    try:
        r.zremrangebyscore("rq:probe", 0, 0)
    except redis.ResponseError:
        return False
    return True


def test_rq_worker_blocks_until_jobs_arrive_and_runs_them(node, r, tmp_path):
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, node.host, str(node.port), "3"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: any(c.get("cmd") == "blpop" for c in r.client_list()),
                 "the RQ worker never blocked on its queue")
        queue = Queue("jobs", connection=r)
        ok = queue.enqueue("operator.add", 20, 22)
        failing = queue.enqueue("operator.truediv", 1, 0)
        urgent = queue.enqueue("operator.mul", 6, 7, at_front=True)
        assert worker.wait(WAIT) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert [Job.fetch(j.id, connection=r).get_status() for j in (ok, failing, urgent)] == [
        "finished", "failed", "finished"]
    assert Job.fetch(ok.id, connection=r).result == 42
    assert Job.fetch(urgent.id, connection=r).result == 42
    assert "ZeroDivisionError" in Job.fetch(failing.id, connection=r).exc_info
    # the registries' members, read without their cleanup step (ZREMRANGEBYSCORE)
    assert r.zrange(FailedJobRegistry(queue=queue).key, 0, -1) == [failing.id.encode()]
    finished = r.zrange(FinishedJobRegistry(queue=queue).key, 0, -1)
    assert sorted(finished) == sorted([ok.id.encode(), urgent.id.encode()])
    assert queue.count == 0


def test_rq_jobs_run_in_queue_order(node, r, monkeypatch):
    if not serves_zremrangebyscore(r):
        monkeypatch.setattr(SimpleWorker, "clean_registries", lambda self: None)
    queue = Queue("fifo", connection=r)
    jobs = [queue.enqueue("operator.add", i, 0) for i in range(20)]
    worker = SimpleWorker([queue], connection=r)
    assert worker.work(burst=True) is True
    done = [Job.fetch(j.id, connection=r) for j in jobs]
    assert [j.result for j in done] == list(range(20))
    ended = [j.ended_at for j in done]
    assert ended == sorted(ended)  # popped from the head in enqueue order


# --- a session store: hashes with a TTL ----------------------------------------------------------


class SessionStore:
    """What web frameworks' Redis session backends do with a hash per session."""

    def __init__(self, client: redis.Redis, ttl_ms: int) -> None:
        self.r = client
        self.ttl_ms = ttl_ms

    def key(self, sid: str) -> str:
        return f"session:{sid}"

    def save(self, sid: str, data: dict[str, str]) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.key(sid)).hset(self.key(sid), mapping=data)
        pipe.pexpire(self.key(sid), self.ttl_ms)
        pipe.execute()

    def load(self, sid: str) -> dict[bytes, bytes]:
        """Read and slide the expiry, in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(self.key(sid)).pexpire(self.key(sid), self.ttl_ms)
        data, _ = pipe.execute()
        return data

    def increment_views(self, sid: str) -> int:
        def update(pipe: redis.client.Pipeline) -> int:
            views = int(pipe.hget(self.key(sid), "views") or 0) + 1
            pipe.multi()
            pipe.hset(self.key(sid), "views", views)
            return views

        return self.r.transaction(update, self.key(sid), value_from_callable=True)


def test_session_store_with_hashes_and_ttl(node, r):
    store = SessionStore(r, ttl_ms=1500)
    store.save("abc", {"user": "alice", "views": "0"})
    assert store.load("abc") == {b"user": b"alice", b"views": b"0"}
    assert 0 < r.pttl("session:abc") <= 1500
    assert [store.increment_views("abc") for _ in range(3)] == [1, 2, 3]
    assert r.hget("session:abc", "views") == b"3"
    assert 0 < r.pttl("session:abc") <= 1500  # HSET keeps the TTL
    store.save("short", {"user": "bob"})
    r.pexpire("session:short", 50)
    wait_for(lambda: not r.exists("session:short"), "the session never expired")
    assert store.load("short") == {}
    assert r.hgetall("session:abc")[b"user"] == b"alice"


def test_session_store_through_redis_om(node):
    """redis-om's HashModel (Redis Inc.'s object mapper) as a session store: one hash per
    session (HSET), a TTL (EXPIRE), reads (HGETALL), updates that keep the TTL, delete."""
    from redis_om import HashModel, get_redis_connection

    url = f"redis://{node.host}:{node.port}"

    class WebSession(HashModel, index=True):
        user: str
        cart_items: int

        class Meta:
            database = get_redis_connection(url=url)
            global_key_prefix = "om"

    db = WebSession.Meta.database
    session = WebSession(user="alice", cart_items=3)
    session.save()
    session.expire(600)
    assert db.type(session.key()) == "hash"  # redis-om decodes replies
    loaded = WebSession.get(session.pk)
    assert (loaded.user, loaded.cart_items) == ("alice", 3)
    loaded.cart_items = 4
    loaded.save()
    assert WebSession.get(session.pk).cart_items == 4
    assert 0 < db.ttl(session.key()) <= 600  # an update keeps the session's TTL
    WebSession.delete(session.pk)
    assert db.exists(session.key()) == 0
