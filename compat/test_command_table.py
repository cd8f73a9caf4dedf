"""respdyn's COMMAND INFO, as a client receives it, against the real server's: for every
command both serve, arity, flags, key positions and ACL categories must be equal unless
differences.TABLE_DIFFERENCES declares why not. (tests/commands/test_command_table.py checks
the declarations in the registry; this checks what goes over the wire, and feeds the report.)"""

from __future__ import annotations

from typing import Any

from compat import differences
from compat.compare import RECORDER
from compat.normalise import command_info
from compat.resp import RawConnection
from compat.targets import Target


def info_entries(target: Target, names: list[str]) -> dict[str, Any]:
    conn = RawConnection(target.host, target.port)
    try:
        reply, _ = conn.call([b"COMMAND", b"INFO", *(n.encode() for n in names)])
    finally:
        conn.close()
    return {name: command_info([entry])[0] if entry else None for name, entry in zip(
        names, reply, strict=True)}


def table_delta(theirs: list[Any] | None, ours: list[Any] | None) -> str:
    """What respdyn's entry lacks (-) or adds (+): "arity 2/-2; flags -x; acl -@y +@z"."""
    if theirs is None or ours is None:
        return f"entry {'missing' if ours is None else 'extra'}"
    parts = []
    if theirs[1] != ours[1]:
        parts.append(f"arity {theirs[1]}/{ours[1]}")
    for label, index in (("flags", 2), ("keys", None), ("acl", 6)):
        if index is None:
            if theirs[3:6] != ours[3:6]:
                parts.append(f"keys {theirs[3:6]}/{ours[3:6]}")
            continue
        missing = sorted(set(theirs[index]) - set(ours[index]))
        extra = sorted(set(ours[index]) - set(theirs[index]))
        if missing or extra:
            words = [f"-{m.decode()}" for m in missing] + [f"+{e.decode()}" for e in extra]
            parts.append(f"{label} {' '.join(words)}")
    return "; ".join(parts)


def test_command_info_matches_redis(
    redis_target: Target, respdyn_target: Target, redis_commands: dict[str, Any],
    respdyn_commands: dict[str, Any],
) -> None:
    names = sorted(set(redis_commands) & set(respdyn_commands))
    theirs, ours = info_entries(redis_target, names), info_entries(respdyn_target, names)
    table = RECORDER.extra.setdefault("table", {})
    undeclared = []
    for name in names:
        delta = table_delta(theirs[name], ours[name])
        declared, why = differences.TABLE_DIFFERENCES.get(name, ("", ""))
        if delta == declared:
            table[name] = f"{delta} ({why})" if delta else "identical"
        else:
            undeclared.append(f"{name}: {delta or 'identical'} (declared: {declared or '-'})")
    assert not undeclared, "\n".join(undeclared)
