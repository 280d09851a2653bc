"""Accuracy on real faces (LFW dev), through the whole station: SQLite records, FAISS gallery.

The first 100 people (by name) are enrolled from their first photo; their second photo is
identified; the next 50 people, never enrolled, are searched too. A photo in which no face is
found counts as a miss. The bounds are the measured figures (in the comments) with a margin of
about two probes; a change that makes the matcher worse fails here.
"""

from pathlib import Path

import pytest

from matcher.face import FaceEncoder, FaceNotFoundError
from matcher.imageio import read_rgb
from station.records import PersonFields
from station.service import Identification, Station
from tests.conftest import make_settings, photos_of

ENROLLED, NEVER_ENROLLED = 100, 50
Outcome = Identification | None


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, lfw_people: list[Path]) -> dict[str, list]:
    # LFW photos often show bystanders; the subject is the largest face, as in a station portrait.
    encoder = FaceEncoder(multiple_faces="largest")
    settings = make_settings(tmp_path_factory.mktemp("accuracy"))
    enrolled, strangers = lfw_people[:ENROLLED], lfw_people[ENROLLED : ENROLLED + NEVER_ENROLLED]
    with Station(settings, encoder=encoder) as station:
        record_of = {
            p.name: station.enroll(read_rgb(photos_of(p)[0]), PersonFields(name=p.name)).id
            for p in enrolled
        }
        mated = [(record_of[p.name], identify(station, photos_of(p)[1])) for p in enrolled]
        nonmated = [identify(station, photos_of(p)[0]) for p in strangers]
    return {"mated": mated, "nonmated": nonmated}


def identify(station: Station, photo: Path) -> Outcome:
    """The search result, or None when no face is found (a failure to acquire)."""
    try:
        return station.identify(read_rgb(photo))
    except FaceNotFoundError:
        return None


def top_id(result: Outcome) -> int | None:
    return result.candidates[0].record.id if result and result.candidates else None


def matched_id(result: Outcome) -> int | None:
    return result.match.record.id if result and result.match else None


def test_rank1_identification_rate_is_at_least_95_percent(outcomes: dict[str, list]) -> None:
    # Measured: 0.98 (one probe has no detectable face, one is ranked second).
    mated = outcomes["mated"]
    assert len(mated) == ENROLLED
    rank1 = sum(top_id(r) == expected for expected, r in mated) / len(mated)
    assert rank1 >= 0.95, f"rank-1 {rank1:.3f}"


def test_enrolled_people_are_found_at_the_threshold_at_the_measured_rate(
    outcomes: dict[str, list],
) -> None:
    # Measured: FNIR 0.29 (29 of 100) at the default 1:N threshold 0.5. LFW is unconstrained web
    # photos; the strict threshold keeps FPIR low at the cost of misses (calibration/defaults.py).
    mated = outcomes["mated"]
    fnir = sum(matched_id(r) != expected for expected, r in mated) / len(mated)
    assert fnir <= 0.31, f"FNIR {fnir:.3f}"


def test_never_enrolled_people_are_rejected_at_the_threshold(outcomes: dict[str, list]) -> None:
    # Measured: FPIR 0.00 (0 of 50) at the default 1:N threshold 0.5, gallery of 100.
    nonmated = outcomes["nonmated"]
    assert len(nonmated) == NEVER_ENROLLED
    fpir = sum(matched_id(r) is not None for r in nonmated) / len(nonmated)
    assert fpir <= 0.02, f"FPIR {fpir:.3f}"
