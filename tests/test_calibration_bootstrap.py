"""Confidence intervals by bootstrap over subjects, and thresholds that hold on held-back data."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.bootstrap import Interval, bootstrap, subject_counts
from calibration.defaults import CalibrationError
from calibration.error_rates import ScoreSet
from calibration.face_pipeline import distance_matrix
from calibration.runs import verification_scores
from calibration.synthetic import impostor_distances, population
from calibration.thresholds import calibrate_verification


def synthetic_scores(subjects: int, seed: int, by_subject: bool = True) -> ScoreSet:
    templates, ids = population(subjects, 4, seed=seed)
    genuine, g_ids, impostor, i_ids = verification_scores(
        distance_matrix(templates), ids, "distance"
    )
    if not by_subject:
        return ScoreSet(genuine, impostor, "distance")
    return ScoreSet(genuine, impostor, "distance", g_ids, i_ids)


@pytest.fixture(scope="module")
def held_back() -> np.ndarray:
    """Impostor distances of 400,000 pairs of 5,000 people never used for calibration."""
    templates, ids = population(5000, 2, seed=10_000)
    return impostor_distances(templates, ids, 400_000, seed=1)


def test_each_replicate_draws_as_many_subjects_as_there_are() -> None:
    for counts in subject_counts(50, 20, seed=3):
        assert counts.sum() == 50 and counts.shape == (50,) and counts.min() >= 0
    with pytest.raises(CalibrationError):
        next(subject_counts(0, 1, seed=0))


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others() -> None:
    scores = synthetic_scores(60, seed=1)
    first = calibrate_verification(scores, 0.01, replicates=60, seed=5)
    again = calibrate_verification(scores, 0.01, replicates=60, seed=5)
    other = calibrate_verification(scores, 0.01, replicates=60, seed=6)
    assert first == again
    assert first.eer != other.eer  # same value, different interval
    assert first.eer.value == other.eer.value


def test_resampling_subjects_gives_wider_intervals_than_resampling_pairs() -> None:
    # a person's comparisons go together (some people are harder to match than others)
    subjects = calibrate_verification(synthetic_scores(120, seed=2), 0.01, replicates=100)
    pairs = calibrate_verification(
        synthetic_scores(120, seed=2, by_subject=False), 0.01, replicates=100
    )
    assert subjects.eer.value == pairs.eer.value
    width = subjects.eer.high - subjects.eer.low
    assert width > 2 * (pairs.eer.high - pairs.eer.low)
    assert subjects.fmr.high - subjects.fmr.low > 2 * (pairs.fmr.high - pairs.fmr.low)


def test_the_threshold_gives_the_target_fmr_on_held_back_people(held_back: np.ndarray) -> None:
    covered = 0
    for seed in range(5):
        calibration = calibrate_verification(
            synthetic_scores(150, seed=seed), 0.01, replicates=100, seed=seed
        )
        assert calibration.fmr.value <= 0.01
        on_new_people = float((held_back <= calibration.threshold).mean())
        covered += calibration.fmr.contains(on_new_people)
        # never far off: within the interval widened by a third either side
        pad = (calibration.fmr.high - calibration.fmr.low) / 3
        assert calibration.fmr.low - pad <= on_new_people <= calibration.fmr.high + pad
    assert covered >= 4  # a 95% interval, 5 independent calibrations


def test_undefined_replicates_are_left_out_and_the_value_stays_inside() -> None:
    def statistic(counts: np.ndarray | None) -> dict[str, float]:
        if counts is None:
            return {"x": 0.5}
        return {"x": float("nan") if counts[0] == 0 else float(counts[0])}

    interval = bootstrap(statistic, 3, replicates=50, seed=0)["x"]
    assert isinstance(interval, Interval)
    assert interval.low <= 0.5 <= interval.high
    assert interval.high <= 3
