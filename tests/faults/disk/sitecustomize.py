"""Disk faults for fault-injection runs, loaded by node processes the harness starts with this
directory on PYTHONPATH: respdyn has no storage fault-injection option (clock skew has one,
`--debug-clock-skew-file`, so this file no longer patches time).

`FAULTS_DISK_FILE` names a file holding "" (healthy), "eio" (fsync and fdatasync fail with
EIO) or "enospc" (writes to regular files and syncs fail with ENOSPC, a full disk), re-read at
most every 0.2 s. respdyn's WAL and tables write through os.write / os.fsync / os.fdatasync, so
patching those reaches them; sockets and pipes are never failed. The engine's compaction
workers inherit the environment, so their table writes fail too.
"""

from __future__ import annotations

import os
import time

_disk_path = os.environ.get("FAULTS_DISK_FILE")
if _disk_path:
    import errno
    import stat

    _real_write, _real_fsync, _real_fdatasync = os.write, os.fsync, os.fdatasync
    _disk = ["", -1.0]  # mode, next re-read (monotonic)

    def _disk_mode() -> str:
        now = time.monotonic()
        if now >= _disk[1]:
            _disk[1] = now + 0.2
            try:
                with open(_disk_path) as f:
                    _disk[0] = f.read().strip()
            except OSError:
                pass
        return _disk[0]

    def _regular(fd: int) -> bool:
        try:
            return stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            return False

    def _write(fd: int, data: bytes) -> int:  # type: ignore[no-untyped-def]
        if _disk_mode() == "enospc" and _regular(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return _real_write(fd, data)

    def _sync(real):  # type: ignore[no-untyped-def]
        def sync(fd: int) -> None:
            mode = _disk_mode()
            if mode in ("eio", "enospc"):
                code = errno.EIO if mode == "eio" else errno.ENOSPC
                raise OSError(code, os.strerror(code))
            real(fd)
        return sync

    os.write = _write
    os.fsync = _sync(_real_fsync)
    os.fdatasync = _sync(_real_fdatasync)
