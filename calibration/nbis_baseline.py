"""NIST NBIS (mindtct + bozorth3) as ported to Python by the ``afis`` package: the baseline.

The port is slow (about 9-15 s per image to extract), so templates are cached on disk outside the
repository, under ``$XDG_CACHE_HOME/biometric-station/nbis`` (default ``~/.cache``), keyed by a
hash of the exact pixels given to the extractor and the afis version.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where NBIS templates are cached between runs (never inside the repository)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "biometric-station" / "nbis"


@dataclass(frozen=True)
class NbisTemplate:
    """Minutiae rows (x, y, theta radians, kind, quality) and the image size bozorth3 needs."""

    minutiae: NDArray[np.float64]
    width: int
    height: int


@cache
def _extractor() -> Any:
    from afis import MindtctExtractor

    return MindtctExtractor(quality_mode="off")  # type: ignore[no-untyped-call]


def _afis_version() -> str:
    import afis

    return str(afis.__version__)


def _key(gray: NDArray[np.uint8]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{_afis_version()}:{gray.shape}:".encode())
    digest.update(np.ascontiguousarray(gray).tobytes())
    return digest.hexdigest()


def nbis_template(gray: NDArray[np.uint8], *, use_cache: bool = True) -> NbisTemplate:
    """mindtct minutiae of a 500 dpi grayscale image, from the disk cache when present."""
    path = cache_dir() / f"{_key(gray)}.npz"
    if use_cache and path.exists():
        with np.load(path) as data:
            return NbisTemplate(
                np.asarray(data["minutiae"], dtype=np.float64),
                int(data["width"]),
                int(data["height"]),
            )
    result = _extractor().extract_minutiae(np.asarray(gray, dtype=np.float64))
    template = NbisTemplate(
        np.asarray(result.minutiae, dtype=np.float64), int(gray.shape[1]), int(gray.shape[0])
    )
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, minutiae=template.minutiae, width=template.width, height=template.height)
        tmp.replace(path)
    return template


def bozorth3_score(a: NbisTemplate, b: NbisTemplate) -> float:
    """The bozorth3 raw score (higher is more similar; about 40 is NBIS's usual threshold)."""
    from afis.algorithms.matcher import match_templates

    result = match_templates(
        a.minutiae,
        b.minutiae,
        method="bozorth3",
        height_a=a.height,
        width_a=a.width,
        height_b=b.height,
        width_b=b.width,
    )
    return float(result.raw_score or 0.0)
