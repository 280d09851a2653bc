"""Accuracy on real faces (LFW dev), through the whole station: the enrollment workflow (with its
de-duplication), SQLite records, the FAISS gallery, identification with the fused 1:N threshold.

The first 100 people (by name) are enrolled, face only, from their first photo; their second photo
is identified; the next 50 people, never enrolled, are searched too. A photo in which no face is
found counts as a miss. The bounds are the measured figures (in the comments) with a margin of
about two probes; a change that makes the matcher worse fails here.
"""

from pathlib import Path

import pytest

from matcher.face import FaceNotFoundError, face_encoder
from matcher.imageio import read_rgb
from station.core import Station
from station.workflows import FaceInput, Identification
from station.workflows import identify as search
from tests.conftest import enroll_face, make_settings, photos_of

ENROLLED, NEVER_ENROLLED = 100, 50
Outcome = Identification | None


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, lfw_people: list[Path]) -> dict[str, list]:
    # LFW photos often show bystanders; the subject is the largest face, as in a station portrait.
    encoder = face_encoder(multiple_faces="largest")
    settings = make_settings(tmp_path_factory.mktemp("accuracy"))
    enrolled, strangers = lfw_people[:ENROLLED], lfw_people[ENROLLED : ENROLLED + NEVER_ENROLLED]
    with Station(settings, encoder=encoder) as station:
        enrollments = {p.name: enroll_face(station, photos_of(p)[0], p.name) for p in enrolled}
        record_of = {name: e.record.id for name, e in enrollments.items()}
        held = [name for name, e in enrollments.items() if e.held]
        mated = [(record_of[p.name], identify(station, photos_of(p)[1])) for p in enrolled]
        nonmated = [identify(station, photos_of(p)[0]) for p in strangers]
    return {"mated": mated, "nonmated": nonmated, "held": held}


def identify(station: Station, photo: Path) -> Outcome:
    """The search result, or None when no face is found (a failure to acquire)."""
    try:
        return search(station, FaceInput.of(read_rgb(photo)))
    except FaceNotFoundError:
        return None


def top_id(result: Outcome) -> int | None:
    return result.candidates[0].record.id if result and result.candidates else None


def matched_id(result: Outcome) -> int | None:
    return result.match.record.id if result and result.match else None


def test_rank1_identification_rate_is_at_least_98_percent(outcomes: dict[str, list]) -> None:
    # Measured with SFace: 1.00 (dlib's encoder: 0.98, one probe with no face found, one second).
    mated = outcomes["mated"]
    assert len(mated) == ENROLLED
    rank1 = sum(top_id(r) == expected for expected, r in mated) / len(mated)
    print(f"\nrank-1 {rank1:.3f}")
    assert rank1 >= 0.98, f"rank-1 {rank1:.3f}"


def test_no_distinct_person_is_held_as_a_duplicate_of_another(outcomes: dict[str, list]) -> None:
    # Measured with SFace: 0 of 100 distinct people held (face only, fused duplicate threshold).
    print(f"\nheld {outcomes['held']}")
    assert len(outcomes["held"]) <= 1, outcomes["held"]


def test_enrolled_people_are_found_at_the_threshold_at_the_measured_rate(
    outcomes: dict[str, list],
) -> None:
    # Measured with SFace: FNIR 0.07 (7 of 100) at the fused 1:N threshold ln(100) + ln(100) = 9.2,
    # which a face alone reaches below a distance of about 0.98 (matcher/fusion.py); dlib's
    # encoder missed 61 of 100 there. The station identifies with fingers too (test_workflows).
    mated = outcomes["mated"]
    fnir = sum(matched_id(r) != expected for expected, r in mated) / len(mated)
    print(f"\nFNIR {fnir:.3f}")
    assert fnir <= 0.10, f"FNIR {fnir:.3f}"


def test_never_enrolled_people_are_rejected_at_the_threshold(outcomes: dict[str, list]) -> None:
    # Measured with SFace: FPIR 0.00 (0 of 50) at the fused 1:N threshold, gallery of 100.
    nonmated = outcomes["nonmated"]
    assert len(nonmated) == NEVER_ENROLLED
    fpir = sum(matched_id(r) is not None for r in nonmated) / len(nonmated)
    print(f"\nFPIR {fpir:.3f}")
    assert fpir <= 0.02, f"FPIR {fpir:.3f}"
