"""Confidence intervals by bootstrap over subjects, not over comparisons.

Comparisons of one person are not independent (a person who photographs badly makes all of
their genuine scores poor), so resampling pairs gives intervals that are too narrow. Following
Bolle, Ratha and Pankanti ("subsets bootstrap"), each replicate draws the subjects with
replacement; a comparison then counts as many times as the product of the draws of the
subjects it involves (a genuine pair or a 1:N search: one subject; an impostor pair: two).
Percentile intervals; the same seed gives the same intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from calibration.defaults import CalibrationError
from calibration.error_rates import Ints

DEFAULT_REPLICATES = 200
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A measured value and its bootstrap confidence interval (low, high)."""

    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, float | list[float]]:
        return {"value": self.value, "ci": [self.low, self.high]}

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def subject_counts(n_subjects: int, replicates: int, seed: int) -> Iterator[Ints]:
    """For each replicate, how many times each subject was drawn (n draws with replacement)."""
    if n_subjects < 1:
        raise CalibrationError("a bootstrap needs at least one subject")
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        draws = rng.integers(0, n_subjects, n_subjects)
        yield np.bincount(draws, minlength=n_subjects).astype(np.int64)


def bootstrap(
    statistics: Callable[[Ints | None], Mapping[str, float]],
    n_subjects: int,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Interval]:
    """Intervals for every named statistic: ``statistics(None)`` is the measured value,
    ``statistics(counts)`` its value on one replicate. Replicates where a statistic is
    undefined (NaN: say no impostor drawn) are left out of its interval."""
    if not 0 < level < 1:
        raise CalibrationError(f"confidence level {level} must lie between 0 and 1")
    if replicates < 0:
        raise CalibrationError("the number of bootstrap replicates cannot be negative")
    measured = dict(statistics(None))
    samples: dict[str, list[float]] = {name: [] for name in measured}
    for counts in subject_counts(n_subjects, replicates, seed):
        for name, value in statistics(counts).items():
            samples[name].append(value)
    out = {}
    tail = (1 - level) / 2 * 100
    for name, value in measured.items():
        values = np.array([v for v in samples[name] if not math.isnan(v)], dtype=np.float64)
        if values.size == 0:
            out[name] = Interval(value, value, value)
            continue
        low, high = np.percentile(values, [tail, 100 - tail])
        # a percentile interval can miss the measured value on very skewed statistics
        out[name] = Interval(value, float(min(low, value)), float(max(high, value)))
    return out
