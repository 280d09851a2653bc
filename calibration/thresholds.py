"""Thresholds chosen for a target error rate, with the rates measured at them.

1:1: the most lenient threshold whose FMR on the impostor comparisons is at most the target
(say 0.1%). 1:N: the most lenient threshold whose FPIR on the non-mated searches is at most the
target at the gallery size of the data; for a larger gallery than the data holds, the 1:1 FMR
that gives the target FPIR if impostor comparisons were independent,
FPIR = 1 - (1 - FMR)^N (marked ``extrapolated``). Every rate comes with a bootstrap interval
over subjects, and the threshold with the interval of where it falls on resampled data.

A target below 3 / (number of impostor comparisons or searches) cannot be vouched for by the
data (with no error seen in n trials the 95% upper bound is about 3/n, the rule of three): the
result says so (``resolvable`` False) and the threshold then sits just past the worst impostor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from calibration.bootstrap import DEFAULT_LEVEL, DEFAULT_REPLICATES, Interval, bootstrap
from calibration.defaults import CalibrationError
from calibration.error_rates import ErrorCurve, Ints, ScoreSet
from calibration.identification import Searches, fmr_for_fpir, fpir_from_fmr

FMR_TARGETS = (0.01, 0.001, 0.0001)  # FNMR is reported at each of these and at FMR 0
CMC_RANKS = 10
Method = Literal["measured", "extrapolated"]


def smallest_measurable_rate(trials: int) -> float:
    """The smallest error rate ``trials`` comparisons can vouch for (rule of three)."""
    return 3.0 / trials if trials else 1.0


def _check_target(name: str, target: float) -> None:
    if not (math.isfinite(target) and 0 <= target < 1):
        raise CalibrationError(
            f"target {name} {target} must be a rate from 0 to below 1, e.g. 0.001"
        )


def _pct(rate: float) -> str:
    return f"{rate:.4%}" if rate < 0.001 else f"{rate:.2%}"


@dataclass(frozen=True)
class VerificationCalibration:
    """A 1:1 threshold for a target FMR, its measured rates, and the whole-curve summary."""

    target_fmr: float
    threshold: float
    threshold_ci: Interval
    fmr: Interval  # at the threshold
    fnmr: Interval
    eer: Interval
    eer_threshold: float
    fnmr_at_fmr: dict[float, Interval]  # FNMR at each of FMR_TARGETS
    zero_fmr: Interval  # FNMR at FMR 0
    genuine: int
    impostor: int
    subjects: int
    resolvable: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "threshold_ci": [self.threshold_ci.low, self.threshold_ci.high],
            "target": {"metric": "fmr", "value": self.target_fmr},
            "measured": {"fmr": self.fmr.to_json(), "fnmr": self.fnmr.to_json()},
            "resolvable": self.resolvable,
            "eer": self.eer.to_json(),
            "eer_threshold": self.eer_threshold,
            "fnmr_at_fmr": {str(t): v.to_json() for t, v in self.fnmr_at_fmr.items()},
            "zero_fmr": self.zero_fmr.to_json(),
            "comparisons": {"genuine": self.genuine, "impostor": self.impostor},
            "subjects": self.subjects,
        }

    def warnings(self) -> list[str]:
        if self.resolvable:
            return []
        return [
            f"1:1 target FMR {_pct(self.target_fmr)} is below what {self.impostor:,} impostor "
            f"comparisons can measure ({_pct(smallest_measurable_rate(self.impostor))}): "
            "calibrate on more people"
        ]


def calibrate_verification(
    scores: ScoreSet,
    target_fmr: float,
    *,
    fmr_targets: tuple[float, ...] = FMR_TARGETS,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> VerificationCalibration:
    """The most lenient threshold with FMR <= ``target_fmr``, rates at it, EER and FNMR at the
    usual FMRs, each with a bootstrap interval over subjects (one pass over the replicates)."""
    _check_target("FMR", target_fmr)
    base = scores.curve()
    k = base.index_for_fmr(target_fmr)

    def statistics(counts: Ints | None) -> dict[str, float]:
        curve = base if counts is None else scores.curve(counts)
        out = {
            "threshold": curve.threshold_for_fmr(target_fmr),
            "fmr": float(curve.fmr_at(k)),
            "fnmr": float(curve.fnmr_at(k)),
            "eer": curve.eer(),
            "zero": curve.fnmr_at_fmr(0.0),
        }
        out.update({f"at{t}": curve.fnmr_at_fmr(t) for t in fmr_targets})
        return out

    ci = bootstrap(statistics, scores.n_subjects, replicates, seed, level)
    return VerificationCalibration(
        target_fmr=target_fmr,
        threshold=ci["threshold"].value,
        threshold_ci=ci["threshold"],
        fmr=ci["fmr"],
        fnmr=ci["fnmr"],
        eer=ci["eer"],
        eer_threshold=base.eer_threshold(),
        fnmr_at_fmr={t: ci[f"at{t}"] for t in fmr_targets},
        zero_fmr=ci["zero"],
        genuine=scores.genuine_count,
        impostor=scores.impostor_count,
        subjects=scores.n_subjects,
        resolvable=target_fmr >= smallest_measurable_rate(scores.impostor_count),
    )


@dataclass(frozen=True)
class IdentificationCalibration:
    """A 1:N threshold for a target FPIR at a gallery size, with FPIR, FNIR and the CMC."""

    target_fpir: float
    gallery_size: int  # the size the threshold is for
    method: Method
    threshold: float
    threshold_ci: Interval
    fpir: Interval
    fnir: Interval
    rank: int  # FNIR counts a mate beyond this rank as missed
    cmc: list[Interval]  # rank-1, rank-2, ... identification rates on the measured gallery
    measured_gallery_size: int
    mated: int
    nonmated: int
    subjects: int
    resolvable: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "threshold_ci": [self.threshold_ci.low, self.threshold_ci.high],
            "target": {"metric": "fpir", "value": self.target_fpir},
            "gallery_size": self.gallery_size,
            "method": self.method,
            "measured": {"fpir": self.fpir.to_json(), "fnir": self.fnir.to_json()},
            "resolvable": self.resolvable,
            "rank": self.rank,
            "cmc": [c.to_json() for c in self.cmc],
            "measured_gallery_size": self.measured_gallery_size,
            "searches": {"mated": self.mated, "non_mated": self.nonmated},
            "subjects": self.subjects,
            "notes": self.notes,
        }

    def warnings(self) -> list[str]:
        if self.resolvable:
            return []
        trials = "impostor comparisons" if self.method == "extrapolated" else "non-mated searches"
        return [
            f"1:N target FPIR {_pct(self.target_fpir)} at a gallery of {self.gallery_size:,} is "
            f"beyond what the data's {trials} can measure: calibrate on more people"
        ]


def _cmc_intervals(
    searches: Searches, replicates: int, seed: int, level: float, max_rank: int
) -> list[Interval]:
    def statistics(counts: Ints | None) -> dict[str, float]:
        return {str(r + 1): float(v) for r, v in enumerate(searches.cmc(max_rank, counts))}

    ci = bootstrap(statistics, _subjects(searches), replicates, seed, level)
    return [ci[str(r + 1)] for r in range(max_rank)]


def _subjects(searches: Searches) -> int:
    top = max(searches.mated_subjects.max(initial=-1), searches.nonmated_subjects.max(initial=-1))
    return int(top) + 1


def calibrate_identification(
    searches: Searches,
    target_fpir: float,
    *,
    rank: int = 1,
    max_rank: int = CMC_RANKS,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> IdentificationCalibration:
    """The most lenient threshold with FPIR <= ``target_fpir`` on these searches (at their
    gallery size), FPIR and FNIR at it and the CMC, with bootstrap intervals over subjects."""
    _check_target("FPIR", target_fpir)
    scores = searches.scores(rank)
    base = scores.curve()
    k = base.index_for_fmr(target_fpir)

    def statistics(counts: Ints | None) -> dict[str, float]:
        curve = base if counts is None else scores.curve(counts)
        return {
            "threshold": curve.threshold_for_fmr(target_fpir),
            "fpir": float(curve.fmr_at(k)),
            "fnir": float(curve.fnmr_at(k)),
        }

    ci = bootstrap(statistics, scores.n_subjects, replicates, seed, level)
    return IdentificationCalibration(
        target_fpir=target_fpir,
        gallery_size=searches.gallery_size,
        method="measured",
        threshold=ci["threshold"].value,
        threshold_ci=ci["threshold"],
        fpir=ci["fpir"],
        fnir=ci["fnir"],
        rank=rank,
        cmc=_cmc_intervals(searches, replicates, seed, level, max_rank),
        measured_gallery_size=searches.gallery_size,
        mated=searches.mated,
        nonmated=searches.nonmated,
        subjects=scores.n_subjects,
        resolvable=target_fpir >= smallest_measurable_rate(searches.nonmated),
    )


def extrapolate_identification(
    verification: ScoreSet,
    searches: Searches,
    target_fpir: float,
    gallery_size: int,
    *,
    rank: int = 1,
    max_rank: int = CMC_RANKS,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> IdentificationCalibration:
    """A 1:N threshold for a gallery larger than the data's: the 1:1 threshold whose FMR gives
    ``target_fpir`` at ``gallery_size`` if impostor comparisons were independent. FNIR is
    measured at that threshold on the data's smaller gallery (a larger one can only add rank
    errors: a lower bound)."""
    _check_target("FPIR", target_fpir)
    if gallery_size < 1:
        raise CalibrationError(f"gallery size {gallery_size} must be at least 1")
    fmr_target = fmr_for_fpir(target_fpir, gallery_size)
    base = verification.curve()
    k = base.index_for_fmr(fmr_target)
    threshold = base.threshold_at(k)

    def fpir_stats(counts: Ints | None) -> dict[str, float]:
        curve: ErrorCurve = base if counts is None else verification.curve(counts)
        return {
            "threshold": curve.threshold_for_fmr(fmr_target),
            "fpir": fpir_from_fmr(float(curve.fmr_at(k)), gallery_size),
        }

    scores = searches.scores(rank)

    def fnir_stats(counts: Ints | None) -> dict[str, float]:
        return {"fnir": scores.rates_at(threshold, counts)[1]}

    ci = bootstrap(fpir_stats, verification.n_subjects, replicates, seed, level)
    fnir = bootstrap(fnir_stats, scores.n_subjects, replicates, seed, level)["fnir"]
    measured_fpir = scores.rates_at(threshold)[0]
    predicted = fpir_from_fmr(float(base.fmr_at(k)), searches.gallery_size)
    return IdentificationCalibration(
        target_fpir=target_fpir,
        gallery_size=gallery_size,
        method="extrapolated",
        threshold=threshold,
        threshold_ci=ci["threshold"],
        fpir=ci["fpir"],
        fnir=fnir,
        rank=rank,
        cmc=_cmc_intervals(searches, replicates, seed, level, max_rank),
        measured_gallery_size=searches.gallery_size,
        mated=searches.mated,
        nonmated=searches.nonmated,
        subjects=scores.n_subjects,
        resolvable=fmr_target >= smallest_measurable_rate(verification.impostor_count),
        notes=[
            f"FPIR extrapolated from 1:1 FMR {_pct(float(base.fmr_at(k)))} as 1 - (1 - FMR)^N; "
            f"check of the assumption at the data's gallery of {searches.gallery_size}: FPIR "
            f"measured {_pct(measured_fpir)}, predicted {_pct(predicted)}",
            f"FNIR measured on the data's gallery of {searches.gallery_size}: a larger gallery "
            "can only add rank errors",
        ],
    )
