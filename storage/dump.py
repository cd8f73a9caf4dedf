"""`python -m storage dump FILE`: print one SSTable's properties and every record.

Like LevelDB's `ldb dump` / Cassandra's `sstabledump`: for operators and for debugging the
engine. Reading every record also verifies every block's checksum, so a clean dump is a
full integrity check; corruption is printed to stderr and the exit status is 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import TextIO

from storage.errors import StorageError
from storage.options import Options
from storage.sstable import Table
from storage.sstable.format import KIND_NAMES

EXIT_OK = 0
EXIT_CORRUPT = 2


def format_bytes(data: bytes, as_hex: bool) -> str:
    """Printable form of a key or value: Python's bytes repr (escapes) or plain hex."""
    return data.hex() if as_hex else repr(data)


def dump_table(
    path: str,
    out: TextIO,
    *,
    as_hex: bool = False,
    records: bool = True,
    blocks: bool = False,
) -> int:
    """Write the table's properties (and records / block handles) to `out`; return count."""
    with Table.open(path, 0, Options(), None) as table:
        out.write(f"file: {path}\n")
        for name, value in asdict(table.properties).items():
            shown = format_bytes(value, as_hex) if isinstance(value, bytes) else value
            out.write(f"{name}: {shown}\n")
        if blocks:
            out.write("data blocks:\n")
            for n, handle in enumerate(table.data_block_handles()):
                out.write(f"  #{n} offset={handle.offset} size={handle.size}\n")
        if not records:
            return 0
        out.write("records:\n")
        count = 0
        for key, seq, kind, value in table.iter(fill_cache=False):
            out.write(
                f"{format_bytes(key, as_hex)} seq={seq} {KIND_NAMES.get(kind, kind)} "
                f"{format_bytes(value, as_hex)}\n"
            )
            count += 1
        out.write(f"({count} records)\n")
        return count


def run(args: argparse.Namespace) -> int:
    try:
        dump_table(
            args.file, sys.stdout, as_hex=args.hex, records=not args.props, blocks=args.blocks
        )
    except (StorageError, OSError) as exc:
        sys.stdout.flush()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CORRUPT
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dump` subcommand to `python -m storage`."""
    parser = subparsers.add_parser("dump", help="print an SSTable's properties and records")
    parser.add_argument("file", help="path of an .sst file")
    parser.add_argument("--hex", action="store_true", help="print keys and values as hex")
    parser.add_argument("--props", action="store_true", help="properties only, no records")
    parser.add_argument("--blocks", action="store_true", help="also list data block handles")
    parser.set_defaults(run=run)
