"""Failure-to-acquire and failure-to-enroll rates from capture quality, and the fingerprint
quality threshold that keeps the failure-to-enroll rate under a target.

- FTA: the share of captures the quality check refuses.
- FTE: the share of people none of whose first ``attempts`` captures (in capture order) is
  accepted: they could not be enrolled in a session of that many tries.

Intervals by bootstrap over people, as everywhere in :mod:`calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.bootstrap import DEFAULT_LEVEL, DEFAULT_REPLICATES, Interval, bootstrap
from calibration.defaults import CalibrationError
from calibration.error_rates import Ints

DEFAULT_ATTEMPTS = 3
DEFAULT_TARGET_FTE = 0.02


def subject_ids(labels: Sequence[str]) -> tuple[Ints, list[str]]:
    """Labels -> small whole-number ids (in order of first appearance), and the names."""
    names: dict[str, int] = {}
    ids = np.array([names.setdefault(label, len(names)) for label in labels], dtype=np.int64)
    return ids, list(names)


def first_attempts(subjects: Ints, attempts: int) -> NDArray[np.bool_]:
    """Which captures are among the first ``attempts`` of their subject (in the given order)."""
    if attempts < 1:
        raise CalibrationError("an enrollment allows at least one attempt")
    seen: dict[int, int] = {}
    keep = np.zeros(len(subjects), bool)
    for index, subject in enumerate(subjects.tolist()):
        seen[subject] = seen.get(subject, 0) + 1
        keep[index] = seen[subject] <= attempts
    return keep


@dataclass(frozen=True)
class EnrollmentRates:
    fta: Interval
    fte: Interval
    captures: int
    subjects: int
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "fta": self.fta.to_json(),
            "fte": self.fte.to_json(),
            "captures": self.captures,
            "subjects": self.subjects,
            "attempts": self.attempts,
        }


def _best_per_subject(
    subjects: Ints, values: NDArray[np.float64], n: int, attempts: int
) -> NDArray[np.float64]:
    """The best value among each subject's first attempts (-inf for a subject with none)."""
    best = np.full(n, -np.inf)
    mask = first_attempts(subjects, attempts)
    np.maximum.at(best, subjects[mask], values[mask])
    return best


def enrollment_rates(
    subjects: Ints,
    accepted: NDArray[np.bool_],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> EnrollmentRates:
    """FTA and FTE of captures (subject ids from 0, in capture order) and their verdicts."""
    if len(subjects) == 0 or len(subjects) != len(accepted):
        raise CalibrationError("enrollment rates need one verdict per capture, and captures")
    n = int(subjects.max()) + 1
    enrolled = _best_per_subject(subjects, accepted.astype(np.float64), n, attempts) > 0
    present = np.bincount(subjects, minlength=n) > 0

    def statistics(counts: Ints | None) -> dict[str, float]:
        c = present.astype(np.int64) if counts is None else counts * present
        per_capture = c[subjects]
        return {
            "fta": float((per_capture * ~accepted).sum() / max(per_capture.sum(), 1)),
            "fte": float((c * ~enrolled).sum() / max(c.sum(), 1)),
        }

    ci = bootstrap(statistics, n, replicates, seed, level)
    return EnrollmentRates(ci["fta"], ci["fte"], len(subjects), int(present.sum()), attempts)


@dataclass(frozen=True)
class QualityThreshold:
    """The fingerprint quality (0-100) an enrollment capture must reach, and its FTA and FTE."""

    min_quality: int
    target_fte: float
    rates: EnrollmentRates

    def to_json(self) -> dict[str, Any]:
        return {
            "min_quality": self.min_quality,
            "target": {"metric": "fte", "value": self.target_fte},
            **self.rates.to_json(),
        }


def choose_min_quality(
    subjects: Ints,
    qualities: NDArray[np.integer],
    target_fte: float = DEFAULT_TARGET_FTE,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> QualityThreshold:
    """The highest quality threshold (0-100) whose FTE on these captures is at most
    ``target_fte``, with people allowed ``attempts`` tries: the strictest check that still
    enrolls nearly everyone."""
    if not 0 <= target_fte < 1:
        raise CalibrationError(
            f"target FTE {target_fte} must be a rate from 0 to below 1, e.g. 0.02"
        )
    values = np.asarray(qualities, dtype=np.float64)
    n = int(subjects.max()) + 1
    best = _best_per_subject(subjects, values, n, attempts)
    best = best[np.bincount(subjects, minlength=n) > 0]
    candidates = np.arange(0, 101)
    fte = (best[None, :] < candidates[:, None]).mean(axis=1)
    allowed = candidates[fte <= target_fte + 1e-12]
    threshold = int(allowed.max()) if allowed.size else 0
    rates = enrollment_rates(
        subjects,
        values >= threshold,
        attempts=attempts,
        replicates=replicates,
        seed=seed,
        level=level,
    )
    return QualityThreshold(threshold, target_fte, rates)
