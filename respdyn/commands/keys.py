"""generic commands (being written)."""

from __future__ import annotations

from respdyn.commands.registry import CommandTable

table = CommandTable("generic")
