"""The token portrait keeps matching accuracy on real faces (LFW dev), compared with raw photos.

A bounded sample so the suite stays fast: 30 people (LFW people 200-229 by name) enrolled from
their first photo and searched with their second, and 15 never-enrolled people (230-244) searched
with their first. The same photos are matched twice: raw, and as token portraits (the stored
form). A photo with no face is a miss. The full-dataset figures come from
``station eval face DIR`` with and without ``--portrait`` (README, "Measured figures").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibration.defaults import FACE_THRESHOLDS
from calibration.face_pipeline import face_templates
from tests.conftest import photos_of

ENROLLED = slice(200, 230)
STRANGERS = slice(230, 245)


def figures(
    gallery: list[np.ndarray | None],
    mated: list[np.ndarray | None],
    strangers: list[np.ndarray | None],
    threshold: float = FACE_THRESHOLDS["sface"].identify,
) -> dict[str, float]:
    """Rank-1, FNIR and FPIR by brute force; a missing template is a miss (or no false match)."""
    enrolled = [(i, v) for i, v in enumerate(gallery) if v is not None]
    ids = np.array([i for i, _ in enrolled])
    matrix = np.stack([v for _, v in enrolled])

    def nearest(vector: np.ndarray) -> tuple[int, float]:
        distances = np.linalg.norm(matrix - vector, axis=1)
        best = int(np.argmin(distances))
        return int(ids[best]), float(distances[best])

    right = hit = 0
    for person, vector in enumerate(mated):
        if vector is None:
            continue
        found, distance = nearest(vector)
        right += found == person
        hit += found == person and distance <= threshold
    false = sum(1 for v in strangers if v is not None and nearest(v)[1] <= threshold)
    return {
        "rank1": right / len(mated),
        "fnir": 1 - hit / len(mated),
        "fpir": false / len(strangers),
    }


@pytest.fixture(scope="module")
def outcome(lfw_people: list[Path]) -> dict[str, dict[str, float]]:
    enrolled, strangers = lfw_people[ENROLLED], lfw_people[STRANGERS]
    paths = (
        [photos_of(p)[0] for p in enrolled]
        + [photos_of(p)[1] for p in enrolled]
        + [photos_of(p)[0] for p in strangers]
    )
    result = {}
    for name, portrait in (("raw", False), ("portrait", True)):
        vectors = face_templates(paths, workers=2, portrait=portrait)
        n = len(enrolled)
        result[name] = figures(vectors[:n], vectors[n : 2 * n], vectors[2 * n :])
    print(f"\nLFW sample, threshold {FACE_THRESHOLDS['sface'].identify}: {result}")
    return result


def test_portraits_match_at_least_as_well_as_raw_photos(
    outcome: dict[str, dict[str, float]],
) -> None:
    raw, portrait = outcome["raw"], outcome["portrait"]
    # Measured on this sample (SFace, threshold 1.05): raw rank-1 1.000 (30/30), FNIR 0.033,
    # FPIR 0.000; portraits rank-1 1.000, FNIR 0.000, FPIR 0.000. A margin of one probe.
    one_probe = 1 / (ENROLLED.stop - ENROLLED.start) + 1e-9
    one_stranger = 1 / (STRANGERS.stop - STRANGERS.start) + 1e-9
    assert raw["rank1"] >= 0.93
    assert portrait["rank1"] >= raw["rank1"] - one_probe
    assert portrait["fnir"] <= raw["fnir"] + one_probe
    assert portrait["fpir"] <= raw["fpir"] + one_stranger


def test_the_raw_figures_are_those_of_the_matcher(outcome: dict[str, dict[str, float]]) -> None:
    # The raw side is the ordinary matcher: the same figures as tests/test_face_accuracy.py's
    # larger sample within sampling noise.
    raw = outcome["raw"]
    assert raw["rank1"] >= 0.96 and raw["fnir"] <= 0.15
    assert raw["fpir"] <= 0.10
