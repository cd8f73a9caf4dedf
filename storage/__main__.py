"""`python -m storage SUBCOMMAND ...`: offline tools for storage files.

Each tool module exposes `register(subparsers)`, which adds its subparser and sets
`run=callable(args) -> exit status`. Add a tool by appending its register to SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from storage import dump


def _register_stats(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stats",
        help="open a store (recovering it: replays its WAL) and print Engine.stats() as JSON",
    )
    p.add_argument("directory")
    p.set_defaults(run=_run_stats)


def _run_stats(args: argparse.Namespace) -> int:
    import json

    import storage

    db = storage.open(
        args.directory, storage.Options(background_compaction=False, create_if_missing=False)
    )
    try:
        print(json.dumps(db.stats(), indent=2, default=str))
    finally:
        db.close()
    return 0


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    dump.register,
    _register_stats,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
