"""The station takes its thresholds from a calibration file and warns when it outgrows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from calibration import DEFAULT_FINGERPRINT_VERIFY_THRESHOLD, FACE_THRESHOLDS
from calibration.calibration_file import update_calibration
from matcher.face import FaceEncoder
from station.config import ConfigError, load_settings
from station.core import Station
from tests.conftest import enroll_face, make_settings, photos_of


def operating_point(threshold: float, metric: str, gallery: int | None = None) -> dict[str, Any]:
    point: dict[str, Any] = {
        "threshold": threshold,
        "target": {"metric": metric, "value": 0.001},
        "measured": {metric: {"value": 0.001, "ci": [0.0, 0.003]}},
    }
    if gallery is not None:
        point["gallery_size"] = gallery
        point["method"] = "measured"
    return point


def write_calibration(
    path: Path, face_gallery: int = 2, encoder: str | None = "sface", face: tuple = (1.02, 0.97)
) -> Path:
    """A calibration file; ``encoder`` None writes one as before encoders were recorded."""
    section: dict[str, Any] = {
        "score": "distance",
        "verify": operating_point(face[0], "fmr"),
        "identify": operating_point(face[1], "fpir", face_gallery),
    }
    if encoder is not None:
        section["encoder"] = encoder
    update_calibration(path, modality="face", section=section)
    update_calibration(
        path,
        modality="fingerprint",
        section={
            "score": "similarity",
            "verify": operating_point(0.031, "fmr"),
            "identify": None,
            "quality": {"min_quality": 43},
        },
    )
    return path


def test_without_a_calibration_file_the_measured_defaults_apply(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": tmp_path}, environ={})
    assert settings.calibration_file is None
    assert settings.fingerprint_verify_threshold == DEFAULT_FINGERPRINT_VERIFY_THRESHOLD


def test_the_calibration_file_in_the_data_directory_sets_the_thresholds(tmp_path: Path) -> None:
    write_calibration(tmp_path / "calibration.json")
    settings = load_settings(overrides={"data_dir": tmp_path}, environ={})
    assert settings.calibration_file == tmp_path / "calibration.json"
    assert (settings.face_verify_threshold, settings.face_identify_threshold) == (1.02, 0.97)
    assert settings.fingerprint_verify_threshold == 0.031
    assert settings.fingerprint_min_quality == 43


def test_face_thresholds_measured_with_another_encoder_are_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A file from before encoders were recorded was measured with dlib's: its distances mean
    # nothing to SFace's templates, so SFace's defaults apply (the fingerprint part still does).
    write_calibration(tmp_path / "calibration.json", encoder=None, face=(0.52, 0.47))
    settings = load_settings(overrides={"data_dir": tmp_path}, environ={})
    defaults = FACE_THRESHOLDS["sface"]
    assert (settings.face_verify_threshold, settings.face_identify_threshold) == (
        defaults.verify,
        defaults.identify,
    )
    assert settings.fingerprint_verify_threshold == 0.031
    assert "measured with the dlib encoder" in caplog.text
    # ...and a station that chose dlib takes them.
    dlib = load_settings(overrides={"data_dir": tmp_path, "face_encoder": "dlib"}, environ={})
    assert (dlib.face_verify_threshold, dlib.face_identify_threshold) == (0.52, 0.47)


def test_an_explicit_setting_still_beats_the_calibration_file(tmp_path: Path) -> None:
    path = write_calibration(tmp_path / "elsewhere.json")
    settings = load_settings(
        overrides={"data_dir": tmp_path, "face_identify_threshold": 0.4},
        environ={"STATION_CALIBRATION_FILE": str(path)},
    )
    assert settings.calibration_file == path
    assert settings.face_verify_threshold == 1.02  # from the file
    assert settings.face_identify_threshold == 0.4  # the override wins


def test_a_damaged_calibration_file_stops_the_start_with_what_to_do(tmp_path: Path) -> None:
    path = write_calibration(tmp_path / "calibration.json")
    document = json.loads(path.read_text())
    document["modalities"]["face"]["verify"]["threshold"] = "low"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match="calibrate"):
        load_settings(overrides={"data_dir": tmp_path}, environ={})
    path.write_text("{not json")
    with pytest.raises(ConfigError):
        load_settings(overrides={"data_dir": tmp_path}, environ={})


def test_a_gallery_past_twice_its_calibrated_size_is_reported(
    tmp_path: Path,
    lfw_people: list[Path],
    shared_encoder: FaceEncoder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_calibration(data / "calibration.json", face_gallery=2)
    settings = make_settings(data)
    people = lfw_people[:5]
    with Station(settings, encoder=shared_encoder) as station:
        assert station.status()["calibration"]["warning"] is None
        for i, person in enumerate(people):
            enroll_face(station, photos_of(person)[0], f"Person {i}")
        warning = station.status()["calibration"]["warning"]
        assert warning is not None and "calibrated for 2" in warning
    with Station(settings, encoder=shared_encoder):
        pass
    assert any("calibrated for 2" in r.getMessage() for r in caplog.records)
