#!/usr/bin/env python3
"""Write docs/commands.md from the command registry a node serves (`node.build_registry()`).

Run after declaring or changing a command: `.venv/bin/python scripts/gen_commands_doc.py`.
`--check` exits 1 when the committed file is out of date (what the test also checks).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from respdyn.commands.docs import commands_markdown  # noqa: E402
from respdyn.node import build_registry  # noqa: E402

TARGET = ROOT / "docs" / "commands.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    options = parser.parse_args(argv)
    text = commands_markdown(build_registry())
    if options.check:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run scripts/gen_commands_doc.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
