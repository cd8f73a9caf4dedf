"""Write-ahead log: format (grammar), writer, reader. Also the framing of the manifest."""

from storage.wal.format import MANIFEST_MAGIC, WAL_MAGIC
from storage.wal.reader import LogReader
from storage.wal.writer import LogWriter, sync_dir

__all__ = ["MANIFEST_MAGIC", "WAL_MAGIC", "LogReader", "LogWriter", "sync_dir"]
