"""Face capture quality on real photos: measured rates, reasons, and the token portrait.

Rates are measured on bounded samples so the suite stays fast: 200 LFW dev photos evenly spread
over the sorted list, all 400 ORL photos, all 18 face_recognition example photos. The figures in
the comments were measured with the default thresholds; the assertions allow a margin of a few
photos, so a change in the detector, the landmarks or a measure shows up here. The full-dataset
figures come from ``station eval quality DIR`` (see CHANGELOG.md). Run with ``-s`` to see the
measured tables.

Some checks rest on photos labelled by looking at them (head turned, eyes closed); the others
build their bad frames from good ones (darkened, over-exposed, blurred, shrunk, rotated, cut).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from calibration.capture_quality import (
    PhotoQuality,
    QualitySurvey,
    assess_photos,
    list_images,
    spread_sample,
    summarize,
)
from matcher.face import FaceEncoder
from matcher.face.dlib_encoder import eye_aspect_ratio
from matcher.face.portrait import PortraitGeometry, eye_centres, portrait_coverage
from matcher.face.quality import (
    FaceQualityChecker,
    QualityThresholds,
    laplacian_variance,
)
from matcher.imageio import read_rgb

LFW_SAMPLE = 200


@pytest.fixture(scope="module")
def checker(shared_encoder: FaceEncoder) -> FaceQualityChecker:
    return FaceQualityChecker(encoder=shared_encoder)


def report_table(name: str, survey: QualitySurvey) -> None:
    print(
        f"\n{name}: {survey.images} photos, failure to acquire {survey.failure_to_acquire_rate:.3f}"
        f" (no face {survey.no_face_rate:.3f}); refused for {survey.reasons}"
    )
    for measure, spread in survey.distributions.items():
        print(
            f"  {measure:<18} p5 {spread['p5']:>9.3f}  median {spread['p50']:>9.3f}"
            f"  p95 {spread['p95']:>9.3f}"
        )


@pytest.fixture(scope="module")
def lfw_results(lfw: Path, checker: FaceQualityChecker) -> list[PhotoQuality]:
    return assess_photos(spread_sample(list_images(lfw), LFW_SAMPLE), checker=checker)


@pytest.fixture(scope="module")
def orl_results(datasets: Path, checker: FaceQualityChecker) -> list[PhotoQuality]:
    return assess_photos(list_images(datasets / "faces" / "orl"), checker=checker)


@pytest.fixture(scope="module")
def examples(datasets: Path) -> Path:
    return datasets / "faces" / "face_recognition_examples"


@pytest.fixture(scope="module")
def example_results(examples: Path, checker: FaceQualityChecker) -> dict[str, PhotoQuality]:
    results = assess_photos(list_images(examples), checker=checker)
    return {Path(r.path).relative_to(examples).as_posix(): r for r in results}


def rate(results: list[PhotoQuality], code: str) -> float:
    return sum(code in r.reasons for r in results) / len(results)


# --- measured rates and distributions ------------------------------------------------------------


def test_lfw_failure_to_acquire_rate_and_reasons(lfw_results: list[PhotoQuality]) -> None:
    survey = summarize(lfw_results, QualityThresholds())
    report_table("LFW dev, 200 photos", survey)
    # Measured on the 200 with SFace's detector (YuNet): 127 accepted (FTA 0.365). Refused: head
    # turned 50, several people 18, cut by the frame 5, eyes closed 4, tilted 3, blurred 2; no face
    # 0. LFW is press photos, not a capture station: most refusals are turned heads, and YuNet
    # sees the neighbours cut by the frame's edge that dlib's HOG detector missed (it found 5).
    assert 0.32 <= survey.failure_to_acquire_rate <= 0.40
    assert 0.21 <= rate(lfw_results, "not_frontal") <= 0.29
    assert rate(lfw_results, "multiple_faces") <= 0.11
    assert rate(lfw_results, "eyes_closed") <= 0.05
    assert rate(lfw_results, "blurred") <= 0.03
    assert rate(lfw_results, "no_face") <= 0.02
    spread = survey.distributions
    # LFW's deep-funnelled 250x250 portraits: eyes about 41 px apart, faces fairly level.
    assert 38 <= spread["eye_distance"]["p50"] <= 43
    assert abs(spread["yaw"]["p50"]) <= 3 and abs(spread["roll"]["p50"]) <= 3
    assert 0.25 <= spread["eye_openness"]["p50"] <= 0.32
    assert 100 <= spread["sharpness"]["p50"] <= 200
    assert 110 <= spread["brightness"]["p50"] <= 145


def test_orl_photos_are_all_too_tight_for_a_portrait(orl_results: list[PhotoQuality]) -> None:
    survey = summarize(orl_results, QualityThresholds())
    report_table("ORL, 400 photos, default thresholds", survey)
    # ORL's 92x112 frames hold the face from brow to chin: at eyes 33 px apart a token portrait
    # needs 133x177 px, so every frame is refused: 377 as "step back", 23 whose eyes are also
    # under 30 px apart as "the picture is too small" (no position works); a face is found in
    # every one (dlib's HOG detector missed 6).
    assert survey.failure_to_acquire_rate == 1.0
    assert 0.92 <= rate(orl_results, "too_close") <= 0.96
    assert 0.04 <= rate(orl_results, "low_resolution") <= 0.08
    assert rate(orl_results, "too_small") == 0.0  # never "move closer" and "step back" at once
    assert rate(orl_results, "no_face") <= 0.03
    assert 31 <= survey.distributions["eye_distance"]["p50"] <= 36
    assert survey.distributions["portrait_fit"]["p95"] < 1.0


def test_orl_face_checks_alone(
    orl_results: list[PhotoQuality], checker: FaceQualityChecker
) -> None:
    # The same measures judged without the framing limits: how the face checks do on ORL's
    # deliberate pose variation.
    face_only = FaceQualityChecker(
        dataclasses.replace(QualityThresholds(), min_portrait_coverage=0.0, min_eye_distance=0.0),
        encoder=checker.encoder,
    )
    rejudged = [
        PhotoQuality(r.path, tuple(x.code for x in face_only.reasons(r.measures)), r.measures)
        for r in orl_results
        if r.measures is not None
    ]
    survey = summarize(rejudged, face_only.thresholds)
    report_table("ORL, 400 photos, face checks only", survey)
    # Measured: FTA 0.18 (turned 54, eyes closed 14, no face 6, tilted 1).
    assert 0.14 <= survey.failure_to_acquire_rate <= 0.22
    assert 0.10 <= rate(rejudged, "not_frontal") <= 0.17
    assert rate(rejudged, "blurred") == 0.0  # ORL is sharp: median 389, LFW's is 146
    assert 250 <= survey.distributions["sharpness"]["p50"] <= 550


def test_example_photos_get_the_right_verdicts(example_results: dict[str, PhotoQuality]) -> None:
    survey = summarize(list(example_results.values()), QualityThresholds())
    report_table("face_recognition examples, 18 photos", survey)
    verdict = {name: set(r.reasons) for name, r in example_results.items()}
    test = "examples/knn_examples/test/"
    # Three people (two men and a child, see test_face_encoder.py); the largest face, tilted.
    assert verdict[test + "obama_and_biden.jpg"] == {"multiple_faces", "tilted"}
    assert "multiple_faces" in verdict[test + "kit_with_rose.jpg"]
    assert verdict[test + "alex_lacamoire1.jpg"] == set()
    assert verdict[test + "johnsnow_test1.jpg"] == set()
    assert "off_centre" in verdict["tests/test_images/obama_partial_face.jpg"]
    # Measured: 8 of 18 accepted (turned 6, cut 3, two people 2, tilted 1).
    assert survey.accepted == 8


def test_the_multi_face_photo_asks_for_one_person(
    examples: Path, checker: FaceQualityChecker
) -> None:
    report = checker.assess(read_rgb(examples / "examples/knn_examples/test/obama_and_biden.jpg"))
    assert not report.accepted
    assert report.measures.faces == 3  # two men and a child (see test_face_encoder.py)
    assert report.reasons[0].message == "only one person in front of the camera, please"


# --- bad frames made from good ones --------------------------------------------------------------


@pytest.fixture(scope="module")
def good(lfw_results: list[PhotoQuality]) -> list[np.ndarray]:
    """Eight LFW photos that passed every check."""
    accepted = [r for r in lfw_results if r.accepted]
    return [read_rgb(Path(r.path)) for r in accepted[:: len(accepted) // 8][:8]]


def codes(checker: FaceQualityChecker, pixels: np.ndarray) -> list[str]:
    return checker.assess(pixels).reason_codes


def test_darkened_photos_are_too_dark_and_only_that(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    for pixels in good:
        dark = (pixels * 0.3).astype(np.uint8)
        assert codes(checker, dark) == ["too_dark"]
    report = checker.assess((good[0] * 0.3).astype(np.uint8))
    assert report.reasons[0].message == "too dark: add light in front of the person"


def test_a_black_frame_is_no_face_and_too_dark(checker: FaceQualityChecker) -> None:
    assert codes(checker, np.full((480, 640, 3), 3, np.uint8)) == ["no_face", "too_dark"]


def test_over_exposed_photos_are_too_bright(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    for pixels in good:
        washed = np.clip(pixels.astype(np.float64) * 2.2 + 40, 0, 255).astype(np.uint8)
        found = codes(checker, washed)
        assert found in (["too_bright"], ["no_face", "too_bright"]), found


def test_blurred_photos_are_blurred_and_only_that(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    for pixels in good:
        soft = np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(2.5)))
        assert codes(checker, soft) == ["blurred"]
    soft = np.asarray(Image.fromarray(good[0]).filter(ImageFilter.GaussianBlur(2.5)))
    assert checker.assess(soft).reasons[0].message.startswith("blurred: hold still")


def test_a_shrunk_photo_asks_to_move_closer(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    # Shrunk to 60% and put in the middle of a grey frame: eyes under 30 px apart.
    for pixels in good[:4]:
        small = np.asarray(Image.fromarray(pixels).resize((150, 150), Image.Resampling.LANCZOS))
        frame = np.full((400, 400, 3), 128, np.uint8)
        frame[125:275, 125:275] = small
        report = checker.assess(frame)
        assert report.measures.eye_distance is not None and report.measures.eye_distance < 30
        assert "too_small" in report.reason_codes
        assert "move closer to the camera" in [r.message for r in report.reasons]


def test_a_face_at_the_edge_is_off_centre(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    # The photo's left 170 columns at the right edge of a larger frame: the face is whole but
    # the portrait around it would be cut.
    for pixels in good[:4]:
        frame = np.full((400, 400, 3), 128, np.uint8)
        frame[75:325, 230:] = pixels[:, :170]
        report = checker.assess(frame)
        assert report.measures.portrait_coverage is not None
        assert report.measures.portrait_coverage < 0.9
        assert "off_centre" in report.reason_codes


def test_a_rotated_photo_is_tilted_by_the_rotation(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    for pixels in good[:4]:
        before = checker.assess(pixels).measures.roll
        # PIL rotates counter-clockwise on screen: the image-right eye goes up, roll decreases.
        turned = np.asarray(Image.fromarray(pixels).rotate(20, Image.Resampling.BICUBIC))
        report = checker.assess(turned)
        assert before is not None and report.measures.roll is not None
        assert report.measures.roll == pytest.approx(before - 20, abs=3)
        assert "tilted" in report.reason_codes


def test_a_mirrored_photo_has_the_opposite_yaw(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    for pixels in good:
        yaw = checker.assess(pixels).measures.yaw
        mirrored = checker.assess(np.ascontiguousarray(pixels[:, ::-1])).measures.yaw
        assert yaw is not None and mirrored is not None
        assert mirrored == pytest.approx(-yaw, abs=3)


# Labelled by looking at them: the head clearly turned (towards the image's left or right).
TURNED = {
    "Adam_Sandler/Adam_Sandler_0002.jpg": -1,
    "Arnold_Schwarzenegger/Arnold_Schwarzenegger_0002.jpg": -1,
    "Bill_Frist/Bill_Frist_0005.jpg": -1,
    "Calista_Flockhart/Calista_Flockhart_0002.jpg": 1,
    "Donald_Rumsfeld/Donald_Rumsfeld_0117.jpg": 1,
    "George_Robertson/George_Robertson_0022.jpg": 1,
}
# Labelled by looking at them: eyes closed.
EYES_CLOSED = [
    "Art_Howe/Art_Howe_0002.jpg",
    "Jean_Chretien/Jean_Chretien_0022.jpg",
    "John_Paul_II/John_Paul_II_0002.jpg",
    "Kate_Hudson/Kate_Hudson_0003.jpg",
    "Pete_Sampras/Pete_Sampras_0009.jpg",
]


def test_turned_heads_are_asked_to_look_at_the_camera(
    lfw: Path, checker: FaceQualityChecker
) -> None:
    for name, side in TURNED.items():
        report = checker.assess(read_rgb(lfw / name))
        assert report.measures.yaw is not None and report.measures.yaw * side > 30, name
        assert "look straight at the camera" in [r.message for r in report.reasons], name


def test_closed_eyes_are_asked_to_open(lfw: Path, checker: FaceQualityChecker) -> None:
    for name in EYES_CLOSED:
        report = checker.assess(read_rgb(lfw / name))
        assert "eyes_closed" in report.reason_codes, name
        assert "keep the eyes open" in [r.message for r in report.reasons]


def test_the_eye_aspect_ratio_of_drawn_eyes() -> None:
    def eye(height: float) -> np.ndarray:
        return np.array([[0, 0], [1, -height], [2, -height], [3, 0], [2, height], [1, height]])

    assert eye_aspect_ratio(eye(0.45)) == pytest.approx(0.3)
    assert eye_aspect_ratio(eye(0.0)) == 0.0


def test_sharpness_does_not_depend_on_the_light_level() -> None:
    rng = np.random.default_rng(0)
    texture = rng.uniform(60, 180, (80, 80))
    base = laplacian_variance(texture * (128 / texture.mean()))
    dim = texture * 0.4
    assert laplacian_variance(dim * (128 / dim.mean())) == pytest.approx(base)


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="min_eye_distance"):
        QualityThresholds(min_eye_distance=-1)
    with pytest.raises(ValueError, match="max_yaw"):
        QualityThresholds(max_yaw=math.nan)
    assert QualityThresholds().to_json()["min_eye_distance"] == 30.0


# --- the token portrait -------------------------------------------------------------------------


def test_the_token_portrait_has_the_fixed_geometry(
    good: list[np.ndarray], checker: FaceQualityChecker
) -> None:
    geometry = PortraitGeometry()
    assert (geometry.width, geometry.height, geometry.eye_distance) == (360, 480, 90)
    (lx, ly), (rx, _) = geometry.eyes
    for pixels in good[:4]:
        # Even from a tilted, shifted frame the portrait's eyes land level at the fixed place.
        tilted = np.asarray(Image.fromarray(pixels).rotate(12, Image.Resampling.BICUBIC))
        frame = np.full((500, 600, 3), 90, np.uint8)
        frame[200:450, 300:550] = tilted
        report = checker.assess(frame)
        portrait = checker.portrait(frame, report)
        assert portrait.shape == (480, 360, 3)
        again = checker.assess(portrait)  # measured afresh on the portrait itself
        assert again.landmarks is not None
        (plx, ply), (prx, pry) = eye_centres(again.landmarks)
        assert abs(again.measures.roll or 0) < 2.5
        assert math.dist((plx, ply), (prx, pry)) == pytest.approx(90, abs=5)
        assert ((plx + prx) / 2, (ply + pry) / 2) == pytest.approx(((lx + rx) / 2, ly), abs=5)


def test_portrait_coverage_counts_what_falls_outside_the_frame() -> None:
    geometry = PortraitGeometry(width=120)  # 120x160, eyes 30 apart at y 72
    eyes = ((45.0, 72.0), (75.0, 72.0))
    assert portrait_coverage((160, 120, 3), eyes, geometry) == 1.0
    # Shifted half a portrait to the right: the right half falls outside.
    shifted = ((105.0, 72.0), (135.0, 72.0))
    assert portrait_coverage((160, 120, 3), shifted, geometry) == pytest.approx(0.5, abs=0.03)


def test_without_the_68_point_model_pose_comes_from_five_points_and_eyes_are_not_judged(
    lfw: Path,
) -> None:
    from matcher.face import face_encoder

    five = FaceQualityChecker(encoder=face_encoder(refine_landmarks=False))
    for name in EYES_CLOSED:
        report = five.assess(read_rgb(lfw / name))
        assert report.measures.eye_openness is None and "eyes_closed" not in report.reason_codes
    # The rough yaw still points the right way on the clearly turned heads.
    signs = [five.assess(read_rgb(lfw / name)).measures.yaw or 0.0 for name in TURNED]
    agree = sum(yaw * side > 0 for yaw, side in zip(signs, TURNED.values(), strict=True))
    assert agree >= len(TURNED) - 1, signs
