"""Face templates of photo files, cached on disk so benchmarks do not re-encode (0.1-0.3 s each).

The cache lives outside the repository, under ``$XDG_CACHE_HOME/biometric-station/face_templates``
(default ``~/.cache``): one small ``.npy`` per photo, named by a hash of the file's resolved path,
size and modification time and of the encoder settings; a photo with no face is cached as an
empty array, so it is not retried either. Delete the folder to start again.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from matcher.errors import MatcherError
from matcher.face.encoder import FaceEncoder
from matcher.face.templates import TEMPLATE_DIM
from matcher.imageio import read_rgb

log = logging.getLogger(__name__)

# Part of every key: change it when the encoder's settings or models change.
ENCODER_KEY = "face_recognition:hog:small:jitters=1:largest"


def cache_dir() -> Path:
    """Where templates of photos are cached between runs (never inside the repository)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "biometric-station" / "face_templates"


def cache_key(path: Path) -> str:
    """Hash of the photo's resolved path, size, modification time and the encoder settings."""
    stat = path.stat()
    text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{ENCODER_KEY}"
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def _encoder() -> FaceEncoder:
    return FaceEncoder(multiple_faces="largest")


def _encode(path: str) -> NDArray[np.float32]:
    """Template of the largest face in one photo; an empty array when there is none."""
    try:
        return _encoder().encode(read_rgb(Path(path))).vector
    except MatcherError as exc:
        log.debug("no template for %s: %s", path, exc)
        return np.zeros(0, np.float32)


def cached_templates(paths: Sequence[Path], workers: int = 0) -> list[NDArray[np.float32] | None]:
    """Templates of these photos (None where no face was found), encoding only uncached ones.

    ``workers`` processes encode (default: one per core).
    """
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    keys = [cache_key(p) for p in paths]
    out: list[NDArray[np.float32] | None] = [None] * len(paths)
    todo: list[int] = []
    for n, key in enumerate(keys):
        file = folder / f"{key}.npy"
        try:
            out[n] = np.load(file)
        except (OSError, ValueError):
            todo.append(n)
    if todo:
        log.info("encoding %d photos not yet in %s", len(todo), folder)
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        items = [str(paths[n]) for n in todo]
        with ExitStack() as stack:
            if workers == 1:
                encoded: Iterator[NDArray[np.float32]] = map(_encode, items)
            else:
                context = multiprocessing.get_context("spawn")
                pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=context))
                encoded = pool.map(_encode, items, chunksize=8)
            for n, vector in zip(todo, encoded, strict=True):  # saved as they come
                tmp = folder / f"{keys[n]}.tmp.npy"
                np.save(tmp, vector)
                os.replace(tmp, folder / f"{keys[n]}.npy")
                out[n] = vector
    return [v if v is not None and v.shape == (TEMPLATE_DIM,) else None for v in out]
