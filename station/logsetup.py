"""Logging for the entry points: a readable stream on stderr and a rotating file in the data dir."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from station.datadir import keep_private

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_dir: Path | None, stderr_level: str | None = None) -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    close_logging()
    stream = logging.StreamHandler()
    stream.setLevel((stderr_level or level).upper())
    stream.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stream)
    if log_dir is not None:
        keep_private()  # the log names operators and records: it lives in the private data dir
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.handlers.RotatingFileHandler(
            log_dir / "station.log", maxBytes=10 * 1024 * 1024, backupCount=5
        )
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)


def close_logging() -> None:
    """Detach and close every handler of the root logger (files are flushed and released)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
