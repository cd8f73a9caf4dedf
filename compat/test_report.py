"""compat.report on a small hand-made result set: statuses, totals and ordering, without
servers (the real input comes from a compat run)."""

from __future__ import annotations

from collections import Counter, defaultdict

from compat import report


def results() -> dict:
    doc = {"summary": "s", "since": "1.0.0", "subcommands": []}
    redis = {
        "get": {**doc, "group": "string"}, "keys": {**doc, "group": "generic"},
        "incrbyfloat": {**doc, "group": "string"}, "eval": {**doc, "group": "scripting"},
        "shutdown": {**doc, "group": "server"},
        "client": {**doc, "group": "connection", "subcommands": ["client|id"]},
        "client|id": {**doc, "group": "connection"},
    }
    counts: defaultdict = defaultdict(Counter)
    counts["get"].update({"identical": 5})
    counts["keys"].update({"identical": 2, "differs:design": 1})
    counts["incrbyfloat"].update({"identical": 3, "bug:hex-float": 1})
    counts["client|id"].update({"differs:design": 1})
    supported = {n: redis[n] for n in ("get", "keys", "incrbyfloat", "shutdown", "client",
                                       "client|id")}
    return {"counts": counts, "examples": {}, "table": {"get": "identical"}, "clients": {},
            "redis_commands": redis, "respdyn_commands": {**supported, "siblings": doc},
            "targets": {"respdyn"}}


def test_statuses_follow_the_observations() -> None:
    rows = {row.name: row.status for row in report.rows_of(results())}
    assert rows == {
        "get": "identical", "keys": "differs", "incrbyfloat": "bug", "eval": "unsupported",
        "shutdown": "not compared", "client|id": "differs",
    }


def test_totals_come_first_and_lists_follow_usage() -> None:
    text = report.markdown(results())
    totals = next(p for p in text.split("\n\n") if p.startswith("**"))
    assert totals.startswith("**6 Redis commands**")
    assert "**1 identical**, **2 differ (documented)**, **1 with known bugs**" in totals
    assert "**differs (documented):** `KEYS`, `CLIENT ID`" in text  # KEYS is used more
    assert "`SIBLINGS`" in text.split("## respdyn's own commands")[1]
