"""The calibration file: round trip, merging modalities, every malformed file refused with a
clear error, and the warning when the gallery outgrows its 1:N calibration."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calibration.calibration_file import (
    FORMAT_VERSION,
    check_gallery_size,
    load_calibration,
    parse_calibration,
    update_calibration,
)
from calibration.defaults import CalibrationError
from calibration.error_rates import ScoreSet
from calibration.face_pipeline import distance_matrix
from calibration.identification import first_sample_of_each, searches_from_matrix
from calibration.runs import verification_scores
from calibration.synthetic import population
from calibration.thresholds import calibrate_identification, calibrate_verification


@pytest.fixture(scope="module")
def face_section() -> dict[str, Any]:
    """A face section as `station calibrate face` writes it, from synthetic templates."""
    templates, ids = population(80, 4, seed=2)
    matrix = distance_matrix(templates)
    genuine, g_ids, impostor, i_ids = verification_scores(matrix, ids, "distance")
    scores = ScoreSet(genuine, impostor, "distance", g_ids, i_ids)
    gallery = first_sample_of_each(ids, np.ones(len(ids), bool))
    searches = searches_from_matrix(matrix, ids, gallery, "distance")
    return {
        "score": "distance",
        "verify": calibrate_verification(scores, 0.01, replicates=30).to_json(),
        "identify": calibrate_identification(searches, 0.05, replicates=30).to_json(),
        "dataset": {"subjects": 80},
    }


def fingerprint_section() -> dict[str, Any]:
    point = {"value": 0.001, "ci": [0.0, 0.003]}
    return {
        "score": "similarity",
        "verify": {
            "threshold": 0.03,
            "target": {"metric": "fmr", "value": 0.001},
            "measured": {"fmr": point, "fnmr": {"value": 0.01, "ci": [0.0, 0.02]}},
        },
        "identify": None,
        "quality": {"min_quality": 40},
    }


def test_a_written_file_loads_back_with_its_thresholds(
    tmp_path: Path, face_section: dict[str, Any]
) -> None:
    path = tmp_path / "calibration.json"
    written = update_calibration(path, modality="face", section=face_section)
    loaded = load_calibration(path)
    assert loaded.version == FORMAT_VERSION and loaded.path == path
    assert loaded.face_verify_threshold == face_section["verify"]["threshold"]
    assert loaded.face_identify_threshold == face_section["identify"]["threshold"]
    assert loaded.identify_gallery_size == 80
    assert loaded.fingerprint_verify_threshold is None and loaded.fused_verify_threshold is None
    assert loaded.modalities["face"].verify is not None
    assert loaded.modalities["face"].verify.measured["fmr"].value <= 0.01
    assert written.document == loaded.document
    document = json.loads(path.read_text())
    assert document["modalities"]["fused"] is None  # the place of the fused score
    assert document["format"] == "biometric-station-calibration"


def test_each_modality_keeps_the_others(tmp_path: Path, face_section: dict[str, Any]) -> None:
    path = tmp_path / "calibration.json"
    update_calibration(path, modality="face", section=face_section)
    update_calibration(path, modality="fingerprint", section=fingerprint_section())
    update_calibration(
        path,
        device="camera",
        section={
            "matrix": [[800, 0, 320], [0, 800, 240], [0, 0, 1]],
            "distortion": [0, 0, 0, 0, 0],
            "image_size": [640, 480],
            "reprojection_error": 0.2,
        },
    )
    loaded = load_calibration(path)
    assert loaded.face_verify_threshold == face_section["verify"]["threshold"]
    assert loaded.fingerprint_verify_threshold == 0.03
    assert loaded.fingerprint_min_quality == 40
    assert loaded.fingerprint_identify_threshold is None
    assert loaded.camera is not None and loaded.camera.image_size == (640, 480)


def test_a_fused_section_is_read_like_the_others(face_section: dict[str, Any]) -> None:
    fused = copy.deepcopy(fingerprint_section())
    fused["verify"]["threshold"] = 2.5  # fused scores have no fixed range
    document = {
        "format": "biometric-station-calibration",
        "version": 1,
        "created": "2026-01-01T00:00:00Z",
        "modalities": {"face": face_section, "fused": fused},
    }
    assert parse_calibration(document).fused_verify_threshold == 2.5


def _valid(face_section: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "biometric-station-calibration",
        "version": 1,
        "created": "2026-01-01T00:00:00Z",
        "modalities": {"face": copy.deepcopy(face_section), "fused": None},
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = document
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()

MALFORMED = [
    ("format", "format", "other", "is this a calibration file"),
    ("newer version", "version", 2, "format version 2, this station reads up to 1: upgrade"),
    ("version as text", "version", "1", "version must be a whole number"),
    ("no created", "created", _DELETE, "created is missing"),
    ("unknown modality", "modalities.iris", {}, "unknown modality iris; valid: face"),
    ("wrong polarity", "modalities.face.score", "similarity", "must be 'distance' for face"),
    ("threshold as text", "modalities.face.verify.threshold", "0.5", "must be a number"),
    ("threshold NaN", "modalities.face.verify.threshold", float("nan"), "finite number"),
    ("threshold out of range", "modalities.face.verify.threshold", 7.0, "must lie from 0 to 4"),
    ("no threshold", "modalities.face.verify.threshold", _DELETE, "verify.threshold is missing"),
    ("wrong metric", "modalities.face.verify.target.metric", "fpir", "must be 'fmr'"),
    ("rate above 1", "modalities.face.verify.measured.fmr.value", 1.5, "must lie from 0 to 1"),
    (
        "value outside its interval",
        "modalities.face.verify.measured.fmr.ci",
        [0.5, 0.6],
        "must contain the value",
    ),
    ("no measured rate", "modalities.face.verify.measured", {}, "measured.fmr is missing"),
    ("gallery of 0", "modalities.face.identify.gallery_size", 0, "gallery_size must be at least 1"),
    (
        "unknown method",
        "modalities.face.identify.method",
        "guessed",
        "'measured' or 'extrapolated'",
    ),
    ("empty section", "modalities.face", {"score": "distance"}, "neither a verify nor an identify"),
    ("section not an object", "modalities.face", [1], "must be an object"),
    (
        "camera matrix",
        "devices",
        {
            "camera": {
                "matrix": [[1, 2]],
                "distortion": [0] * 5,
                "image_size": [1, 1],
                "reprojection_error": 0,
            }
        },
        "3 rows of 3 numbers",
    ),
    ("unknown device", "devices", {"lidar": {}}, "unknown device lidar"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_file_is_refused_saying_where_and_what_to_do(
    tmp_path: Path, face_section: dict[str, Any], path: str, value: Any, message: str
) -> None:
    document = _valid(face_section)
    _set(path, value)(document)
    file = tmp_path / "calibration.json"
    file.write_text(json.dumps(document))
    with pytest.raises(CalibrationError) as error:
        load_calibration(file)
    text = str(error.value)
    assert message in text
    assert str(file) in text
    assert "station calibrate" in text or "upgrade" in text


def test_a_missing_or_unreadable_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found: run `station calibrate"):
        load_calibration(tmp_path / "calibration.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": ')
    with pytest.raises(CalibrationError, match="not valid JSON"):
        load_calibration(broken)


def test_an_invalid_file_is_not_overwritten_by_an_update(
    tmp_path: Path, face_section: dict[str, Any]
) -> None:
    path = tmp_path / "calibration.json"
    path.write_text("[]")
    with pytest.raises(CalibrationError, match="must be an object"):
        update_calibration(path, modality="face", section=face_section)
    assert path.read_text() == "[]"


def test_the_station_is_warned_when_its_gallery_outgrows_the_calibration(
    face_section: dict[str, Any],
) -> None:
    calibration = parse_calibration(_valid(face_section))
    assert check_gallery_size(calibration, 80) is None
    assert check_gallery_size(calibration, 160) is None  # within twice the size
    message = check_gallery_size(calibration, 161)
    assert message is not None
    assert "161 people" in message and "calibrated for 80" in message
    assert "station calibrate face DIR --gallery-size 161" in message
    assert check_gallery_size(calibration, 500, factor=10) is None
    assert check_gallery_size(calibration, 10_000, modality="fingerprint") is None
