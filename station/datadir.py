"""The station's data directory: one folder for all state, held by one process at a time."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from station.errors import DataDirectoryInUseError, StationError

LOCK_FILE = "station.lock"


class DataDirectoryLock:
    """An exclusive lock on the data directory, released when the holder exits or dies."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
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

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
