"""Face capture quality over a set of photos: failure-to-acquire rate and each measure's spread.

Each photo is assessed as one camera frame would be (:class:`matcher.face.quality.FaceQualityChecker`);
a photo that is refused is a failure to acquire. Reported: the failure-to-acquire rate, how many
photos were refused for each reason (a photo can have several), the rate at which no face was
found, and percentiles of every measure. This is what the quality thresholds are calibrated on.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from calibration.defaults import CalibrationError
from matcher.errors import MatcherError
from matcher.face.quality import FaceMeasures, FaceQualityChecker, QualityThresholds
from matcher.imageio import read_rgb

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".tif", ".tiff"})
PERCENTILES = (0, 1, 5, 25, 50, 75, 95, 99, 100)


@dataclass(frozen=True)
class PhotoQuality:
    """One photo's verdict: the reason codes (empty: accepted) and its measures."""

    path: str
    reasons: tuple[str, ...]
    measures: FaceMeasures | None  # None: the file could not be read

    @property
    def accepted(self) -> bool:
        return self.measures is not None and not self.reasons


@dataclass(frozen=True)
class QualitySurvey:
    images: int
    accepted: int
    failure_to_acquire_rate: float
    no_face_rate: float
    reasons: dict[str, int]
    distributions: dict[str, dict[str, float]]
    thresholds: dict[str, float]
    seconds: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def list_images(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursively), sorted."""
    if not folder.is_dir():
        raise CalibrationError(f"{folder} is not a folder")
    images = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not images:
        raise CalibrationError(f"{folder} holds no images")
    return images


def spread_sample(paths: Sequence[Path], count: int | None) -> list[Path]:
    """``count`` paths evenly spread over the sorted list (all of them when count is None)."""
    if count is None or count >= len(paths):
        return list(paths)
    if count < 1:
        raise CalibrationError("the sample needs at least one image")
    indices = np.linspace(0, len(paths) - 1, count).round().astype(int)
    return [paths[i] for i in indices]


_checker: FaceQualityChecker | None = None


def _init(thresholds: QualityThresholds) -> None:
    global _checker
    _checker = FaceQualityChecker(thresholds)


def _assess(path: str) -> PhotoQuality:
    assert _checker is not None
    try:
        report = _checker.assess(read_rgb(Path(path)))
    except MatcherError:
        return PhotoQuality(path, ("unreadable",), None)
    return PhotoQuality(path, tuple(report.reason_codes), report.measures)


def assess_photos(
    paths: Sequence[Path],
    thresholds: QualityThresholds | None = None,
    workers: int = 1,
    checker: FaceQualityChecker | None = None,
) -> list[PhotoQuality]:
    """The verdict on each photo, in order; ``workers`` > 1 uses that many processes."""
    thresholds = thresholds or (checker.thresholds if checker else QualityThresholds())
    items = [str(p) for p in paths]
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        global _checker
        _checker = checker or FaceQualityChecker(thresholds)
        return [_assess(item) for item in items]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init, initargs=(thresholds,)
    ) as pool:
        return list(pool.map(_assess, items, chunksize=16))


def summarize(
    results: Sequence[PhotoQuality], thresholds: QualityThresholds, seconds: float = 0.0
) -> QualitySurvey:
    """Rates, reason counts and measure percentiles of assessed photos."""
    if not results:
        raise CalibrationError("no photos were assessed")
    reasons: Counter[str] = Counter(code for r in results for code in r.reasons)
    distributions: dict[str, dict[str, float]] = {}
    for field in fields(FaceMeasures):
        values = np.array(
            [
                getattr(r.measures, field.name)
                for r in results
                if r.measures is not None and getattr(r.measures, field.name) is not None
            ],
            dtype=np.float64,
        )
        if len(values):
            distributions[field.name] = {
                "n": float(len(values)),
                **{
                    f"p{q}": round(float(v), 4)
                    for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True)
                },
            }
    accepted = sum(r.accepted for r in results)
    return QualitySurvey(
        images=len(results),
        accepted=accepted,
        failure_to_acquire_rate=1.0 - accepted / len(results),
        no_face_rate=reasons["no_face"] / len(results),
        reasons=dict(reasons.most_common()),
        distributions=distributions,
        thresholds=thresholds.to_json(),
        seconds=seconds,
    )


def survey_quality(
    folder: Path,
    thresholds: QualityThresholds | None = None,
    limit: int | None = None,
    workers: int = 0,
) -> QualitySurvey:
    """Assess every photo under ``folder`` (or ``limit`` of them, evenly spread)."""
    thresholds = thresholds or QualityThresholds()
    started = time.perf_counter()
    paths = spread_sample(list_images(folder), limit)
    results = assess_photos(paths, thresholds, workers)
    return summarize(results, thresholds, time.perf_counter() - started)
