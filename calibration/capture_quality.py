"""Face capture quality over a folder of photos: what ``station eval quality`` surveys and what
``station calibrate capture`` checks the camera's settings on.

Each photo is assessed as one camera frame would be (:class:`matcher.face.quality.FaceQualityChecker`
judges one frame; this module sums many up):

- the survey (:func:`survey_quality`): a refused photo is a failure to acquire. Reported: the
  failure-to-acquire rate, how many photos were refused for each reason (a photo can have several),
  the rate at which no face was found, and percentiles of every measure. This is what the quality
  thresholds are calibrated on.
- the settings check (:func:`check_capture_settings`): photos of a few people taken as the station
  will take them are judged against the thresholds. Each camera setting (face size, framing,
  exposure, focus) passes when at most ``max_share`` of the photos are refused for it; pose and
  closed eyes depend on the person, not the camera, and are only counted.
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
from typing import Any

import numpy as np

from calibration.defaults import CalibrationError
from calibration.face_pipeline import IMAGE_SUFFIXES
from matcher.errors import MatcherError
from matcher.face.quality import FaceMeasures, FaceQualityChecker, QualityThresholds
from matcher.imageio import read_rgb

PERCENTILES = (0, 1, 5, 25, 50, 75, 95, 99, 100)


# -- the photos' verdicts and the survey (``station eval quality``) ---------------------------


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


# -- the camera's settings (``station calibrate capture``) ------------------------------------

DEFAULT_MAX_SHARE = 0.05
# setting -> (reason codes it is refused for, what to change when too many are)
SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "face_found": (
        ("no_face", "multiple_faces"),
        "place the camera so one person faces it, at eye height, with a plain background",
    ),
    "face_size": (
        ("too_small", "low_resolution"),
        "raise the camera's resolution or bring people closer (or zoom in)",
    ),
    "framing": (
        ("too_close", "off_centre"),
        "widen the view or mark where people stand so the head and shoulders are in the middle",
    ),
    "exposure": (
        ("too_dark", "too_bright"),
        "change the light on the face or the camera's exposure (see the brightness figures)",
    ),
    "focus": (
        ("blurred",),
        "focus the camera at the distance people stand, and ask them to hold still",
    ),
}
PERSON = ("not_frontal", "tilted", "eyes_closed")


@dataclass(frozen=True)
class SettingCheck:
    name: str
    ok: bool
    refused: int  # photos refused for this setting
    share: float
    advice: str  # empty when ok

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "refused": self.refused, "share": self.share, "advice": self.advice}


@dataclass(frozen=True)
class CaptureCheck:
    photos: int
    checks: list[SettingCheck]
    person_reasons: dict[str, int]
    figures: dict[str, dict[str, float]]  # measure -> p5, median, p95
    thresholds: dict[str, float]
    max_share: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "photos": self.photos,
            "max_share": self.max_share,
            "checks": {c.name: c.to_json() for c in self.checks},
            "person_reasons": self.person_reasons,
            "figures": self.figures,
            "thresholds": self.thresholds,
        }


def _figures(measures: Sequence[FaceMeasures]) -> dict[str, dict[str, float]]:
    out = {}
    for name in (
        "eye_distance",
        "highlight",
        "brightness",
        "dark_fraction",
        "bright_fraction",
        "sharpness",
    ):
        values = np.array(
            [v for m in measures if (v := getattr(m, name)) is not None], dtype=np.float64
        )
        if values.size:
            p5, p50, p95 = np.percentile(values, [5, 50, 95])
            out[name] = {
                "p5": round(float(p5), 4),
                "median": round(float(p50), 4),
                "p95": round(float(p95), 4),
            }
    return out


def check_capture_settings(
    measures: Sequence[FaceMeasures],
    thresholds: QualityThresholds | None = None,
    max_share: float = DEFAULT_MAX_SHARE,
) -> CaptureCheck:
    """Judge the camera's settings from the quality measures of photos it took."""
    if not measures:
        raise CalibrationError("no photos to check the camera's settings on")
    limits = thresholds or QualityThresholds()
    checker = FaceQualityChecker(limits)
    codes = [{r.code for r in checker.reasons(m)} for m in measures]
    checks = []
    figures = _figures(measures)
    for name, (reasons, advice) in SETTINGS.items():
        refused = sum(1 for found in codes if found & set(reasons))
        share = refused / len(measures)
        ok = share <= max_share
        detail = ""
        if not ok:
            detail = advice
            if name == "face_size" and "eye_distance" in figures:
                detail += (
                    f": median eye distance {figures['eye_distance']['median']:.0f} px, "
                    f"the check needs {limits.min_eye_distance:g}"
                )
            if name == "exposure" and "brightness" in figures:
                detail += (
                    f": face brightness median {figures['brightness']['median']:.0f} (0-255), "
                    f"highlight p5 {figures.get('highlight', {}).get('p5', 0):.0f} "
                    f"(needs {limits.min_highlight:g} and up)"
                )
        checks.append(SettingCheck(name, ok, refused, share, detail))
    person = {code: sum(code in found for found in codes) for code in PERSON}
    return CaptureCheck(len(measures), checks, person, figures, limits.to_json(), max_share)
