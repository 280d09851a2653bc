"""Capture with quality: frames until one passes, the best one kept, nothing else; and the
``station camera capture`` command a technician runs.

Bad frames are made from real photos (a dark copy, a blurred copy, a two-person photo); videos
are MJPG files played through the real OpenCV backend.
"""

from __future__ import annotations

import gc
import json
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter

from drivers import DeviceNotFoundError
from drivers.camera import Camera, CameraInfo, Frame, camera_for_url
from matcher.face import FaceEncoder
from matcher.face.quality import FaceQualityChecker
from matcher.imageio import read_rgb
from station.capture import capture_face
from station.cli import main
from tests.conftest import photos_of
from tests.test_camera_opencv import write_clip


@pytest.fixture(scope="module")
def checker(shared_encoder: FaceEncoder) -> FaceQualityChecker:
    return FaceQualityChecker(encoder=shared_encoder)


@pytest.fixture(scope="module")
def good_photo(lfw: Path) -> Path:
    # Frontal, eyes open, sharp, well lit, alone in the frame: accepted by the default thresholds.
    return lfw / "Anders_Fogh_Rasmussen" / "Anders_Fogh_Rasmussen_0002.jpg"


@pytest.fixture(scope="module")
def bad_frames(good_photo: Path, group_photo: Path) -> dict[str, np.ndarray]:
    pixels = read_rgb(good_photo)
    return {
        "dark": (pixels * 0.3).astype(np.uint8),
        "blurred": np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(2.5))),
        "group": read_rgb(group_photo),
    }


def folder_of(tmp_path: Path, frames: list[np.ndarray]) -> Path:
    """A folder the simulated camera serves in this order."""
    folder = tmp_path / "scene"
    folder.mkdir()
    for index, pixels in enumerate(frames):
        Image.fromarray(pixels).save(folder / f"{index:02d}.png")
    return folder


def test_frames_are_taken_until_one_passes(
    tmp_path: Path, checker: FaceQualityChecker, good_photo: Path, bad_frames: dict
) -> None:
    frames = [bad_frames["group"], bad_frames["dark"], bad_frames["blurred"], read_rgb(good_photo)]
    camera = camera_for_url(f"sim://?dir={folder_of(tmp_path, frames)}&loop=false")
    result = capture_face(camera, checker, timeout=30)
    assert result.accepted and result.report.reasons == ()
    assert result.frames_seen == 4
    assert result.frame.source.endswith("03.png")
    assert not camera.is_open  # released right after the capture
    assert result.portrait is not None and result.portrait.shape == (480, 360, 3)
    assert result.to_json()["measures"]["faces"] == 1


def test_when_nothing_passes_the_best_frame_and_its_reasons_come_back(
    tmp_path: Path, checker: FaceQualityChecker, bad_frames: dict
) -> None:
    frames = [bad_frames["dark"], bad_frames["group"], bad_frames["blurred"]]
    camera = camera_for_url(f"sim://?dir={folder_of(tmp_path, frames)}&loop=false")
    result = capture_face(camera, checker, timeout=30)
    assert not result.accepted
    assert result.frames_seen == 3  # the camera ran out of frames
    # Each has one reason; the best is the first of the equals with the largest face.
    assert len(result.report.reasons) == 1
    messages = {
        "dark": "too dark: add light in front of the person",
        "group": "only one person in front of the camera, please",
        "blurred": "blurred: hold still, and check the camera's focus",
    }
    assert result.report.reasons[0].message in messages.values()
    assert result.to_json()["reasons"] == [result.report.reasons[0].message]


def test_a_two_person_frame_is_refused_with_the_right_reason(
    tmp_path: Path, checker: FaceQualityChecker, bad_frames: dict
) -> None:
    camera = camera_for_url(f"sim://?dir={folder_of(tmp_path, [bad_frames['group']])}")
    result = capture_face(camera, checker, timeout=30, max_frames=2)
    assert result.frames_seen == 2
    assert result.report.reason_codes[0] == "multiple_faces"  # first, whatever else is wrong
    assert result.report.measures.faces == 3  # two men and a child (see test_face_encoder.py)


class SlowDarkCamera(Camera):
    """Delivers a dark frame every 50 ms and keeps a weak reference to each one it made."""

    backend = "test"

    def __init__(self, pixels: np.ndarray) -> None:
        super().__init__("test://slow-dark")
        self.pixels = pixels
        self.made: list[weakref.ref[Frame]] = []

    def info(self) -> CameraInfo:
        return CameraInfo(self.backend, self.url, "test camera")

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _grab(self, timeout: float) -> Frame:
        time.sleep(0.05)
        frame = Frame(self.pixels.copy(), time.time(), self.url, {"n": len(self.made)})
        self.made.append(weakref.ref(frame))
        return frame


def test_the_attempt_ends_at_the_timeout_and_keeps_only_the_chosen_frame(
    checker: FaceQualityChecker, bad_frames: dict
) -> None:
    camera = SlowDarkCamera(bad_frames["dark"])
    started = time.monotonic()
    result = capture_face(camera, checker, timeout=0.6)
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 3.0
    assert result.report.reason_codes == ["too_dark"]
    assert result.frames_seen >= 2 and len(camera.made) == result.frames_seen
    gc.collect()
    alive = [ref() for ref in camera.made if ref() is not None]
    assert alive == [result.frame]  # every other frame of the session is gone


def test_a_camera_that_cannot_open_raises(checker: FaceQualityChecker, tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFoundError):
        capture_face(camera_for_url(f"sim://?dir={tmp_path / 'none'}"), checker, timeout=5)


def test_a_video_through_the_opencv_backend_gives_the_first_good_frame(
    tmp_path: Path, checker: FaceQualityChecker, good_photo: Path, bad_frames: dict
) -> None:
    good = read_rgb(good_photo)
    clip = write_clip(tmp_path / "arrival.avi", [bad_frames["dark"], bad_frames["blurred"], good])
    camera = camera_for_url(f"opencv://{clip}")
    result = capture_face(camera, checker, timeout=30)
    assert result.accepted
    assert result.frames_seen == 7  # 3 dark, 3 blurred, then the first good frame
    assert result.frame.metadata["frame_index"] == 6
    assert np.abs(result.frame.pixels.astype(int) - good.astype(int)).mean() < 4
    assert not camera.is_open


# --- station camera capture ---------------------------------------------------------------------


def only(tmp_path: Path, photo: Path) -> str:
    """A simulated camera URL showing just this photo."""
    folder = tmp_path / f"only-{photo.stem}"
    folder.mkdir()
    (folder / photo.name).symlink_to(photo)
    return f"sim://?dir={folder}"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["camera", *args])
    return result.exit_code, result.output


def test_camera_capture_saves_the_portrait_and_prints_every_measure(
    tmp_path: Path, lfw_people: list[Path], good_photo: Path
) -> None:
    out = tmp_path / "face.jpg"
    whole = tmp_path / "frame.jpg"
    url = only(tmp_path, good_photo)
    code, output = run("capture", "--url", url, "--out", str(out), "--frame", str(whole), "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["accepted"] is True and report["reasons"] == []
    assert set(report["measures"]) >= {
        "faces",
        "eye_distance",
        "yaw",
        "roll",
        "eye_openness",
        "sharpness",
        "brightness",
        "highlight",
        "portrait_coverage",
    }
    assert report["thresholds"]["min_eye_distance"] == 30.0
    with Image.open(out) as portrait:
        assert portrait.size == (360, 480) and portrait.format == "JPEG"
    with Image.open(whole) as frame:
        assert frame.size == (250, 250)


def test_camera_capture_refused_exits_3_with_the_reasons(tmp_path: Path, group_photo: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "group.jpg").symlink_to(group_photo)
    code, output = run(
        "capture",
        "--url",
        f"sim://?dir={folder}",
        "--out",
        str(tmp_path / "x.jpg"),
        "--max-frames",
        "1",
    )
    assert code == 3, output
    assert "REFUSED after 1 frames" in output
    assert "only one person in front of the camera, please" in output


def test_camera_capture_thresholds_can_be_changed_and_are_checked(
    tmp_path: Path, good_photo: Path
) -> None:
    url = only(tmp_path, good_photo)
    out = str(tmp_path / "x.jpg")
    code, output = run(
        "capture",
        "--url",
        url,
        "--out",
        out,
        "--max-frames",
        "1",
        "--json",
        "--threshold",
        "min_eye_distance=200",
    )
    assert code == 3
    assert json.loads(output)["reasons"] == ["move closer to the camera"]
    code, output = run("capture", "--url", url, "--out", out, "--threshold", "eyes=2")
    assert code == 1 and "NAME one of min_eye_distance" in output


def test_camera_capture_reports_a_bad_url(tmp_path: Path) -> None:
    code, output = run("capture", "--url", "webcam://0", "--out", str(tmp_path / "x.jpg"), "--json")
    assert code == 1
    assert "valid schemes: opencv://" in json.loads(output)["error"]["message"]


def test_camera_info_describes_a_video(tmp_path: Path, lfw_people: list[Path]) -> None:
    clip = write_clip(tmp_path / "c.avi", [read_rgb(photos_of(lfw_people[0])[0])])
    code, output = run("info", "--url", f"opencv://{clip}", "--json")
    assert code == 0, output
    assert json.loads(output)["width"] == 250


def test_eval_quality_reports_rates_and_distributions(datasets: Path) -> None:
    folder = datasets / "faces" / "face_recognition_examples" / "examples" / "knn_examples" / "test"
    result = CliRunner().invoke(main, ["eval", "quality", str(folder), "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    survey = json.loads(result.output)
    # 5 photos: two with two people (one of them also turned), one turned, two accepted.
    assert survey["images"] == 5 and survey["accepted"] == 2
    assert survey["failure_to_acquire_rate"] == pytest.approx(0.6)
    assert survey["reasons"]["multiple_faces"] == 2
    assert survey["distributions"]["eye_distance"]["n"] == 5
