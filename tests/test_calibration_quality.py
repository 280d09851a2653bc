"""Failure-to-enroll and failure-to-acquire rates, the fingerprint quality threshold for a target
FTE, and the camera settings check on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from calibration.calibration_file import load_calibration
from calibration.capture_quality import check_capture_settings
from calibration.defaults import CalibrationError
from calibration.enrollment import choose_min_quality, enrollment_rates, first_attempts, subject_ids
from matcher.face.quality import FaceMeasures, FaceQualityChecker
from station.cli import main
from tests.conftest import photos_of


def test_fta_and_fte_follow_their_definitions() -> None:
    subjects, names = subject_ids(["a", "a", "a", "a", "b", "b", "c"])
    assert names == ["a", "b", "c"]
    # a: refused 3 times, then accepted (a 4th try); b: second try accepted; c: refused
    accepted = np.array([False, False, False, True, False, True, False])
    rates = enrollment_rates(subjects, accepted, attempts=3, replicates=20)
    assert rates.fta.value == pytest.approx(5 / 7)
    assert rates.fte.value == pytest.approx(2 / 3)  # a (within 3 tries) and c fail
    assert enrollment_rates(subjects, accepted, attempts=4, replicates=0).fte.value == 1 / 3
    assert first_attempts(subjects, 2).tolist() == [True, True, False, False, True, True, True]


def test_the_quality_threshold_is_the_strictest_that_keeps_fte_under_the_target() -> None:
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(100), 3)
    qualities = rng.integers(20, 90, 300)
    best = qualities.reshape(100, 3).max(axis=1)
    for target in (0.0, 0.02, 0.10):
        chosen = choose_min_quality(subjects, qualities, target, attempts=3, replicates=20)
        q = chosen.min_quality
        assert (best < q).mean() <= target < (best < q + 1).mean()
        assert chosen.rates.fte.value == (best < q).mean()
        assert chosen.rates.fta.value == pytest.approx((qualities < q).mean())
    with pytest.raises(CalibrationError, match="target FTE"):
        choose_min_quality(subjects, qualities, 1.5)


def measures_of(
    paths: list[Path], checker: FaceQualityChecker, shrink: float = 1.0, dim: float = 1.0
) -> list[FaceMeasures]:
    out = []
    for path in paths:
        with Image.open(path) as image:
            picture = image.convert("RGB")
        if shrink != 1.0:
            picture = picture.resize((round(250 * shrink), round(250 * shrink)))
        pixels = (np.asarray(picture, dtype=np.float64) * dim).clip(0, 255).astype(np.uint8)
        out.append(checker.assess(pixels).measures)
    return out


@pytest.fixture(scope="module")
def frontal_photos(lfw_people: list[Path]) -> list[Path]:
    """Ten LFW photos the station's own check accepts (one per person)."""
    checker = FaceQualityChecker()
    chosen = []
    for person in lfw_people[:40]:
        photo = photos_of(person)[0]
        with Image.open(photo) as image:
            if checker.assess(np.asarray(image.convert("RGB"))).accepted:
                chosen.append(photo)
        if len(chosen) == 10:
            break
    assert len(chosen) == 10
    return chosen


def test_good_captures_pass_and_bad_settings_are_named(frontal_photos: list[Path]) -> None:
    checker = FaceQualityChecker()
    good = check_capture_settings(measures_of(frontal_photos, checker))
    assert good.ok and good.photos == 10
    assert good.figures["eye_distance"]["median"] > 30
    # the same people under a quarter of the light: exposure fails, nothing else is blamed
    dark = check_capture_settings(measures_of(frontal_photos, checker, dim=0.25))
    failing = {c.name for c in dark.checks if not c.ok}
    assert "exposure" in failing and "face_size" not in failing
    exposure = next(c for c in dark.checks if c.name == "exposure")
    assert "light" in exposure.advice and "brightness median" in exposure.advice
    # a camera at too low a resolution: faces too small
    small = check_capture_settings(measures_of(frontal_photos, checker, shrink=0.55))
    size = next(c for c in small.checks if c.name == "face_size")
    assert not size.ok and "resolution" in size.advice and "px" in size.advice
    with pytest.raises(CalibrationError):
        check_capture_settings([])


def test_the_capture_command_records_the_check_and_fails_on_bad_settings(
    frontal_photos: list[Path], tmp_path: Path
) -> None:
    good, dark = tmp_path / "good", tmp_path / "dark"
    good.mkdir()
    dark.mkdir()
    for photo in frontal_photos[:6]:
        (good / photo.name).symlink_to(photo)
        with Image.open(photo) as image:
            pixels = (np.asarray(image.convert("RGB"), dtype=np.float64) * 0.25).astype(np.uint8)
        Image.fromarray(pixels).save(dark / f"{photo.stem}.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["calibrate", "capture", str(good), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "exposure" in result.output and "CHANGE" not in result.output
    document = load_calibration(out / "calibration.json").document
    assert document["devices"]["capture"]["ok"] is True
    result = CliRunner().invoke(main, ["calibrate", "capture", str(dark), "--out", str(out)])
    assert result.exit_code == 3
    assert "CHANGE: change the light" in result.output
    assert load_calibration(out / "calibration.json").document["devices"]["capture"]["ok"] is False
