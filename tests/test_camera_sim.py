"""The simulated camera serves real photos, chosen by URL like any other backend."""

from pathlib import Path

import numpy as np
import pytest

from drivers import DeviceNotFoundError
from drivers.camera import CameraError, camera_for_url, open_camera
from drivers.camera.sim import SimulatedCamera
from tests.conftest import photos_of


def test_sim_url_gives_a_camera_serving_the_folders_photos_in_order(lfw_people: list[Path]) -> None:
    person = lfw_people[0]
    camera = camera_for_url(f"sim://?dir={person}")
    assert isinstance(camera, SimulatedCamera)
    with camera:
        sources = [camera.capture().source for _ in range(len(photos_of(person)) + 1)]
    expected = [str(p) for p in photos_of(person)]
    assert sources == [*expected, expected[0]]  # loops by default


def test_a_frame_is_rgb_uint8(lfw_people: list[Path]) -> None:
    with open_camera(f"sim://?dir={lfw_people[0]}") as camera:
        frame = camera.capture()
    assert frame.pixels.dtype == np.uint8
    assert frame.pixels.shape == (250, 250, 3)


def test_the_camera_is_closed_after_the_with_block_and_keeps_its_place(
    lfw_people: list[Path],
) -> None:
    camera = camera_for_url(f"sim://?dir={lfw_people[0]}")
    with camera:
        first = camera.capture().source
    assert not camera.is_open
    with pytest.raises(CameraError, match="not open"):
        camera.capture()
    with camera:
        assert camera.capture().source != first


def test_present_puts_a_chosen_photo_in_front_of_the_camera_for_one_session(
    lfw_people: list[Path],
) -> None:
    camera = SimulatedCamera(f"sim://?dir={lfw_people[0]}")
    chosen = photos_of(lfw_people[5])[1]
    camera.present(chosen)
    with camera:
        assert camera.capture().source == str(chosen)
        assert camera.capture().source == str(chosen)  # the person stays while it is open
    with camera:
        assert camera.capture().source == str(photos_of(lfw_people[0])[0])


def test_a_person_standing_there_is_seen_in_a_new_photo_at_each_session_and_nobody_is_an_empty_scene(
    lfw_people: list[Path],
) -> None:
    import itertools

    camera = SimulatedCamera(f"sim://?dir={lfw_people[0]}")
    photos = photos_of(lfw_people[3])[:2]
    camera.stand(itertools.cycle(photos))
    seen = []
    for _ in range(3):
        with camera:
            seen.append(camera.capture().source)
            assert camera.capture().source == seen[-1]  # the same photo while it is open
    assert seen == [str(photos[0]), str(photos[1]), str(photos[0])]
    camera.stand(None)
    with camera:
        frame = camera.capture()
    assert frame.source == "empty scene" and (frame.pixels == frame.pixels[0, 0]).all()
    camera.stand(iter([photos[1]]))
    with camera:
        assert camera.capture().source == str(photos[1])
    with camera:  # their photos ran out: they left
        assert camera.capture().source == "empty scene"


def test_without_loop_the_camera_runs_out(lfw_people: list[Path]) -> None:
    person = lfw_people[0]
    with open_camera(f"sim://?dir={person}&loop=false") as camera:
        for _ in photos_of(person):
            camera.capture()
        with pytest.raises(CameraError, match="every photo"):
            camera.capture()


def test_a_missing_folder_is_device_not_found(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFoundError, match="does not exist"):
        open_camera(f"sim://?dir={tmp_path / 'nowhere'}")


def test_an_empty_folder_is_device_not_found(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFoundError, match="no photos"):
        open_camera(f"sim://?dir={tmp_path}")


def test_unknown_scheme_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"valid schemes: opencv://, .*sim://"):
        camera_for_url("webcam://0")


def test_unknown_option_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="valid options: dir, loop, mrz, order, recursive, seed, video"
    ):
        camera_for_url(f"sim://?dir={tmp_path}&fps=30")


def test_a_person_s_card_is_shown_only_when_the_operator_asks_for_it(
    lfw_people: list[Path],
) -> None:
    photos = photos_of(lfw_people[0])
    card = np.full((300, 400, 3), 200, np.uint8)
    camera = SimulatedCamera(f"sim://?dir={lfw_people[0]}")
    camera.stand(iter(photos), document=lambda: card)
    camera.expect("document")
    with camera:
        assert camera.capture().source == "document"
    with camera:  # the request lasted one session: the face again
        assert camera.capture().source == str(photos[0])
    camera.stand(iter(photos[1:]))  # someone without a card shows their face
    camera.expect("document")
    with camera:
        assert camera.capture().source == str(photos[1])
    with pytest.raises(ValueError, match="face, document"):
        camera.expect("hand")


def test_a_document_presented_or_named_by_url_is_a_photo_of_a_printed_card(
    lfw_people: list[Path],
) -> None:
    from urllib.parse import quote

    from drivers.idcard.personalise import DEFAULT_MRZ

    camera = SimulatedCamera(f"sim://?dir={lfw_people[0]}")
    camera.present_document(DEFAULT_MRZ)
    with camera:
        frame = camera.capture()
    assert frame.source == "document" and (frame.width, frame.height) == (1280, 960)
    with open_camera(f"sim://?mrz={quote(DEFAULT_MRZ)}") as named:
        assert named.capture().source == "document"
    with pytest.raises(ValueError, match="one of dir="):
        camera_for_url(f"sim://?dir={lfw_people[0]}&mrz=X")
