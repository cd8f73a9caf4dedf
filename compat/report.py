"""docs/compatibility.md from the last compat run: every Redis command (subcommands counted,
containers not) as identical / differs (why) / known bug / unsupported, with the totals first.

    .venv/bin/python -m pytest compat          # writes compat/.results/results-*.json
    .venv/bin/python -m compat.report          # reads them, writes docs/compatibility.md
    .venv/bin/python -m compat.report --run    # both

The statuses come from what the run observed (reply comparisons per command, COMMAND INFO
deltas, client sessions) and from compat/differences.py (the reasons); Redis' command list and
groups come from the real server's COMMAND DOCS, so unsupported commands are listed too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compat import differences
from compat.compare import RESULTS_DIR

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "compatibility.md"

#: Commands ordered by how often real applications send them (respdyn's estimate from what
#: common clients and frameworks issue: caches, sessions, queues such as Sidekiq/Celery/Bull,
#: rate limiters, pub/sub fan-out, leaderboards), most used first; used to order the lists.
USAGE_RANK = """
get set del expire mget mset incr exists ttl setex hget hset hgetall hmget hdel hincrby
evalsha eval script|load multi exec watch discard publish subscribe psubscribe unsubscribe
lpush rpush lpop rpop brpop blpop lrange llen lrem ltrim lmove blmove rpoplpush brpoplpush
sadd srem smembers sismember scard spop srandmember sinter sunion sdiff
zadd zrange zrangebyscore zrem zscore zincrby zcard zrevrange zremrangebyscore zrank zcount
zpopmin bzpopmin keys scan hscan sscan zscan pexpire pttl persist incrby decr decrby getset
setnx getdel getex incrbyfloat append strlen type rename unlink ping select auth hello info
client|setname client|list flushdb flushall dbsize config|get xadd xread xreadgroup xack
xgroup|create xlen xrange xtrim xautoclaim xpending xclaim hexists hlen hkeys hvals hsetnx
hincrbyfloat hscan smove smismember zrangestore zunionstore zinterstore zmscore
pfadd pfcount pfmerge setbit getbit bitcount bitpos bitfield geoadd geosearch geodist
geopos object|encoding randomkey copy dump restore sort wait lpos linsert lset lindex
function|load fcall time echo quit reset command command|docs command|info memory|usage
""".split()  # noqa: SIM905 (a word list reads better as text)


@dataclass
class Row:
    name: str
    group: str
    summary: str
    status: str  #: "identical", "differs", "bug", "unsupported", "not compared"
    detail: str
    calls: int


def load_results(directory: Path = RESULTS_DIR) -> dict[str, Any]:
    """Merge every worker's results file."""
    merged: dict[str, Any] = {"counts": defaultdict(Counter), "examples": {}, "table": {},
                              "clients": {}, "redis_commands": {}, "respdyn_commands": {},
                              "targets": set()}
    files = sorted(directory.glob("results-*.json"))
    if not files:
        raise SystemExit(f"no results in {directory}: run `python -m pytest compat` first")
    for path in files:
        data = json.loads(path.read_text())
        for command, buckets in data.get("counts", {}).items():
            merged["counts"][command].update(buckets)
        for key in ("examples", "table", "clients", "redis_commands", "respdyn_commands",
                    "targets"):
            merged[key].update(data.get(key, {}))
    return merged


def reasons(command: str, labels: list[str]) -> list[str]:
    """The declared reason of each observed difference label ("differs:design", "bug:x")."""
    out = []
    for diff in differences.declared_for(command):
        observed = f"{'bug' if diff.kind == 'bug' else 'differs'}:{diff.id}" in labels
        if observed and diff.reason not in out:
            out.append(diff.reason)
    return out


def classify(name: str, doc: dict[str, Any], results: dict[str, Any]) -> Row:
    supported = name in results["respdyn_commands"]
    buckets: Counter = results["counts"].get(name, Counter())
    calls = sum(buckets.values())
    row = Row(name, doc["group"], doc["summary"], "identical", "", calls)
    if not supported:
        row.status = "unsupported"
        return row
    labels = sorted(label for label in buckets if label != "identical")
    notes = reasons(name, labels)
    table = results["table"].get(name, "identical")
    if table != "identical":
        notes.append(f"COMMAND INFO: {table}")
    if any(label.startswith("bug:") for label in labels) or "(bug:" in table:
        row.status = "bug"
    elif notes:
        row.status = "differs"
    elif not calls:
        row.status = "not compared"
        notes.append(differences.NOT_EXERCISED.get(name, "no scenario sends it"))
    row.detail = "; ".join(notes)
    return row


def rank(name: str) -> tuple[int, str]:
    return (USAGE_RANK.index(name) if name in USAGE_RANK else len(USAGE_RANK), name)


def rows_of(results: dict[str, Any]) -> list[Row]:
    redis_docs: dict[str, Any] = results["redis_commands"]
    return [
        classify(name, doc, results) for name, doc in sorted(redis_docs.items())
        if not doc["subcommands"]  # containers are counted through their subcommands
    ]


def label(name: str) -> str:
    return name.replace("|", " ").upper()


STATUS_TEXT = {
    "identical": "identical", "differs": "differs (documented)", "bug": "known bug",
    "unsupported": "unsupported", "not compared": "supported, not compared",
}


def markdown(results: dict[str, Any]) -> str:
    rows = rows_of(results)
    totals = Counter(row.status for row in rows)
    own = sorted(n for n, d in results["respdyn_commands"].items()
                 if n not in results["redis_commands"] and not d["subcommands"])
    calls = sum(row.calls for row in rows)
    targets = ", ".join(f"`{t}`" for t in sorted(results["targets"])) or "none recorded"
    lines = [
        "# Compatibility with Redis 7.0",
        "",
        "Generated by `python -m compat.report` from the last run of the compat suite",
        "(`compat/`: the same requests sent to Debian's redis-server 7.0 and to respdyn, replies",
        "compared byte for byte in RESP2 and RESP3, plus real clients and tools); do not edit",
        "by hand. Differences by design and known bugs are declared, with their reasons, in",
        "`compat/differences.py`; a difference declared nowhere fails the suite.",
        "",
        f"respdyn targets of this run: {targets}. A command is *identical* when every reply",
        "compared was byte-identical and its COMMAND INFO (arity, flags, key positions, ACL",
        "categories) equals Redis'; *differs* when some reply or its COMMAND INFO matched only",
        "in the declared normal form. Regenerate: `.venv/bin/python -m compat.report --run`.",
        "",
        f"**{len(rows)} Redis commands** (subcommands counted, containers not): "
        f"**{totals['identical']} identical**, **{totals['differs']} differ (documented)**, "
        f"**{totals['bug']} with known bugs**, **{totals['unsupported']} unsupported**"
        + (f", {totals['not compared']} supported but not compared" if totals["not compared"]
           else "") + f". {calls} replies compared. respdyn's own commands: {len(own)}.",
        "",
        "| status | commands |",
        "| --- | --- |",
        *[f"| {STATUS_TEXT[s]} | {totals[s]} |" for s in STATUS_TEXT if totals[s]],
        "",
    ]
    lines += _attention(rows)
    lines += _stale(results)
    lines += _clients(results)
    lines += _groups(rows)
    if own:
        lines += ["## respdyn's own commands", "",
                  ", ".join(f"`{label(n)}`" for n in own), ""]
    return "\n".join(lines).rstrip() + "\n"


def _attention(rows: list[Row]) -> list[str]:
    out = ["## What still differs, by how often applications use it", ""]
    for status in ("bug", "differs"):
        chosen = sorted((r for r in rows if r.status == status), key=lambda r: rank(r.name))
        out.append(f"**{STATUS_TEXT[status]}:** " + (", ".join(
            f"`{label(r.name)}`" for r in chosen) or "none") + "")
        out.append("")
    unsupported = sorted((r for r in rows if r.status == "unsupported"),
                         key=lambda r: rank(r.name))
    top = [r for r in unsupported if r.name in USAGE_RANK]
    out.append("**unsupported, most used first:** " + ", ".join(
        f"`{label(r.name)}`" for r in top) + f" (and {len(unsupported) - len(top)} more below)")
    out.append("")
    return out


def _stale(results: dict[str, Any]) -> list[str]:
    """Declared differences this run never needed: fixed bugs whose entry should go."""
    seen = {label for buckets in results["counts"].values() for label in buckets}
    unused = [
        d for d in differences.DIFFERENCES if d.kind == "bug"
        and not any(label.endswith(f":{d.id}") for label in seen)
    ]
    if not unused:
        return []
    return ["## Declared bugs not observed in this run (fixed? remove them)", "",
            *[f"- `{label(d.command)}` ({d.id}): {d.reason}" for d in unused], ""]


def _clients(results: dict[str, Any]) -> list[str]:
    clients = results["clients"]
    if not clients:
        return []
    out = ["## Clients and tools run against both servers", "", "| client | result |",
           "| --- | --- |"]
    out += [f"| {name} | {clients[name]} |" for name in sorted(clients)]
    return [*out, ""]


def _groups(rows: list[Row]) -> list[str]:
    by_group: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_group[row.group].append(row)
    out = ["## Every command, by group", ""]
    for group in sorted(by_group, key=lambda g: (-sum(r.status != "unsupported"
                                                       for r in by_group[g]), g)):
        members = by_group[group]
        counts = Counter(r.status for r in members)
        summary = ", ".join(f"{counts[s]} {STATUS_TEXT[s]}" for s in STATUS_TEXT if counts[s])
        out += [f"### {group} ({summary})", "", "| command | status | replies compared | notes |",
                "| --- | --- | --- | --- |"]
        for row in sorted(members, key=lambda r: r.name):
            detail = row.detail.replace("|", "\\|")
            out.append(f"| `{label(row.name)}` | {STATUS_TEXT[row.status]} | {row.calls or ''} "
                       f"| {detail} |")
        out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run `pytest compat` first")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.run:
        code = subprocess.call([sys.executable, "-m", "pytest", "compat", "-q"], cwd=ROOT)
        if code:
            return code
    text = markdown(load_results())
    args.output.write_text(text)
    print(next(p for p in text.split("\n\n") if p.startswith("**")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
