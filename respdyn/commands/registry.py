"""Command tables: each command family declares its commands into its own `CommandTable`;
the node builds one `Registry` from the tables it serves (no global state filled at import).

    table = CommandTable("string")

    @table.command("get", 2, "readonly fast", keys=(1, 1, 1), summary="Returns the value.")
    def get(ctx, session, args): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from respdyn.commands.spec import NO_KEYS, CommandSpec, Handler, KeySpec


def _flags(text: str) -> frozenset[str]:
    return frozenset(text.split())


class CommandTable:
    """The commands of one family (one Redis group), in declaration order."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.specs: list[CommandSpec] = []
        self._containers: dict[str, CommandSpec] = {}

    def command(
        self,
        name: str,
        arity: int,
        flags: str = "",
        *,
        keys: tuple[int, int, int] | None = None,
        summary: str,
        since: str = "1.0.0",
        complexity: str = "",
        arguments: tuple[tuple[str, str, str], ...] = (),
        support: str = "identical",
        note: str = "",
        yields: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare `name` (or `container|sub`) with the decorated function as its handler."""

        def register(handler: Handler) -> Handler:
            spec = CommandSpec(
                name=name.lower(),
                arity=arity,
                handler=handler,
                group=self.group,
                summary=summary,
                flags=_flags(flags),
                keys=KeySpec(*keys) if keys else NO_KEYS,
                since=since,
                complexity=complexity,
                arguments=arguments,
                support=support,
                note=note,
                yields=yields,
            )
            self._add(spec)
            return handler

        return register

    def container(
        self,
        name: str,
        *,
        summary: str,
        since: str = "1.0.0",
        flags: str = "",
        arity: int = -2,
        handler: Handler | None = None,
        support: str = "identical",
        note: str = "",
    ) -> CommandSpec:
        """Declare a container command (CLIENT, CONFIG, ...); its subcommands are declared as
        `container|sub` afterwards. Redis gives containers arity -2; a container that also
        runs bare (COMMAND, arity -1) passes the handler for that case."""
        spec = CommandSpec(
            name=name.lower(), arity=arity, handler=handler, group=self.group,
            summary=summary, since=since, flags=_flags(flags), support=support, note=note,
        )
        self._containers[spec.name] = spec
        self.specs.append(spec)
        return spec

    def _add(self, spec: CommandSpec) -> None:
        if "|" in spec.name:
            parent, sub = spec.name.split("|", 1)
            self._containers[parent].subcommands[sub] = spec
        else:
            self.specs.append(spec)


class Registry:
    """All commands a node serves, looked up by lower-case name on every request."""

    def __init__(self, tables: Iterable[CommandTable] = ()) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for table in tables:
            self.add_table(table)

    def add_table(self, table: CommandTable) -> None:
        for spec in table.specs:
            if spec.name in self._specs:
                raise ValueError(f"command {spec.name!r} declared twice")
            self._specs[spec.name] = spec

    def lookup(self, name: bytes | str) -> CommandSpec | None:
        if isinstance(name, bytes):
            try:
                name = name.decode("ascii")
            except UnicodeDecodeError:
                return None
        return self._specs.get(name.lower())

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._specs
