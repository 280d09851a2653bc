"""Error rates from scores: EER on distributions with a known EER, FMR/FNMR definitions,
polarity, thresholds for a target FMR, weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from calibration.defaults import CalibrationError
from calibration.error_rates import ScoreSet, accepts


@pytest.mark.parametrize("separation", [1.0, 2.0, 3.0])
def test_the_eer_of_two_gaussians_is_phi_of_minus_half_the_separation(separation: float) -> None:
    rng = np.random.default_rng(int(separation * 10))
    genuine = rng.normal(separation, 1.0, 200_000)
    impostor = rng.normal(0.0, 1.0, 200_000)
    curve = ScoreSet(genuine, impostor, "similarity").curve()
    expected = norm.cdf(-separation / 2)
    assert curve.eer() == pytest.approx(expected, abs=0.0025)
    # the threshold at the crossing is halfway between the two means
    assert curve.eer_threshold() == pytest.approx(separation / 2, abs=0.02)


def test_fnmr_at_a_target_fmr_matches_the_gaussian_quantiles() -> None:
    rng = np.random.default_rng(7)
    genuine = rng.normal(3.0, 1.0, 200_000)
    impostor = rng.normal(0.0, 1.0, 400_000)
    curve = ScoreSet(genuine, impostor, "similarity").curve()
    for target in (0.01, 0.001):
        threshold = norm.ppf(1 - target)  # FMR = target there
        assert curve.fnmr_at_fmr(target) == pytest.approx(norm.cdf(threshold - 3.0), abs=0.006)
        assert curve.threshold_for_fmr(target) == pytest.approx(threshold, abs=0.05)


def test_rates_follow_the_definitions_on_a_small_example() -> None:
    # similarity: accept when score >= threshold
    scores = ScoreSet([0.9, 0.8, 0.4], [0.1, 0.5, 0.2, 0.3], "similarity")
    assert scores.rates_at(0.5) == (0.25, 1 / 3)  # impostor 0.5 accepted, genuine 0.4 rejected
    assert scores.rates_at(0.45) == (0.25, 1 / 3)
    assert scores.rates_at(0.35) == (0.0 + 0.25, 0.0)
    curve = scores.curve()
    assert curve.fnmr_at_fmr(0.0) == pytest.approx(1 / 3)  # ZeroFMR: threshold past 0.5
    assert curve.fnmr_at_fmr(0.25) == 0.0  # FMR 25% allows the threshold down to 0.4
    threshold = curve.threshold_for_fmr(0.0)
    assert 0.5 < threshold <= 0.8
    assert scores.rates_at(threshold) == pytest.approx((0.0, 1 / 3))


def test_distances_are_similarities_turned_around() -> None:
    rng = np.random.default_rng(3)
    genuine, impostor = rng.normal(2, 1, 3000), rng.normal(0, 1, 9000)
    sim = ScoreSet(genuine, impostor, "similarity").curve()
    dist = ScoreSet(-genuine, -impostor, "distance").curve()
    assert sim.eer() == dist.eer()
    assert sim.threshold_for_fmr(0.01) == -dist.threshold_for_fmr(0.01)
    assert sim.fnmr_at_fmr(0.001) == dist.fnmr_at_fmr(0.001)
    assert accepts([0.3, 0.6], 0.5, "distance").tolist() == [True, False]
    assert accepts([0.3, 0.6], 0.5, "similarity").tolist() == [False, True]


def test_the_threshold_for_a_target_sits_in_the_gap_and_gives_the_curve_point() -> None:
    rng = np.random.default_rng(11)
    scores = ScoreSet(
        rng.normal(0.4, 0.1, 500).round(3), rng.normal(0.8, 0.1, 20_000).round(3), "distance"
    )
    curve = scores.curve()
    for target in (0.05, 0.01, 0.001, 0.0):
        threshold = curve.threshold_for_fmr(target)
        fmr, fnmr = scores.rates_at(threshold)
        assert fmr <= target
        k = curve.index_for_fmr(target)
        assert (fmr, fnmr) == pytest.approx((curve.fmr[k], curve.fnmr[k]))
        assert threshold not in set(np.concatenate([scores.genuine, scores.impostor]))
        if k > 0:  # one step more lenient is over the target
            assert curve.fmr[k - 1] > target


def test_weights_count_like_repeated_comparisons() -> None:
    genuine = np.array([0.9, 0.7, 0.6])
    impostor = np.array([0.1, 0.65, 0.3, 0.8])
    subjects_g = [0, 1, 2]
    subjects_i = [[0, 1], [1, 2], [0, 2], [2, 1]]
    weighted = ScoreSet(genuine, impostor, "similarity", subjects_g, subjects_i)
    counts = np.array([2, 0, 1])  # subject 0 drawn twice, subject 1 never
    curve = weighted.curve(counts)
    # genuine: 0.9 twice, 0.6 once; impostor pairs (0,2) -> 0.3 twice; others weigh 0
    repeated = ScoreSet([0.9, 0.9, 0.6], [0.3, 0.3], "similarity").curve()
    for t in (0.2, 0.5, 0.65, 0.95):
        assert weighted.rates_at(t, counts) == ScoreSet(
            [0.9, 0.9, 0.6], [0.3, 0.3], "similarity"
        ).rates_at(t)
    assert curve.eer() == repeated.eer()


def test_never_accepted_scores_count_as_misses() -> None:
    scores = ScoreSet([0.9, -np.inf], [0.1], "similarity")
    assert scores.rates_at(0.0) == (1.0, 0.5)
    assert scores.curve().fnmr_at_fmr(0.0) == 0.5
    assert ScoreSet([0.1, np.inf], [0.9], "distance").rates_at(1.0) == (1.0, 0.5)


@pytest.mark.parametrize(
    ("genuine", "impostor", "polarity", "message"),
    [
        ([], [0.1], "similarity", "genuine scores"),
        ([0.5], [], "similarity", "impostor scores"),
        ([np.nan], [0.1], "similarity", "NaN"),
        ([np.inf], [0.1], "similarity", r"\+inf"),
        ([-np.inf], [0.1], "distance", "-inf"),
        ([0.5], [0.1], "cosine", "valid: similarity, distance"),
    ],
)
def test_bad_scores_are_refused_with_a_reason(
    genuine: list[float], impostor: list[float], polarity: str, message: str
) -> None:
    with pytest.raises(CalibrationError, match=message):
        ScoreSet(genuine, impostor, polarity)  # type: ignore[arg-type]


def test_det_points_are_thinned_and_keep_the_ends() -> None:
    rng = np.random.default_rng(5)
    curve = ScoreSet(rng.normal(2, 1, 5000), rng.normal(0, 1, 50_000), "similarity").curve()
    fmr, fnmr = curve.det_points(400)
    assert len(fmr) <= 400
    assert (fmr[0], fnmr[0]) == (1.0, 0.0) and (fmr[-1], fnmr[-1]) == (0.0, 1.0)
    assert np.all(np.diff(fmr) <= 0) and np.all(np.diff(fnmr) >= 0)


@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=30),
    st.lists(st.integers(0, 20), min_size=1, max_size=30),
)
def test_the_curve_is_monotone_and_the_eer_lies_on_it(
    genuine: list[int], impostor: list[int]
) -> None:
    curve = ScoreSet(genuine, impostor, "similarity").curve()
    fmr, fnmr = curve.fmr, curve.fnmr
    assert np.all(np.diff(fmr) <= 0) and np.all(np.diff(fnmr) >= 0)
    eer = curve.eer()
    assert 0.0 <= eer <= 1.0
    # the EER lies between FMR and FNMR at the two points either side of the crossing
    d = fmr - fnmr
    k = int(np.argmax(d <= 0))
    low = min(fmr[k], fnmr[k], fmr[max(k - 1, 0)], fnmr[max(k - 1, 0)])
    high = max(fmr[k], fnmr[k], fmr[max(k - 1, 0)], fnmr[max(k - 1, 0)])
    assert low - 1e-12 <= eer <= high + 1e-12
    # looser targets never give a higher FNMR
    assert curve.fnmr_at_fmr(0.5) <= curve.fnmr_at_fmr(0.1) <= curve.fnmr_at_fmr(0.0)
