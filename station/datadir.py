"""The station's data directory: one folder for all state, held by one process at a time."""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from pathlib import Path
from typing import IO

from station.errors import DataDirectoryInUseError, StationError

log = logging.getLogger(__name__)

LOCK_FILE = "station.lock"


PRIVATE_UMASK = 0o077


def keep_private() -> None:
    """From now on every file and folder this process makes is its owner's alone (umask 077):
    the database's WAL and shared-memory files, logs, snapshots, exports exist private from
    their first byte, whatever umask the process was started with."""
    os.umask(PRIVATE_UMASK)


def make_private(folder: Path) -> int:
    """Take group and other permissions off ``folder`` and everything in it (what a crash, a
    copy or an older version left readable); return how many paths were changed."""
    changed = 0
    for path in [folder, *folder.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # removed meanwhile
            continue
        if stat.S_ISLNK(mode) or not mode & 0o077:
            continue
        path.chmod(stat.S_IMODE(mode) & 0o700)
        changed += 1
    if changed:
        log.warning("made %d files and folders in %s private to their owner", changed, folder)
    return changed


class DataDirectoryLock:
    """An exclusive lock on the data directory, released when the holder exits or dies."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        keep_private()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StationError(
                f"cannot create the data directory {self.data_dir}: {exc.strerror}"
            ) from exc
        path = self.data_dir / LOCK_FILE
        handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirectoryInUseError(
                f"the data directory {self.data_dir} is in use by another station process "
                f"(pid {holder}): stop it, or send the request to its HTTP API"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        make_private(self.data_dir)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
