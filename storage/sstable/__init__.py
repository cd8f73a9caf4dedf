"""Sorted string tables: immutable files of (key, seq, kind, value) records.

TableBuilder writes one (append-only, finish() to seal); Table reads one from any number
of threads. The on-disk format is in format.py and docs/formats/sstable.md.
"""

from storage.sstable.builder import TableBuilder
from storage.sstable.format import KIND_DELETE, KIND_PUT, TableProperties
from storage.sstable.table import Table

__all__ = ["KIND_DELETE", "KIND_PUT", "Table", "TableBuilder", "TableProperties"]
