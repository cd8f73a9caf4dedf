"""Fixtures of the compat suite: one reference redis-server and one respdyn target per test
process (session scope), parametrised over respdyn topologies (targets.RESPDYN_TARGETS); the
outcome of every comparison is written to compat/.results/ for compat.report."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from compat.compare import RECORDER, RESULTS_DIR
from compat.resp import RawConnection, Tagged
from compat.targets import RESPDYN_TARGETS, Target, have_redis, reference


def pytest_sessionstart(session: pytest.Session) -> None:
    """Old results would mix into the report: the controlling process clears them."""
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(RESULTS_DIR, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if RECORDER.counts or RECORDER.extra:
        RECORDER.dump()


@pytest.fixture(scope="session")
def redis_target(tmp_path_factory) -> Iterator[Target]:
    if not have_redis():
        pytest.skip("redis-server missing: scripts/install-redis (./run test does it)")
    with reference(tmp_path_factory.mktemp("redis")) as target:
        yield target


@pytest.fixture(scope="session", params=sorted(RESPDYN_TARGETS))
def respdyn_target(request, tmp_path_factory) -> Iterator[Target]:
    available, start = RESPDYN_TARGETS[request.param]
    if not available():
        pytest.skip(f"{request.param}: not available in this tree yet")
    with start(tmp_path_factory.mktemp(request.param)) as target:
        targets = RECORDER.extra.setdefault("targets", [])
        if request.param not in targets:
            targets.append(request.param)
        yield target


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, Tagged):
        return list(value.value)
    return list(zip(value[::2], value[1::2], strict=True))


def command_docs(target: Target) -> dict[str, dict[str, Any]]:
    """COMMAND DOCS as {name: {"group", "summary", "subcommands": {...}}}, names lower case
    ("client|list" for subcommands)."""
    conn = RawConnection(target.host, target.port)
    try:
        reply, _ = conn.call([b"COMMAND", b"DOCS"])
    finally:
        conn.close()
    return _docs_table(reply)


def _docs_table(reply: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, doc in _pairs(reply):
        fields = {k.decode() if isinstance(k, bytes) else k.value.decode(): v
                  for k, v in _pairs(doc)}
        entry = {
            "group": _text(fields.get("group", b"")),
            "summary": _text(fields.get("summary", b"")),
            "since": _text(fields.get("since", b"")),
            "subcommands": sorted(_docs_table(fields["subcommands"])) if fields.get(
                "subcommands") else [],
        }
        out[_text(name).lower()] = entry
        if fields.get("subcommands"):
            out.update(_docs_table(fields["subcommands"]))
    return out


def _text(value: Any) -> str:
    if isinstance(value, Tagged):
        value = value.value
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@pytest.fixture(scope="session")
def redis_commands(redis_target: Target) -> dict[str, dict[str, Any]]:
    docs = command_docs(redis_target)
    RECORDER.extra["redis_commands"] = docs
    return docs


@pytest.fixture(scope="session")
def respdyn_commands(respdyn_target: Target) -> dict[str, dict[str, Any]]:
    docs = command_docs(respdyn_target)
    RECORDER.extra.setdefault("respdyn_commands", {}).update(docs)
    return docs
