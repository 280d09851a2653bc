"""A whole calibration of one modality: samples -> scores -> thresholds, rates and intervals.

Face (``DIR/<Person>/<photo>``, templates and capture-quality measures from
:mod:`calibration.face_pipeline`): every two templates are compared (genuine: same person); for
1:N the first usable photo of each person is enrolled and every other photo searched. Capture
quality gives FTA and FTE at the station's quality thresholds.

Fingerprint (FVC folders, templates and similarities from :mod:`calibration.fingerprint_pipeline`):
every two impressions within a folder are compared (as ``station eval fingerprint``; impostor
pairs never cross folders, that is sensors); for 1:N the first impression of each finger is
enrolled, per folder. The image quality threshold is chosen for a target FTE.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.bootstrap import DEFAULT_LEVEL, DEFAULT_REPLICATES
from calibration.defaults import CalibrationError
from calibration.enrollment import (
    DEFAULT_ATTEMPTS,
    DEFAULT_TARGET_FTE,
    EnrollmentRates,
    QualityThreshold,
    choose_min_quality,
    enrollment_rates,
    subject_ids,
)
from calibration.error_rates import Floats, Ints, Polarity, ScoreSet, accepts
from calibration.face_pipeline import (
    distance_matrix,
    face_measures,
    face_templates,
    list_face_photos,
    template_version,
)
from calibration.fingerprint_pipeline import (
    collect_fingerprint_samples,
    selected_impressions,
    similarity_matrix,
)
from calibration.identification import Searches, first_sample_of_each, pool, searches_from_matrix
from calibration.thresholds import (
    IdentificationCalibration,
    VerificationCalibration,
    calibrate_identification,
    calibrate_verification,
    extrapolate_identification,
)
from matcher.face.engines import DEFAULT_ENCODER
from matcher.face.quality import FaceQualityChecker, QualityThresholds

log = logging.getLogger(__name__)

# phase label, number of steps -> a function to call with steps done
ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class RunSettings:
    """What to calibrate for, and how the intervals are computed."""

    target_fmr: float = 0.001
    target_fpir: float = 0.01
    gallery_size: int | None = None  # None: the data's own
    rank: int = 1
    seed: int = 0
    replicates: int = DEFAULT_REPLICATES
    level: float = DEFAULT_LEVEL
    attempts: int = DEFAULT_ATTEMPTS
    target_fte: float = DEFAULT_TARGET_FTE  # fingerprint quality threshold

    def __post_init__(self) -> None:
        if self.gallery_size is not None and self.gallery_size < 2:
            raise CalibrationError(f"gallery size {self.gallery_size} must be at least 2")
        if self.rank < 1 or self.attempts < 1:
            raise CalibrationError("rank and attempts count from 1")
        if self.replicates < 0:
            raise CalibrationError("the number of bootstrap replicates cannot be negative")
        for name in ("target_fmr", "target_fpir", "target_fte"):
            if not 0 <= getattr(self, name) < 1:
                raise CalibrationError(
                    f"{name.replace('_', ' ')} {getattr(self, name)} must be a rate from 0 to below 1, e.g. 0.001"
                )

    def bootstrap_json(self) -> dict[str, Any]:
        return {
            "resampled": "subjects",
            "replicates": self.replicates,
            "level": self.level,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ModalityRun:
    """Everything one calibration measured; :meth:`section` is what calibration.json keeps."""

    modality: str
    polarity: Polarity
    settings: RunSettings
    verification: VerificationCalibration
    identification: IdentificationCalibration
    scores: ScoreSet
    searches: Searches
    enrollment: EnrollmentRates
    dataset: dict[str, Any]
    seconds: float
    quality: QualityThreshold | None = None
    quality_extra: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None  # the face encoder that made the scores (face only)

    def warnings(self) -> list[str]:
        return self.verification.warnings() + self.identification.warnings()

    def section(self) -> dict[str, Any]:
        quality: dict[str, Any] = (
            self.quality.to_json() if self.quality else self.enrollment.to_json()
        )
        quality.update(self.quality_extra)
        encoder = {} if self.encoder is None else {"encoder": self.encoder}
        return encoder | {
            "score": self.polarity,
            "accept": "score <= threshold" if self.polarity == "distance" else "score >= threshold",
            "verify": self.verification.to_json(),
            "identify": self.identification.to_json(),
            "quality": quality,
            "dataset": self.dataset,
            "bootstrap": self.settings.bootstrap_json(),
            "warnings": self.warnings(),
            "seconds": round(self.seconds, 1),
        }


def _no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda done: None


def verification_scores(
    matrix: NDArray[np.floating], subjects: Ints, polarity: Polarity
) -> tuple[Floats, Ints, Floats, Ints]:
    """(genuine, their subjects, impostor, their subject pairs) from the upper triangle of a
    square comparison matrix."""
    rows, cols = np.triu_indices(matrix.shape[0], 1)
    values = matrix[rows, cols]
    same = subjects[rows] == subjects[cols]
    return (
        values[same],
        subjects[rows[same]],
        values[~same],
        np.stack([subjects[rows[~same]], subjects[cols[~same]]], axis=1),
    )


def choose_gallery(
    subjects: Ints, usable: NDArray[np.bool_], size: int | None, rng: np.random.Generator
) -> Ints:
    """The first usable sample of each subject, for ``size`` subjects drawn at random if fewer
    than all are wanted."""
    gallery = first_sample_of_each(subjects, usable)
    if size is not None and size < len(gallery):
        gallery = np.sort(rng.choice(gallery, size, replace=False))
    return gallery


def identification_calibration(
    scores: ScoreSet, searches: Searches, settings: RunSettings
) -> IdentificationCalibration:
    """Measured at the data's gallery size (or a smaller one drawn from it); extrapolated from
    the 1:1 scores for a larger one."""
    s = settings
    if s.gallery_size is None or s.gallery_size <= searches.gallery_size:
        return calibrate_identification(
            searches,
            s.target_fpir,
            rank=s.rank,
            replicates=s.replicates,
            seed=s.seed,
            level=s.level,
        )
    return extrapolate_identification(
        scores,
        searches,
        s.target_fpir,
        s.gallery_size,
        rank=s.rank,
        replicates=s.replicates,
        seed=s.seed,
        level=s.level,
    )


def calibrate_face(
    folder: Path,
    settings: RunSettings | None = None,
    *,
    limit_people: int | None = None,
    photos_per_person: int | None = None,
    workers: int = 0,
    cache_root: Path | None = None,
    quality_thresholds: QualityThresholds | None = None,
    progress: ProgressFactory = _no_progress,
    encoder: str = DEFAULT_ENCODER,
) -> ModalityRun:
    """Calibrate the face matcher of ``encoder`` on ``folder`` (one sub-folder per person); the
    thresholds written are for that encoder's templates only (a station of another encoder
    ignores them)."""
    settings = settings or RunSettings()
    started = time.perf_counter()
    items = list_face_photos(folder, limit_people, photos_per_person)
    paths = [path for path, _ in items]
    templates = face_templates(
        paths,
        encoder=encoder,
        workers=workers,
        cache_root=cache_root,
        progress=progress("face templates", len(items)),
    )
    measures = face_measures(
        paths,
        encoder=encoder,
        workers=workers,
        cache_root=cache_root,
        progress=progress("face quality", len(items)),
    )
    subjects, names = subject_ids([subject for _, subject in items])
    usable = np.array([t is not None for t in templates])
    if usable.sum() < 3:
        raise CalibrationError(f"{folder}: fewer than 3 photos with a face, nothing to calibrate")
    vectors = np.stack([t for t in templates if t is not None])
    matrix = distance_matrix(vectors)
    used_subjects = subjects[usable]
    genuine, g_subjects, impostor, i_subjects = verification_scores(
        matrix, used_subjects, "distance"
    )
    if genuine.size == 0:
        raise CalibrationError(f"{folder}: no person has two photos with a face: no genuine pairs")
    scores = ScoreSet(genuine, impostor, "distance", g_subjects, i_subjects)
    verification = calibrate_verification(
        scores,
        settings.target_fmr,
        replicates=settings.replicates,
        seed=settings.seed,
        level=settings.level,
    )
    rng = np.random.default_rng(settings.seed)
    gallery = choose_gallery(
        used_subjects, np.ones(len(used_subjects), bool), settings.gallery_size, rng
    )
    searches = searches_from_matrix(matrix, used_subjects, gallery, "distance")
    identification = identification_calibration(scores, searches, settings)

    thresholds = quality_thresholds or QualityThresholds()
    checker = FaceQualityChecker(thresholds)
    reasons: Counter[str] = Counter()
    accepted = np.zeros(len(items), bool)
    for index, measured in enumerate(measures):
        codes = ["unreadable"] if measured is None else [r.code for r in checker.reasons(measured)]
        reasons.update(codes)
        accepted[index] = not codes
    enrollment = enrollment_rates(
        subjects,
        accepted,
        attempts=settings.attempts,
        replicates=settings.replicates,
        seed=settings.seed,
        level=settings.level,
    )
    dataset = {
        "folders": [str(folder)],
        "layout": "<person>/<photo>",
        "subjects": len(names),
        "samples": len(items),
        "templates": int(usable.sum()),
        "failures_to_acquire": int((~usable).sum()),
        "limit_people": limit_people,
        "photos_per_person": photos_per_person,
        "template": template_version(encoder),
    }
    return ModalityRun(
        modality="face",
        polarity="distance",
        settings=settings,
        verification=verification,
        identification=identification,
        scores=scores,
        searches=searches,
        enrollment=enrollment,
        dataset=dataset,
        seconds=time.perf_counter() - started,
        quality_extra={
            "matcher_fta": float((~usable).mean()),
            "reasons": dict(reasons.most_common()),
            "thresholds": thresholds.to_json(),
        },
        encoder=encoder,
    )


def calibrate_fingerprint(
    folders: Sequence[Path],
    settings: RunSettings | None = None,
    *,
    dpi: float | None = None,
    limit_fingers: int | None = None,
    workers: int = 0,
    cache_root: Path | None = None,
    progress: ProgressFactory = _no_progress,
) -> ModalityRun:
    """Calibrate the fingerprint matcher on FVC-layout folders."""
    settings = settings or RunSettings()
    started = time.perf_counter()
    images = 0
    samples = collect_fingerprint_samples(
        folders,
        dpi=dpi,
        limit_fingers=limit_fingers,
        workers=workers,
        cache_root=cache_root,
        progress=progress("fingerprint templates", _count_images(folders, limit_fingers)),
    )
    subjects, names = subject_ids([s.subject for s in samples])
    groups = sorted({s.group for s in samples})
    members = {g: np.array([i for i, s in enumerate(samples) if s.group == g]) for g in groups}
    comparisons = sum(len(m) * (len(m) - 1) // 2 for m in members.values())
    step = progress("fingerprint comparisons", comparisons)
    parts: list[tuple[Floats, Ints, Floats, Ints]] = []
    group_searches = []
    rng = np.random.default_rng(settings.seed)
    for group in groups:
        index = members[group]
        matrix = similarity_matrix([samples[i].template for i in index], step)
        group_subjects = subjects[index]
        parts.append(verification_scores(matrix, group_subjects, "similarity"))
        gallery = choose_gallery(
            group_subjects, np.ones(len(index), bool), settings.gallery_size, rng
        )
        group_searches.append(searches_from_matrix(matrix, group_subjects, gallery, "similarity"))
        images += len(index)
    genuine = np.concatenate([p[0] for p in parts])
    if genuine.size == 0:
        raise CalibrationError("no finger has two impressions: no genuine pairs to calibrate on")
    scores = ScoreSet(
        genuine,
        np.concatenate([p[2] for p in parts]),
        "similarity",
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[3] for p in parts]),
    )
    verification = calibrate_verification(
        scores,
        settings.target_fmr,
        replicates=settings.replicates,
        seed=settings.seed,
        level=settings.level,
    )
    searches = pool(group_searches)
    identification = identification_calibration(scores, searches, settings)
    qualities = np.array([s.template.quality for s in samples])
    quality = choose_min_quality(
        subjects,
        qualities,
        settings.target_fte,
        attempts=settings.attempts,
        replicates=settings.replicates,
        seed=settings.seed,
        level=settings.level,
    )
    kept = _genuine_kept(samples, members, quality.min_quality)
    dataset = {
        "folders": [str(f) for f in folders],
        "layout": "<finger>_<impression>.png|tif",
        "subjects": len(names),
        "samples": images,
        "impostor_pairs": "within each folder",
        "limit_fingers": limit_fingers,
        "qualities": {
            "min": int(qualities.min()),
            "median": float(np.median(qualities)),
            "max": int(qualities.max()),
        },
    }
    extra: dict[str, Any] = {}
    if kept is not None:
        extra["genuine_pairs_kept"] = int(kept.sum())
        kept_scores = genuine[kept]
        rejected = ~accepts(kept_scores, verification.threshold, "similarity")
        extra["fnmr_kept"] = float(rejected.mean()) if kept.any() else None
    return ModalityRun(
        modality="fingerprint",
        polarity="similarity",
        settings=settings,
        verification=verification,
        identification=identification,
        scores=scores,
        searches=searches,
        enrollment=quality.rates,
        dataset=dataset,
        seconds=time.perf_counter() - started,
        quality=quality,
        quality_extra=extra,
    )


def _count_images(folders: Sequence[Path], limit_fingers: int | None) -> int:
    return sum(len(selected_impressions(f, limit_fingers, dpi=500)[0]) for f in folders)


def _genuine_kept(
    samples: Sequence[Any], members: dict[str, NDArray[np.int64]], min_quality: int
) -> NDArray[np.bool_] | None:
    """Which genuine pairs (in :func:`verification_scores` order, group by group) have both
    impressions at or above the quality threshold."""
    out = []
    for index in members.values():
        rows, cols = np.triu_indices(len(index), 1)
        fingers = np.array([samples[i].subject for i in index])
        ok = np.array([samples[i].template.quality >= min_quality for i in index])
        same = fingers[rows] == fingers[cols]
        out.append((ok[rows] & ok[cols])[same])
    return np.concatenate(out) if out else None
