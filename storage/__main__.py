"""`python -m storage SUBCOMMAND ...`: offline tools for storage files.

Each tool module exposes `register(subparsers)`, which adds its subparser and sets
`run=callable(args) -> exit status`. Add a tool by appending its register to SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from storage import dump

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (dump.register,)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
