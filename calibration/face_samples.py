"""Face templates and capture-quality measures of a labelled photo folder, and their distances.

Layout as ``station eval face``: ``DIR/<Person>/<photo>``. Each photo gives a template (the
largest face, as for curated collections; None when no face is found: a failure to acquire by the
matcher) and the capture-quality measures of :class:`matcher.face.quality.FaceQualityChecker`
(judged later against any thresholds). Both are cached on disk per photo
(:mod:`calibration.sample_cache`), so a second run on the same folder takes seconds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from calibration.defaults import CalibrationError
from calibration.face_eval import list_people
from calibration.sample_cache import SampleCache, cached_map, package_version
from matcher.errors import MatcherError
from matcher.face.encoder import FaceEncoder
from matcher.face.quality import FaceMeasures, FaceQualityChecker
from matcher.imageio import read_rgb

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class FaceSample:
    """One photo: whose it is, its template (None: no face) and its quality measures (None:
    unreadable)."""

    path: Path
    subject: str
    vector: NDArray[np.float32] | None
    measures: FaceMeasures | None


def cache_version() -> str:
    """Changes when the models or the way templates are made change."""
    models = package_version("face_recognition_models")
    dlib = package_version("dlib-bin", "dlib")
    return f"face-v1:models {models}:dlib {dlib}:largest face:1 jitter:5-point"


_encoder: FaceEncoder | None = None
_checker: FaceQualityChecker | None = None


def _init_worker() -> None:
    global _encoder, _checker
    _encoder = FaceEncoder(multiple_faces="largest")
    _checker = FaceQualityChecker(encoder=_encoder)


def _measure(path: str) -> bytes:
    """The template and measures of one photo, serialized as the cache stores them."""
    if _encoder is None or _checker is None:
        _init_worker()
    assert _encoder is not None and _checker is not None
    vector: list[float] | None = None
    measures: dict[str, object] | None = None
    try:
        pixels = read_rgb(Path(path))
    except MatcherError as exc:
        log.debug("unreadable %s: %s", path, exc)
    else:
        try:
            vector = [float(v) for v in _encoder.encode(pixels).vector]
        except MatcherError as exc:
            log.debug("no template for %s: %s", path, exc)
        try:
            measures = asdict(_checker.assess(pixels).measures)
        except MatcherError as exc:
            log.debug("no quality measures for %s: %s", path, exc)
    return json.dumps({"vector": vector, "measures": measures}).encode()


def _decode(path: Path, subject: str, blob: bytes) -> FaceSample:
    data = json.loads(blob)
    vector = None if data["vector"] is None else np.asarray(data["vector"], dtype=np.float32)
    measures = None if data["measures"] is None else FaceMeasures(**data["measures"])
    return FaceSample(path, subject, vector, measures)


def measure_photos(
    items: Sequence[tuple[Path, str]],
    *,
    workers: int = 0,
    cache: SampleCache | None = None,
    progress: Progress | None = None,
) -> list[FaceSample]:
    """(photo, subject) -> samples, in order; missing cache entries are computed in ``workers``
    processes (0: one per core, 1: in this process)."""
    blobs = cached_map(
        _measure,
        [str(path) for path, _ in items],
        [path for path, _ in items],
        workers=workers,
        cache=cache,
        progress=progress,
        initializer=_init_worker,
    )
    samples = []
    for (path, subject), blob in zip(items, blobs, strict=True):
        samples.append(_decode(path, subject, blob))
    return samples


def list_face_photos(
    folder: Path, limit_people: int | None = None, photos_per_person: int | None = None
) -> list[tuple[Path, str]]:
    """(photo, person) for the first ``limit_people`` people by name, at most
    ``photos_per_person`` photos each (sorted)."""
    people = list_people(folder)
    names = sorted(people)[:limit_people] if limit_people else sorted(people)
    if len(names) < 2:
        raise CalibrationError(f"{folder}: calibration needs photos of at least 2 people")
    return [(photo, name) for name in names for photo in people[name][:photos_per_person]]


def distance_matrix(vectors: NDArray[np.float32]) -> NDArray[np.float64]:
    """Euclidean distances between every two templates (n x n, float64)."""
    v = np.asarray(vectors, dtype=np.float64)
    squares = (v * v).sum(axis=1)
    d2 = squares[:, None] + squares[None, :] - 2.0 * (v @ v.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.asarray(np.sqrt(d2), dtype=np.float64)
