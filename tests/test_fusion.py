"""Score-level fusion (matcher/fusion.py): each modality's score becomes a log-likelihood ratio
on one scale, the LLRs add up, and one threshold decides."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from matcher.fingerprint import mcc
from matcher.fusion import (
    FACE,
    FACE_MODELS,
    FINGER,
    FusionParams,
    ModalityModel,
    decide,
    dedup_params,
    fuse,
    identify_threshold,
    llr,
)

PARAMS = FusionParams()


def test_a_closer_face_and_a_higher_finger_similarity_are_always_more_evidence() -> None:
    faces = [llr(FACE, d) for d in np.linspace(0, 2, 401)]
    fingers = [llr(FINGER, s) for s in np.linspace(0, 1, 401)]
    assert all(b <= a for a, b in itertools.pairwise(faces))
    assert all(b >= a for a, b in itertools.pairwise(fingers))


def test_a_finger_that_matches_nothing_counts_against_a_match() -> None:
    assert llr(FINGER, 0.0) < 0
    assert llr(FINGER, 0.013) < 0  # the median impostor similarity
    assert llr(FINGER, 0.28) > 0  # the median genuine similarity


def test_no_modality_claims_more_odds_than_its_measurements_can_show() -> None:
    assert llr(FINGER, 1.0) == pytest.approx(math.log(FINGER.impostor_pairs))
    assert llr(FACE, 0.0) == pytest.approx(math.log(FACE.impostor_pairs))
    dlib = FACE_MODELS["dlib"]
    assert llr(dlib, 3.0) == pytest.approx(-math.log(dlib.genuine_pairs))
    # SFace's genuines spread wider than its impostors: beyond the impostors the LLR holds its
    # lowest value instead of turning back up, and stays within what the data support.
    farthest = llr(FACE, 2.0)  # unit templates are at most 2 apart
    assert -math.log(FACE.genuine_pairs) <= farthest < 0
    assert farthest == pytest.approx(llr(FACE, 1.9))


def test_the_fused_score_is_the_sum_of_what_was_compared() -> None:
    both = fuse(0.5, {2: 0.3, 7: 0.25})
    assert both.llr == pytest.approx(llr(FACE, 0.5) + llr(FINGER, 0.3) + llr(FINGER, 0.25))
    assert both.modalities == 3
    face_only = fuse(0.5, {})
    assert face_only.llr == pytest.approx(llr(FACE, 0.5)) and face_only.fingers == {}
    fingers_only = fuse(None, {2: 0.3})
    assert fingers_only.face is None and fingers_only.llr == pytest.approx(llr(FINGER, 0.3))


def test_a_second_matching_finger_adds_evidence_and_a_different_one_takes_it_away() -> None:
    one = fuse(0.6, {2: 0.2}).llr
    assert fuse(0.6, {2: 0.2, 3: 0.2}).llr > one
    assert fuse(0.6, {2: 0.2, 3: 0.01}).llr < one


def test_with_nothing_compared_there_is_no_decision() -> None:
    nothing = fuse(None, {})
    assert nothing.llr == 0 and not decide(nothing, -1.0)


def test_identification_asks_for_more_evidence_the_larger_the_gallery() -> None:
    assert identify_threshold(PARAMS, 1) == pytest.approx(PARAMS.identify_threshold)
    assert identify_threshold(PARAMS, 1000) == pytest.approx(
        PARAMS.identify_threshold + math.log(1000)
    )
    # one strong finger alone identifies in a small gallery, not among 100,000 people
    alone = fuse(None, {2: 0.6})
    assert decide(alone, identify_threshold(PARAMS, 10))
    assert not decide(alone, identify_threshold(PARAMS, 100_000))


@pytest.mark.parametrize(
    ("face", "fingers", "error"),
    [
        (float("nan"), {}, "finite"),
        (0.5, {11: 0.3}, "ISO position"),
        (0.5, {2: float("inf")}, "finite"),
    ],
)
def test_bad_scores_are_refused(face: float, fingers: dict[int, float], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        fuse(face, fingers)


def test_a_model_needs_positive_spreads_and_measured_pairs() -> None:
    with pytest.raises(ValueError, match="standard deviations"):
        ModalityModel("x", "identity", 0, 0, 1, 1, 10, 10)
    with pytest.raises(ValueError, match="transform"):
        ModalityModel("x", "log", 0, 1, 1, 1, 10, 10)


def test_a_real_matching_finger_rescues_a_borderline_face_and_a_wrong_finger_sinks_it(
    fvc_template: Any,
) -> None:
    same = mcc.similarity(mcc.prepare(fvc_template("101_1")), mcc.prepare(fvc_template("101_2")))
    other = mcc.similarity(mcc.prepare(fvc_template("101_1")), mcc.prepare(fvc_template("102_1")))
    borderline_face = 1.13  # FMR 0.11%, FNMR 0.97% on LFW (SFace): not enough alone at 100:1
    assert not decide(fuse(borderline_face, {}), PARAMS.verify_threshold)
    assert decide(fuse(borderline_face, {2: same}), PARAMS.verify_threshold)
    assert not decide(fuse(borderline_face, {2: other}), PARAMS.verify_threshold)


def test_in_de_duplication_a_disagreeing_face_does_not_clear_matching_fingers() -> None:
    """The applicant controls the face (disguise, age, a poor photo), not the fingers: the
    face's LLR counts for a match in full and against one not at all."""
    dedup = dedup_params(PARAMS)
    threshold = identify_threshold(dedup, 1_000_000)
    fingers = {2: 0.45, 7: 0.25}  # two clearly matching fingers
    other_photo = 1.40  # a real second photo, far apart
    assert not decide(fuse(other_photo, fingers, PARAMS), threshold)
    held = fuse(other_photo, fingers, dedup)
    assert decide(held, threshold)
    assert held.face is not None and held.face < 0
    assert held.face == pytest.approx(llr(FACE, other_photo))  # reported as measured
    assert held.llr == pytest.approx(sum(held.fingers.values()))
    # A matching face still adds its evidence; fingers that disagree still count against.
    assert fuse(0.5, fingers, dedup).llr == pytest.approx(fuse(0.5, fingers, PARAMS).llr)
    stranger = fuse(other_photo, {2: 0.0, 7: 0.01}, dedup)
    assert stranger.llr < 0 and not decide(stranger, threshold)
