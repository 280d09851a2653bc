"""The active liveness challenge: a person who turns as asked passes; photos, wrong actions and a
face swapped mid-way fail, each with words an operator can act on.

Genuine clips are real ORL photos of one person ordered as a head turn (frontal, turned, back),
played at 10 frames a second; attacks are made from one photo by drivers.camera.clips.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from drivers.camera.clips import framed, moved_photo, still_photo, tilted_photo
from drivers.camera.sim import SimulatedCamera, load_rgb
from matcher.face import FaceEncoder
from matcher.face.liveness import (
    ACTIONS,
    TURNS,
    Action,
    Challenge,
    LivenessChecker,
    LivenessThresholds,
    LivenessVerdict,
)
from matcher.face.quality import FaceQualityChecker, QualityThresholds
from matcher.face.sface import SFaceRecognizer, YuNetDetector
from station.api import create_app
from station.config import LIVENESS_ACTIONS, ConfigError
from station.core import Station
from station.liveness import LivenessFailedError, capture_live_face, parse_actions
from station.records import PersonFields
from station.workflows import FaceInput, enroll
from tests.conftest import make_settings
from tests.test_console import draft_id_of, signed_in

Pixels = NDArray[np.uint8]
# ORL s4 looks at the camera in photo 7 and turns to their left in 5 (a little) and 10 (more);
# s40 looks at the camera in 5 and turns to their right in 4 and 7.
S4_TURNS_LEFT = (7, 7, 7, 5, 10, 10, 5, 7, 7)
S40_TURNS_RIGHT = (5, 5, 5, 4, 7, 7, 4, 5, 5)


@pytest.fixture(scope="module")
def orl(datasets: Path) -> Path:
    return datasets / "faces" / "orl"


@pytest.fixture(scope="module")
def networks() -> tuple[YuNetDetector, SFaceRecognizer]:
    return YuNetDetector(), SFaceRecognizer()


def clip(orl: Path, person: int, photos: tuple[int, ...]) -> list[Pixels]:
    return [load_rgb(orl / f"s{person}" / f"{n}.pgm") for n in photos]


def check(
    frames: list[Pixels],
    action: Action,
    networks: tuple[YuNetDetector, SFaceRecognizer],
    fps: float = 10.0,
) -> LivenessVerdict:
    checker = LivenessChecker(Challenge(action), LivenessThresholds(), *networks)
    return checker.check((frame, index / fps) for index, frame in enumerate(frames))


def test_a_genuine_orl_head_turn_to_the_left_passes(orl: Path, networks) -> None:
    verdict = check(clip(orl, 4, S4_TURNS_LEFT), "turn_left", networks)
    assert verdict.passed, verdict.reason
    assert verdict.reason == "the person moved as asked: a live face"
    assert verdict.peak_yaw > LivenessThresholds().turn_yaw
    assert verdict.identity_distance is not None and verdict.identity_distance < 1.13
    measures = verdict.to_json()
    assert measures["yaw_track"] and measures["openness_track"]


def test_a_genuine_orl_head_turn_to_the_right_passes(orl: Path, networks) -> None:
    verdict = check(clip(orl, 40, S40_TURNS_RIGHT), "turn_right", networks)
    assert verdict.passed, verdict.reason
    assert verdict.peak_yaw < -LivenessThresholds().turn_yaw


def test_a_still_photo_fails_as_no_movement(orl: Path, networks) -> None:
    photo = load_rgb(orl / "s4" / "7.pgm")
    verdict = check(still_photo(photo, frames=12, height=240), "turn_left", networks)
    assert not verdict.passed
    assert verdict.code == "no_movement"
    assert "no movement: a photo cannot pass" in verdict.reason


def test_a_photo_moved_rotated_and_scaled_in_plane_fails(lfw_people: list[Path], networks) -> None:
    photo = load_rgb(sorted(lfw_people[0].iterdir())[0])
    verdict = check(moved_photo(photo, frames=16, seed=3), "turn_right", networks)
    assert not verdict.passed
    assert verdict.code == "moved_not_turned"
    assert "a photo moved in front of the camera cannot pass" in verdict.reason


def test_a_photo_tilted_in_perspective_to_fake_a_turn_fails(orl: Path, networks) -> None:
    photo = load_rgb(orl / "s4" / "7.pgm")
    for degrees in (30.0, -50.0):
        frames = tilted_photo(photo, frames=14, height=240, degrees=degrees)
        for action in TURNS:
            verdict = check(frames, action, networks)
            assert not verdict.passed, (degrees, action, verdict.to_json()["yaw_track"])


def test_the_wrong_action_fails_and_says_which_way_to_turn(orl: Path, networks) -> None:
    verdict = check(clip(orl, 4, S4_TURNS_LEFT), "turn_right", networks)
    assert verdict.code == "wrong_direction"
    assert verdict.reason.startswith("the head turned to the left, not to the right")


def test_a_turn_clip_does_not_pass_a_blink_challenge(orl: Path, networks) -> None:
    verdict = check(clip(orl, 4, S4_TURNS_LEFT), "blink", networks)
    assert not verdict.passed


def test_a_face_swapped_mid_challenge_fails(orl: Path, networks) -> None:
    frames = clip(orl, 4, (7, 7, 7)) + clip(orl, 39, (2, 7, 7)) + clip(orl, 4, (7, 7))
    verdict = check(frames, "turn_left", networks)
    assert verdict.code == "face_changed"
    assert "the face changed during the check" in verdict.reason
    assert verdict.to_json()["max_identity_distance"] > LivenessThresholds().same_person_distance  # type: ignore[operator]


def test_no_frames_and_frames_without_a_face_give_a_clear_verdict(networks) -> None:
    nothing = LivenessChecker(Challenge("turn_left"), None, *networks).finish()
    assert nothing.code == "no_frames"
    assert "check the camera" in nothing.reason
    wall = np.full((480, 640, 3), 180, dtype=np.uint8)
    verdict = check([wall] * 5, "turn_left", networks)
    assert verdict.code == "no_face"
    assert verdict.reason.startswith("no face in front of the camera")


def test_the_face_leaving_the_camera_fails(orl: Path, networks) -> None:
    wall = np.full((112, 92, 3), 60, dtype=np.uint8)
    frames = clip(orl, 4, (7, 7)) + [wall] * 3 + clip(orl, 4, (10, 10, 7))
    assert check(frames, "turn_left", networks).code == "face_lost"


def test_a_turn_not_finished_within_the_time_window_fails(orl: Path, networks) -> None:
    verdict = check(clip(orl, 4, S4_TURNS_LEFT), "turn_left", networks, fps=0.5)
    assert verdict.code == "no_return"
    assert verdict.seconds <= LivenessThresholds().max_seconds


def test_challenges_are_random_among_the_actions_asked() -> None:
    assert {Challenge.random().action for _ in range(40)} == set(TURNS)
    seeded = [Challenge.random(ACTIONS, random.Random(7)).action for _ in range(3)]
    assert seeded == [Challenge.random(ACTIONS, random.Random(7)).action for _ in range(3)]
    with pytest.raises(ValueError, match="unknown action"):
        Challenge("smile")  # type: ignore[arg-type]
    assert parse_actions("blink, turn_left") == ("turn_left", "blink")
    with pytest.raises(ValueError, match="one or more of"):
        parse_actions("nod")
    assert tuple(LIVENESS_ACTIONS) == ACTIONS


def test_thresholds_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="still_yaw"):
        LivenessThresholds(still_yaw=0.2, turn_yaw=0.1)
    assert LivenessThresholds().to_json()["turn_yaw"] == 0.1


def test_the_simulated_camera_plays_a_clip_through_the_whole_challenge(orl: Path, networks) -> None:
    camera = SimulatedCamera(f"sim://?dir={orl}")
    camera.play([orl / "s4" / f"{n}.pgm" for n in S4_TURNS_LEFT], fps=10)
    small_faces = QualityThresholds(min_eye_distance=20, min_sharpness=5, min_portrait_coverage=0.3)
    result = capture_live_face(
        camera,
        LivenessChecker(Challenge("turn_left"), None, *networks),
        FaceQualityChecker(small_faces),
    )
    assert not camera.is_open
    assert result.verdict.passed, result.verdict.reason
    assert result.frame is not None and result.frame.metadata["clip_frame"] in (0, 1, 2, 7, 8)
    assert result.portrait is not None and result.accepted


def test_a_clip_that_ends_before_the_turn_ends_the_challenge(orl: Path, networks) -> None:
    camera = SimulatedCamera(f"sim://?dir={orl}")
    camera.play(still_photo(load_rgb(orl / "s4" / "7.pgm"), frames=6, height=240))
    result = capture_live_face(
        camera, LivenessChecker(Challenge("turn_right"), None, *networks), FaceQualityChecker()
    )
    assert result.verdict.code == "no_movement"
    assert result.portrait is None and not result.accepted
    assert not camera.is_open


# -- the station: the setting, the workflow, the console ----------------------------------------


@pytest.fixture
def live_station(tmp_path: Path, lfw: Path, shared_encoder: FaceEncoder) -> Iterator[Station]:
    """A station whose face capture runs the challenge, asking always for a turn to the left."""
    settings = make_settings(
        tmp_path / "data", lfw, liveness="challenge", liveness_actions="turn_left"
    )
    with Station(settings, encoder=shared_encoder) as opened:
        yield opened


def sim_camera(station: Station) -> SimulatedCamera:
    camera = station.camera
    assert isinstance(camera, SimulatedCamera)
    return camera


def liveness_rows(station: Station) -> list[dict[str, object]]:
    return [row for row in station.audit.rows() if row["action"] == "liveness"]


def test_settings_choose_the_challenge_and_refuse_unknown_actions(tmp_path: Path) -> None:
    assert make_settings(tmp_path / "d").liveness == "off"
    with pytest.raises(ConfigError, match="off or challenge"):
        make_settings(tmp_path / "d", liveness="passive")
    with pytest.raises(ConfigError, match="turn_left, turn_right, blink"):
        make_settings(tmp_path / "d", liveness_actions="nod")


def test_enrolling_from_the_camera_runs_the_challenge_and_audits_it(
    live_station: Station, orl: Path
) -> None:
    camera = sim_camera(live_station)
    camera.play(still_photo(load_rgb(orl / "s4" / "7.pgm"), frames=8, height=224))
    with pytest.raises(LivenessFailedError, match="no movement: a photo cannot pass") as failed:
        enroll(
            live_station,
            FaceInput(capture=True),
            fields=PersonFields(name="Photo Attack"),
            consent=True,
        )
    assert failed.value.code == "liveness_failed" and live_station.storage.count() == 0
    camera.play(framed(clip(orl, 4, S4_TURNS_LEFT)), fps=10)
    done = enroll(
        live_station, FaceInput(capture=True), fields=PersonFields(name="Aida Live"), consent=True
    )
    assert done.record.id == 1
    rows = liveness_rows(live_station)
    assert [(r["outcome"], r["detail"]["code"]) for r in rows] == [  # type: ignore[index]
        ("failed", "no_movement"),
        ("passed", "passed"),
    ]
    assert rows[1]["detail"]["challenge"] == "turn_left"  # type: ignore[index]


def test_the_console_asks_for_the_turn_and_keeps_the_photo_of_the_face_that_turned(
    live_station: Station, orl: Path
) -> None:
    console = signed_in(create_app(station=live_station), live_station, "operator")
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    sim_camera(live_station).play(framed(clip(orl, 4, S4_TURNS_LEFT)), fps=10)
    assert console.post(f"/desk/{draft}/camera/start").json == {"ok": True}
    first = console.post(f"/desk/{draft}/camera/frame").json
    assert first["hints"] == ["Ask the person to turn their head to their left, then look back"]
    answers = [console.post(f"/desk/{draft}/camera/frame").json for _ in range(len(S4_TURNS_LEFT))]
    assert any(a.get("accepted") for a in answers), answers
    assert not live_station.camera.is_open  # type: ignore[union-attr]
    assert console.get(f"/desk/{draft}/image/face").status_code == 200
    assert liveness_rows(live_station)[-1]["operator"] == "operator1"


def test_the_console_says_a_still_photo_cannot_pass(live_station: Station, orl: Path) -> None:
    console = signed_in(create_app(station=live_station), live_station, "operator")
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    sim_camera(live_station).play(still_photo(load_rgb(orl / "s4" / "7.pgm"), frames=6))
    console.post(f"/desk/{draft}/camera/start")
    answers = [console.post(f"/desk/{draft}/camera/frame").json for _ in range(7)]
    stopped = [a for a in answers if a.get("stopped")]
    assert stopped and stopped[0]["message"].startswith("No movement: a photo cannot pass.")
    assert liveness_rows(live_station)[-1]["outcome"] == "failed"


def test_station_camera_liveness_runs_one_challenge_from_a_folder_of_frames(
    tmp_path: Path, orl: Path
) -> None:
    from click.testing import CliRunner
    from PIL import Image

    from station.cli import main

    for index, frame in enumerate(framed(clip(orl, 4, S4_TURNS_LEFT))):
        Image.fromarray(frame).save(tmp_path / f"{index:02d}.png")
    url = f"sim://?dir={tmp_path}&loop=false"
    passed = CliRunner().invoke(main, ["camera", "liveness", "--url", url, "--action", "turn_left"])
    assert passed.exit_code == 0, passed.output
    assert "PASSED (turn_left): the person moved as asked: a live face" in passed.output
    wrong = CliRunner().invoke(
        main, ["camera", "liveness", "--url", url, "--action", "turn_right", "--json"]
    )
    assert wrong.exit_code == 3, wrong.output
    assert '"code": "wrong_direction"' in wrong.output


def test_a_genuine_blink_passes_and_a_still_photo_does_not(orl: Path, networks) -> None:
    """ORL s8 with eyes open (photo 5), then closed (7), then open again."""
    verdict = check(clip(orl, 8, (5, 5, 5, 7, 7, 5, 5)), "blink", networks)
    assert verdict.passed, verdict.to_json()["openness_track"]
    assert min(verdict.to_json()["openness_track"]) <= LivenessThresholds().blink_closed  # type: ignore[type-var]
    still = check(still_photo(load_rgb(orl / "s8" / "5.pgm"), height=240), "blink", networks)
    assert still.code == "no_movement"
