"""Real clients and tools, unchanged, against redis-server and respdyn: the same session on
both, results compared (redis-py sync/asyncio/pipeline/RESP3, redis-cli's modes, django-redis'
cache backend, a Flask-Limiter-style fixed window); redis-benchmark must finish without errors.
tests/node/ checks respdyn alone; here the reference decides what is right."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from compat import differences
from compat.compare import RECORDER
from compat.targets import Target

#: applications still call setex/psetex/getset/setnx, which redis-py marks deprecated
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")

# --- redis-py --------------------------------------------------------------------------------

#: (method, args, kwargs) run in order on a fresh database; values chosen to hit options,
#: errors and edge cases the redis-py API exposes
WORKLOAD: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("set", ("s", "hello"), {}),
    ("get", ("s",), {}),
    ("set", ("s", "x"), {"nx": True}),
    ("set", ("s", "world"), {"xx": True, "get": True}),
    ("set", ("t", "v"), {"ex": 100}),
    ("ttl", ("t",), {}),
    ("set", ("t", "w"), {"keepttl": True}),
    ("ttl", ("t",), {}),
    ("set", ("t", "v"), {"exat": 33177117420}),
    ("expiretime", ("t",), {}),
    ("setex", ("e", 100, "v"), {}),
    ("psetex", ("p", 100000, "v"), {}),
    ("setnx", ("s", "no"), {}),
    ("getset", ("s", "again"), {}),
    ("getdel", ("s",), {}),
    ("getex", ("e",), {"persist": True}),
    ("ttl", ("e",), {}),
    ("mset", ({"a": 1, "b": "2", "c": b"\x00\x01\r\n"},), {}),
    ("mget", (["a", "b", "c", "missing"],), {}),
    ("msetnx", ({"a": 9, "z": 9},), {}),
    ("incr", ("n",), {}),
    ("incrby", ("n", 41), {}),
    ("decr", ("n",), {}),
    ("decrby", ("n", 10), {}),
    ("incrbyfloat", ("f", 2.5), {}),
    ("incrbyfloat", ("f", -0.1), {}),
    ("incr", ("c",), {}),
    ("append", ("b", "34"), {}),
    ("strlen", ("b",), {}),
    ("getrange", ("b", 1, -1), {}),
    ("setrange", ("b", 1, "ZZ"), {}),
    ("lcs", ("a", "b"), {}),
    ("exists", ("a", "b", "nope"), {}),
    ("type", ("a",), {}),
    ("expire", ("a", 100), {"nx": True}),
    ("expire", ("a", 50), {"gt": True}),
    ("pexpire", ("a", 500000), {"xx": True}),
    ("ttl", ("a",), {}),
    ("persist", ("a",), {}),
    ("rename", ("a", "a2"), {}),
    ("renamenx", ("a2", "b"), {}),
    ("copy", ("a2", "a3"), {}),
    ("copy", ("a2", "a3"), {"replace": True}),
    ("touch", ("a2", "a3"), {}),
    ("keys", ("a*",), {}),
    ("dbsize", (), {}),
    ("delete", ("a2", "a3", "none"), {}),
    ("unlink", ("b",), {}),
    ("echo", ("é",), {}),
    ("ping", (), {}),
    ("execute_command", ("NOSUCH", "x"), {}),
    ("execute_command", ("GET",), {}),
    ("execute_command", ("SET", "k", "v", "EX", "0"), {}),
]


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except redis.RedisError as exc:
        return ("error", type(exc).__name__, str(exc))


def comparable(method: str, value: Any) -> Any:
    """KEYS' order is the server's own (differences.py: keys)."""
    return sorted(value) if method == "keys" and isinstance(value, list) else value


def sync_session(target: Target, **options: Any) -> list[Any]:
    client = redis.Redis(host=target.host, port=target.port, socket_timeout=10, **options)
    try:
        client.flushall()
        return [comparable(m, outcome(lambda m=m, a=a, k=k: getattr(client, m)(*a, **k)))
                for m, a, k in WORKLOAD]
    finally:
        client.close()


async def async_session(target: Target, **options: Any) -> list[Any]:
    client = redis.asyncio.Redis(host=target.host, port=target.port, **options)
    try:
        await client.flushall()
        out = []
        for method, args, kwargs in WORKLOAD:
            try:
                value = await getattr(client, method)(*args, **kwargs)
            except redis.RedisError as exc:
                value = ("error", type(exc).__name__, str(exc))
            out.append(comparable(method, value))
        return out
    finally:
        await client.aclose()


def pipeline_session(target: Target, **options: Any) -> list[Any]:
    client = redis.Redis(host=target.host, port=target.port, socket_timeout=10, **options)
    try:
        client.flushall()
        pipe = client.pipeline(transaction=False)
        for method, args, kwargs in WORKLOAD:
            getattr(pipe, method)(*args, **kwargs)
        replies = pipe.execute(raise_on_error=False)
        return [
            comparable(m, ("error", type(r).__name__, str(r)) if isinstance(r, Exception) else r)
            for (m, _, _), r in zip(WORKLOAD, replies, strict=True)
        ]
    finally:
        client.close()


def assert_same(name: str, theirs: list[Any], ours: list[Any]) -> None:
    differing = [
        (WORKLOAD[i][0], WORKLOAD[i][1], t, o)
        for i, (t, o) in enumerate(zip(theirs, ours, strict=True)) if t != o
    ]
    assert not differing, differing
    RECORDER.extra.setdefault("clients", {})[name] = f"{len(ours)} calls identical"


SYNC_VARIANTS = {
    "redis-py sync RESP2": {},
    "redis-py sync RESP3": {"protocol": 3},
    "redis-py sync decode_responses": {"decode_responses": True},
}


@pytest.mark.parametrize("name", sorted(SYNC_VARIANTS))
def test_redis_py_sync(name: str, redis_target: Target, respdyn_target: Target) -> None:
    options = SYNC_VARIANTS[name]
    theirs = sync_session(redis_target, **options)
    assert_same(name, theirs, sync_session(respdyn_target, **options))


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_asyncio(protocol: int, redis_target: Target, respdyn_target: Target) -> None:
    theirs = asyncio.run(async_session(redis_target, protocol=protocol))
    ours = asyncio.run(async_session(respdyn_target, protocol=protocol))
    assert_same(f"redis-py asyncio RESP{protocol}", theirs, ours)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_pipeline(protocol: int, redis_target: Target, respdyn_target: Target) -> None:
    theirs = pipeline_session(redis_target, protocol=protocol)
    ours = pipeline_session(respdyn_target, protocol=protocol)
    assert_same(f"redis-py pipeline RESP{protocol}", theirs, ours)


def test_redis_py_scan_iter_and_large_values(redis_target: Target, respdyn_target: Target) -> None:
    """scan_iter walks every key once whatever the batches; a 1 MiB value round-trips."""
    results = []
    for target in (redis_target, respdyn_target):
        client = redis.Redis(host=target.host, port=target.port, socket_timeout=10)
        client.flushall()
        client.mset({f"key:{i}": i for i in range(500)})
        client.set("big", b"\x01" * (1 << 20))
        keys = sorted(client.scan_iter(match="key:*", count=37))
        results.append((keys, client.get("big") == b"\x01" * (1 << 20), client.dbsize()))
        client.close()
    assert results[0] == results[1]
    assert len(results[1][0]) == 500


def typed_session(target: Target, protocol: int) -> list[Any]:
    """Hashes, lists, sets, sorted sets, MULTI/EXEC pipelines and the WATCH helper through
    redis-py's own API (dicts and sets make HGETALL/SMEMBERS order-free, as apps see them)."""
    client = redis.Redis(host=target.host, port=target.port, socket_timeout=10,
                         protocol=protocol)
    other = redis.Redis(host=target.host, port=target.port, socket_timeout=10)
    client.flushall()
    out: list[Any] = [
        client.hset("h", mapping={"a": 1, "b": "two"}), client.hgetall("h"),
        client.hincrby("h", "a", 5), client.hincrbyfloat("h", "f", 1.5),
        client.hmget("h", "a", "x"),
        client.lpush("l", 1, 2, 3), client.rpush("l", "z"), client.lrange("l", 0, -1),
        client.lpop("l", 2), client.blpop(["nothing", "l"], timeout=1), client.llen("l"),
        client.sadd("s", "x", "y"), client.smembers("s"), client.sismember("s", "x"),
        client.zadd("z", {"a": 1, "b": 2.5}), client.zrange("z", 0, -1, withscores=True),
        client.zincrby("z", 2, "a"), client.zrangebyscore("z", 2, "+inf"), client.zscore("z", "b"),
        client.zpopmin("z"),
    ]
    with client.pipeline(transaction=True) as pipe:
        out.append(pipe.set("t", 1).incr("t").get("t").hset("h", "c", 3).execute())
    attempts = []

    def bump(pipe: Any) -> None:
        value = int(pipe.get("counter") or 0)
        if not attempts:
            other.set("counter", 100)  # a concurrent writer: the first EXEC must abort
        attempts.append(value)
        pipe.multi()
        pipe.set("counter", value + 1)

    out.append(client.transaction(bump, "counter"))
    out.append((attempts, client.get("counter")))
    other.close()
    client.close()
    return out


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_data_types_and_transactions(
    protocol: int, redis_target: Target, respdyn_target: Target
) -> None:
    theirs, ours = typed_session(redis_target, protocol), typed_session(respdyn_target, protocol)
    assert theirs == ours
    RECORDER.extra.setdefault("clients", {})[f"redis-py types/MULTI/WATCH RESP{protocol}"] = (
        f"{len(ours)} results identical"
    )


def pubsub_session(target: Target) -> list[Any]:
    """redis-py's PubSub object: (un)subscribe confirmations, messages, pattern messages."""
    client = redis.Redis(host=target.host, port=target.port, socket_timeout=10)
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("w*")
    out = [client.publish("news", "hello"), client.publish("weather", "rain"),
           client.pubsub_numsub("news"), client.pubsub_numpat()]
    for _ in range(4):
        out.append(pubsub.get_message(timeout=2))
    pubsub.unsubscribe("news")
    out.append(pubsub.get_message(timeout=2))
    pubsub.close()
    client.close()
    return out


def test_redis_py_pubsub(redis_target: Target, respdyn_target: Target) -> None:
    theirs, ours = pubsub_session(redis_target), pubsub_session(respdyn_target)
    assert theirs == ours
    RECORDER.extra.setdefault("clients", {})["redis-py PubSub"] = "identical"


def test_redis_py_lock(redis_target: Target, respdyn_target: Target) -> None:
    """redis-py's Lock (used by Celery, django-redis' lock(), many apps) runs Lua scripts."""
    results = []
    for target in (redis_target, respdyn_target):
        client = redis.Redis(host=target.host, port=target.port, socket_timeout=10)
        client.flushall()
        try:
            lock = client.lock("resource", timeout=10)
            results.append((lock.acquire(blocking=False), lock.owned(), lock.release()))
        except redis.RedisError as exc:
            results.append(("error", str(exc)))
        client.close()
    known_client_bug("redis-py Lock", results[1] != results[0])
    assert results[1] == results[0]


#: INFO fields that clients, monitoring agents and frameworks read (redis-py's info(),
#: ioredis' ready check, Sidekiq's version check, the Prometheus exporter's basics…)
INFO_FIELDS = (
    "redis_version", "redis_mode", "os", "arch_bits", "process_id", "tcp_port",
    "uptime_in_seconds", "uptime_in_days", "connected_clients", "blocked_clients",
    "used_memory", "used_memory_human", "used_memory_peak", "maxmemory", "maxmemory_policy",
    "loading", "rdb_changes_since_last_save", "rdb_last_save_time", "aof_enabled",
    "total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
    "rejected_connections", "expired_keys", "evicted_keys", "keyspace_hits", "keyspace_misses",
    "pubsub_channels", "pubsub_patterns", "role", "connected_slaves", "cluster_enabled",
    "used_cpu_sys", "used_cpu_user", "db0",
)


def test_info_has_the_fields_clients_read(redis_target: Target, respdyn_target: Target) -> None:
    """Values differ by nature (differences.py: info); the fields and their types must not."""
    infos = []
    for target in (redis_target, respdyn_target):
        client = redis.Redis(host=target.host, port=target.port, socket_timeout=10)
        client.flushall()
        client.set("k", "v", ex=100)
        infos.append(client.info("everything"))
        client.close()
    theirs, ours = infos
    missing = [f for f in INFO_FIELDS if f in theirs and f not in ours]
    declared = differences.INFO_MISSING
    assert sorted(set(missing) - set(declared)) == [], missing
    kinds = {f: (type(theirs[f]).__name__, type(ours[f]).__name__)
             for f in INFO_FIELDS if f in theirs and f in ours}
    assert {f: k for f, k in kinds.items() if k[0] != k[1]} == {}
    assert ours["db0"] == theirs["db0"] == {"keys": 1, "expires": 1, "avg_ttl": ours["db0"][
        "avg_ttl"]}
    name = f"INFO fields clients read ({respdyn_target.name})"
    RECORDER.extra.setdefault("clients", {})[name] = (
        f"{len(INFO_FIELDS) - len(missing)} of {len(INFO_FIELDS)} present with Redis' types"
        + "".join(f"; missing {f}: {declared[f]}" for f in missing)
    )


# --- redis-cli -------------------------------------------------------------------------------

needs_cli = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli missing")


def cli_run(target: Target, *args: str, stdin: bytes | None = None) -> Any:
    return subprocess.run(
        ["redis-cli", "-h", target.host, "-p", str(target.port), *args],
        input=stdin, capture_output=True, timeout=60, check=False,
    )


def cli(target: Target, *args: str, stdin: bytes | None = None) -> str:
    proc = cli_run(target, *args, stdin=stdin)
    return proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")


def known_client_bug(name: str, failed: bool) -> None:
    """A declared client bug (differences.CLIENT_BUGS) must still fail the declared way, and
    is reported; an undeclared failure is left to the caller's assertion."""
    declared = differences.CLIENT_BUGS.get(name)
    if declared is None:
        return
    assert failed, f"{name} works now: remove it from differences.CLIENT_BUGS"
    RECORDER.extra.setdefault("clients", {})[name] = f"fails (declared): {declared}"
    pytest.xfail(declared)


def both_cli(redis_target: Target, respdyn_target: Target, *args: str,
             stdin: bytes | None = None) -> str:
    theirs = cli(redis_target, *args, stdin=stdin)
    ours = cli(respdyn_target, *args, stdin=stdin)
    assert ours == theirs, (args, theirs, ours)
    return ours


CLI_COMMANDS = [
    ["flushall"], ["set", "name", "respdyn"], ["get", "name"], ["get", "missing"],
    ["incr", "n"], ["incrbyfloat", "f", "1.5"], ["mget", "name", "n", "missing"],
    ["set", "bin", "a\x01b"], ["get", "bin"], ["setex", "t", "100", "v"], ["ttl", "t"],
    ["exists", "name", "n"], ["nosuchcommand", "x"], ["get"], ["lcs", "name", "n"],
    ["object", "help"], ["echo", "multi\nline"], ["ping"], ["dbsize"],
]


@needs_cli
@pytest.mark.parametrize("mode", [[], ["--raw"], ["--no-raw"], ["-3"], ["--csv"]],
                         ids=["default", "raw", "no-raw", "resp3", "csv"])
def test_redis_cli_commands(mode: list[str], redis_target: Target, respdyn_target: Target) -> None:
    """One command per invocation, as scripts use redis-cli, in each output mode."""
    for command in CLI_COMMANDS:
        both_cli(redis_target, respdyn_target, *mode, *command)
    RECORDER.extra.setdefault("clients", {})[f"redis-cli {' '.join(mode) or 'default'}"] = (
        f"{len(CLI_COMMANDS)} commands, identical output"
    )


@needs_cli
def test_redis_cli_reads_commands_from_stdin(redis_target: Target, respdyn_target: Target) -> None:
    """The interactive command language (quoting, errors) fed through stdin."""
    script = "\n".join([
        "flushall", 'set "two words" "a \\"quoted\\" value"', 'get "two words"',
        "set k '\\x00raw'", "get k", 'set h "\\xe2\\x82\\xac"', "get h", "incr k",
        "select 1", "set k db1", "get k", "select 0", "get k", "keys two*", "ping", "quit",
    ]).encode() + b"\n"
    ours = cli_run(respdyn_target, stdin=script)
    known_client_bug("redis-cli stdin/interactive", ours.returncode == -signal.SIGSEGV)
    both_cli(redis_target, respdyn_target, stdin=script)
    RECORDER.extra.setdefault("clients", {})["redis-cli stdin/interactive"] = "identical"


@needs_cli
def test_redis_cli_pipe_scan_repeat(redis_target: Target, respdyn_target: Target) -> None:
    mass = "".join(f"SET pipe:{i} value{i}\r\n" for i in range(3000)).encode()
    mass += b"INCR pipe:1\r\n"  # one error among the replies
    for target in (redis_target, respdyn_target):
        cli(target, "flushall")
    out = both_cli(redis_target, respdyn_target, "--pipe", stdin=mass)
    assert "errors: 1, replies: 3001" in out
    both_cli(redis_target, respdyn_target, "dbsize")
    scans = [sorted(cli(t, "--scan", "--pattern", "pipe:1??").split())
             for t in (redis_target, respdyn_target)]
    assert scans[0] == scans[1] and len(scans[1]) == 100
    both_cli(redis_target, respdyn_target, "-r", "5", "incr", "rep")
    both_cli(redis_target, respdyn_target, "-x", "set", "fromstdin", stdin=b"piped\n")
    both_cli(redis_target, respdyn_target, "get", "fromstdin")
    RECORDER.extra.setdefault("clients", {})["redis-cli --pipe/--scan/-r/-x"] = "identical"


@needs_cli
def test_redis_cli_bigkeys(redis_target: Target, respdyn_target: Target) -> None:
    """--bigkeys walks SCAN/TYPE and each type's length command: same biggest keys and
    totals on both (the progress lines depend on the SCAN order)."""
    outs = []
    for target in (redis_target, respdyn_target):
        cli(target, "flushall")
        cli(target, "mset", "small", "x", "large", "x" * 1000, "mid", "x" * 10)
        cli(target, "rpush", "list", "a", "b", "c")
        cli(target, "hset", "hash", "f", "v", "g", "w")
        cli(target, "sadd", "set", "m")
        cli(target, "zadd", "zset", "1", "a", "2", "b", "3", "c", "4", "d")
        text = cli(target, "--bigkeys")
        outs.append(sorted(line for line in text.splitlines()
                           if line.startswith(("Biggest", "Sampled")) or " keys with " in line))
    assert outs[0] == outs[1] and len(outs[1]) > 5, outs
    RECORDER.extra.setdefault("clients", {})["redis-cli --bigkeys"] = "identical summary"


# --- redis-benchmark -------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark missing")
@pytest.mark.parametrize("pipeline", ["1", "16"])
def test_redis_benchmark_runs_clean(pipeline: str, respdyn_target: Target) -> None:
    tests = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"]
    proc = subprocess.run(
        ["redis-benchmark", "-h", respdyn_target.host, "-p", str(respdyn_target.port),
         "-n", "500", "-c", "10", "-P", pipeline, "-t", "ping,set,get,incr,mset", "--csv"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ERR" not in proc.stdout + proc.stderr and "WARN" not in proc.stderr, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [row["test"] for row in rows] == tests
    assert all(float(row["rps"]) > 0 for row in rows)
    RECORDER.extra.setdefault("clients", {})[f"redis-benchmark -P {pipeline}"] = (
        "completes, no errors"
    )


# --- applications ----------------------------------------------------------------------------


def django_cache(target: Target) -> Any:
    """django-redis' cache backend on its own (no Django project): settings configured once."""
    django_conf = pytest.importorskip("django.conf")
    pytest.importorskip("django_redis")
    if not django_conf.settings.configured:
        django_conf.settings.configure(USE_TZ=True)
    from django_redis.cache import RedisCache  # needs configured settings

    return RedisCache(f"redis://{target.host}:{target.port}/0", {"KEY_PREFIX": "app"})


def django_session(cache: Any) -> list[Any]:
    cache.clear()
    steps: list[Callable[[], Any]] = [
        lambda: cache.set("user:1", {"name": "Ada", "langs": ["py"]}, timeout=300),
        lambda: cache.get("user:1"),
        lambda: cache.add("user:1", "other"),
        lambda: cache.add("fresh", 1),
        lambda: cache.get_many(["user:1", "fresh", "missing"]),
        lambda: cache.set_many({"a": 1, "b": 2.5, "c": "three"}, timeout=60),
        lambda: cache.incr("a"),
        lambda: cache.incr("a", 10),
        lambda: cache.decr("a", 2),
        lambda: cache.get("a"),
        lambda: cache.has_key("b"),
        lambda: cache.ttl("b"),
        lambda: cache.expire("b", 1000),
        lambda: cache.ttl("b"),
        lambda: cache.persist("b"),
        lambda: cache.ttl("b"),
        lambda: cache.touch("c", 50),
        lambda: cache.ttl("c"),
        lambda: sorted(cache.keys("*")),
        lambda: sorted(cache.iter_keys("*")),
        lambda: cache.get_or_set("computed", lambda: 42),
        lambda: cache.delete("fresh"),
        lambda: cache.delete_many(["a", "b"]),
        lambda: cache.delete_pattern("user:*"),
        lambda: cache.get("user:1", "default"),
        lambda: cache.set("forever", "v", timeout=None),
        lambda: cache.ttl("forever"),
        lambda: cache.set("gone", "v", timeout=0),
        lambda: cache.get("gone"),
    ]
    out = []
    for step in steps:
        try:
            out.append(step())
        except Exception as exc:  # the exception is the result
            out.append(("error", type(exc).__name__, str(exc)))
    return out


def test_django_redis_cache(redis_target: Target, respdyn_target: Target) -> None:
    """django-redis' incr falls back to INCRBY/GET/SET when EVAL is refused; results equal."""
    theirs = django_session(django_cache(redis_target))
    ours = django_session(django_cache(respdyn_target))
    assert theirs == ours
    RECORDER.extra.setdefault("clients", {})["django-redis cache"] = (
        f"{len(ours)} calls identical (incr via its no-EVAL fallback)"
    )


def fixed_window_hits(target: Target, hits: int, limit: int) -> list[tuple[int, bool, int]]:
    """Flask-Limiter's fixed-window strategy spelled out: INCR, EXPIRE NX, TTL per hit."""
    client = redis.Redis(host=target.host, port=target.port, socket_timeout=10)
    client.flushall()
    out = []
    for _ in range(hits):
        pipe = client.pipeline(transaction=False)
        pipe.incr("LIMITER/127.0.0.1/login/5/1/minute")
        pipe.expire("LIMITER/127.0.0.1/login/5/1/minute", 60, nx=True)
        pipe.ttl("LIMITER/127.0.0.1/login/5/1/minute")
        count, _, ttl = pipe.execute()
        out.append((count, count <= limit, ttl))
    client.close()
    return out


def test_rate_limiter_fixed_window(redis_target: Target, respdyn_target: Target) -> None:
    theirs = fixed_window_hits(redis_target, 8, 5)
    ours = fixed_window_hits(respdyn_target, 8, 5)
    assert theirs == ours
    assert [allowed for _, allowed, _ in ours] == [True] * 5 + [False] * 3
    RECORDER.extra.setdefault("clients", {})["rate limiter (INCR/EXPIRE NX)"] = "identical"
