"""1:N: searches from a comparison matrix, FPIR/FNIR by their definitions, CMC, thresholds for
a target FPIR, and the extrapolation to larger galleries."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.defaults import CalibrationError
from calibration.error_rates import ScoreSet
from calibration.face_pipeline import distance_matrix
from calibration.identification import (
    first_sample_of_each,
    fmr_for_fpir,
    fpir_from_fmr,
    searches_from_matrix,
)
from calibration.runs import (
    RunSettings,
    choose_gallery,
    identification_calibration,
    verification_scores,
)
from calibration.synthetic import population
from calibration.thresholds import calibrate_identification

# four samples: subject 0 (samples 0, 1), subject 1 (2, 3); distances
MATRIX = np.array(
    [
        [0.0, 0.3, 0.9, 0.8],
        [0.3, 0.0, 0.2, 0.7],
        [0.9, 0.2, 0.0, 0.4],
        [0.8, 0.7, 0.4, 0.0],
    ]
)
SUBJECTS = np.array([0, 0, 1, 1])


def test_searches_follow_the_definitions() -> None:
    gallery = first_sample_of_each(SUBJECTS, np.ones(4, bool))
    assert gallery.tolist() == [0, 2]
    s = searches_from_matrix(MATRIX, SUBJECTS, gallery, "distance")
    # probe 1 (subject 0): mate 0 at 0.3, but subject 1's sample 2 is nearer (0.2): rank 2
    # probe 3 (subject 1): mate 2 at 0.4, other 0.8: rank 1
    assert s.mate_scores.tolist() == [0.3, 0.4]
    assert s.mate_ranks.tolist() == [2, 1]
    # non-mated: each probe against the gallery without its own subject
    assert s.nonmated_scores.tolist() == [0.2, 0.8]
    assert s.gallery_size == 2
    scores = s.scores(rank=1)
    fpir, fnir = scores.rates_at(0.5)
    assert fpir == 0.5  # probe 1 finds subject 1 at 0.2
    assert fnir == 0.5  # probe 1's mate is not first
    assert s.scores(rank=2).rates_at(0.5) == (0.5, 0.0)
    assert s.cmc(2).tolist() == [0.5, 1.0]


def test_an_unenrolled_subject_makes_non_mated_searches_only() -> None:
    s = searches_from_matrix(MATRIX, SUBJECTS, np.array([0]), "distance")
    assert s.mated == 1 and s.nonmated == 3
    assert sorted(s.nonmated_scores.tolist()) == [0.8, 0.9, np.inf]  # sample 1 has no other


def test_a_gallery_holds_one_sample_per_subject() -> None:
    with pytest.raises(CalibrationError, match="one sample per subject"):
        searches_from_matrix(MATRIX, SUBJECTS, np.array([0, 1]), "distance")


def test_the_threshold_for_a_target_fpir_holds_it() -> None:
    templates, ids = population(200, 4, seed=4)
    matrix = distance_matrix(templates)
    gallery = first_sample_of_each(ids, np.ones(len(ids), bool))
    searches = searches_from_matrix(matrix, ids, gallery, "distance")
    result = calibrate_identification(searches, 0.05, replicates=50)
    fpir, fnir = searches.scores().rates_at(result.threshold)
    assert fpir <= 0.05 and fpir == result.fpir.value and fnir == result.fnir.value
    assert result.fpir.low <= fpir <= result.fpir.high
    assert result.method == "measured" and result.gallery_size == 200
    cmc = [c.value for c in result.cmc]
    assert cmc == sorted(cmc) and 0.5 < cmc[0] <= 1.0
    # FNIR counts rank-1 misses whatever the threshold
    assert fnir >= 1 - cmc[0]


def test_fpir_and_fmr_convert_both_ways() -> None:
    assert fpir_from_fmr(0.001, 1) == pytest.approx(0.001)
    assert fpir_from_fmr(fmr_for_fpir(0.01, 5000), 5000) == pytest.approx(0.01)
    assert fmr_for_fpir(0.01, 1000) == pytest.approx(1.005e-5, rel=1e-3)


def test_a_larger_gallery_is_extrapolated_and_the_assumption_checks_out() -> None:
    templates, ids = population(300, 4, seed=8)
    matrix = distance_matrix(templates)
    genuine, g_ids, impostor, i_ids = verification_scores(matrix, ids, "distance")
    scores = ScoreSet(genuine, impostor, "distance", g_ids, i_ids)
    rng = np.random.default_rng(0)
    searches = searches_from_matrix(
        matrix, ids, choose_gallery(ids, np.ones(len(ids), bool), None, rng), "distance"
    )
    measured = identification_calibration(
        scores, searches, RunSettings(target_fpir=0.05, replicates=40)
    )
    at_data_size = identification_calibration(
        scores, searches, RunSettings(target_fpir=0.05, replicates=40, gallery_size=300)
    )
    assert at_data_size.method == "measured"
    bigger = identification_calibration(
        scores, searches, RunSettings(target_fpir=0.05, replicates=40, gallery_size=3000)
    )
    assert bigger.method == "extrapolated" and bigger.gallery_size == 3000
    assert bigger.threshold < measured.threshold  # stricter: lower distance
    # synthetic impostors are independent: the extrapolation predicts the measured FPIR
    predicted = fpir_from_fmr(scores.rates_at(measured.threshold)[0], 300)
    assert measured.fpir.low <= predicted <= measured.fpir.high
    assert any("predicted" in note for note in bigger.notes)


def test_a_smaller_gallery_is_drawn_from_the_data() -> None:
    ids = np.repeat(np.arange(10), 3)
    gallery = choose_gallery(ids, np.ones(30, bool), 4, np.random.default_rng(1))
    assert len(gallery) == 4 and len(set(ids[gallery])) == 4
    assert all(index % 3 == 0 for index in gallery)  # first sample of each
