"""The one disk cache of expensive per-image results (face templates and capture-quality
measures, fingerprint templates), used by the pipelines of :mod:`calibration.face_pipeline` and
:mod:`calibration.fingerprint_pipeline`, hence by ``eval`` and ``calibrate`` of faces and fingerprints
and by the benchmarks.

Entries live outside the repository, under ``$XDG_CACHE_HOME/biometric-station/calibration``
(default ``~/.cache``), one small file each, keyed by the image's resolved path, size and
modification time and by a ``version`` string that changes whenever the code or models that made
the entry change. A damaged entry is a miss.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def default_cache_root() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "biometric-station" / "calibration"


def package_version(*names: str) -> str:
    """The installed version of the first of these distributions found ("none" if none is)."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "none"


def source_digest(*files: Path) -> str:
    """A short digest of some source files' contents: part of a cache version."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class SampleCache:
    """Bytes per (image, version) in ``root/kind``; ``root=None`` disables caching."""

    def __init__(self, kind: str, version: str, root: Path | None) -> None:
        self.kind = kind
        self.version = version
        self.folder = None if root is None else root / kind
        self.hits = 0
        self.misses = 0

    def _file(self, image: Path) -> Path | None:
        if self.folder is None:
            return None
        real = image.resolve()
        stat = real.stat()
        key = f"{self.version}\0{real}\0{stat.st_size}\0{stat.st_mtime_ns}"
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.bin"

    def get(self, image: Path) -> bytes | None:
        path = self._file(image)
        if path is None or not path.exists():
            self.misses += 1
            return None
        try:
            blob = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        self.hits += 1
        return blob

    def put(self, image: Path, blob: bytes) -> None:
        path = self._file(image)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(blob)
        temporary.replace(path)


def cached_map(
    function: Callable[[T], bytes],
    jobs: Sequence[T],
    images: Sequence[Path],
    *,
    workers: int = 0,
    cache: SampleCache | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[bytes]:
    """``function(job)`` for every job, in order, reading and filling the cache of each job's
    image. Missing entries are computed in ``workers`` spawned processes (0: one per core, 1:
    in this process); ``function`` must be module-level to be sent there."""
    blobs: list[bytes | None] = [cache.get(image) if cache else None for image in images]
    if progress:
        progress(sum(b is not None for b in blobs))
    todo = [i for i, blob in enumerate(blobs) if blob is None]
    count = min(workers or os.cpu_count() or 1, max(1, len(todo)))
    pool = None
    results: Iterator[bytes]
    if count == 1:
        results = map(function, [jobs[i] for i in todo])
    else:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(count, mp_context=context)
        results = pool.map(function, [jobs[i] for i in todo], chunksize=2)
    try:
        for i, blob in zip(todo, results, strict=True):
            blobs[i] = blob
            if cache:
                cache.put(images[i], blob)
            if progress:
                progress(1)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return [blob for blob in blobs if blob is not None]
