"""The OpenCV camera backend: video files played for real, devices through a recorded fake.

Videos are MJPG .avi files written in the test from real LFW photos, each photo held for a few
frames, so every frame read back can be checked against the photo it must show. A real camera is
tested only with ``--camera-url`` (see the end of this file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from drivers import DeviceNotFoundError, DeviceTimeoutError
from drivers.camera import CameraError, camera_for_url
from drivers.camera.opencv import OpenCVCamera
from drivers.camera.sim import SimulatedCamera
from matcher.imageio import read_rgb
from tests.conftest import photos_of

HOLD = 3  # frames per photo in the test clips


def write_clip(path: Path, photos: list[np.ndarray], hold: int = HOLD, fps: float = 10) -> Path:
    """An MJPG .avi showing each RGB photo for ``hold`` frames."""
    height, width = photos[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for photo in photos:
        for _ in range(hold):
            writer.write(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def closest(frame: np.ndarray, photos: list[np.ndarray]) -> tuple[int, float]:
    """Index of the photo the frame shows, and the mean absolute difference to it."""
    diffs = [float(np.abs(frame.astype(int) - p.astype(int)).mean()) for p in photos]
    best = int(np.argmin(diffs))
    return best, diffs[best]


@pytest.fixture(scope="module")
def photos(lfw_people: list[Path]) -> list[np.ndarray]:
    return [read_rgb(photos_of(person)[0]) for person in lfw_people[10:14]]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, photos: list[np.ndarray]) -> Path:
    return write_clip(tmp_path_factory.mktemp("video") / "clip.avi", photos)


def test_a_video_file_gives_the_expected_frames_in_order(
    clip: Path, photos: list[np.ndarray]
) -> None:
    camera = camera_for_url(f"opencv://{clip}")
    assert isinstance(camera, OpenCVCamera)
    with camera:
        frames = [camera.capture() for _ in range(len(photos) * HOLD)]
    for index, frame in enumerate(frames):
        assert frame.pixels.shape == (250, 250, 3) and frame.pixels.dtype == np.uint8
        assert frame.metadata["frame_index"] == index
        shown, difference = closest(frame.pixels, photos)
        assert shown == index // HOLD
        assert difference < 4.0, f"frame {index} differs by {difference:.1f} grey levels"


def test_the_colours_come_back_as_rgb(tmp_path: Path) -> None:
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 220
    with camera_for_url(f"opencv://{write_clip(tmp_path / 'red.avi', [red])}") as camera:
        pixels = camera.capture().pixels
    assert pixels[..., 0].mean() > 200 and pixels[..., 2].mean() < 30


def test_warmup_and_start_skip_frames(clip: Path, photos: list[np.ndarray]) -> None:
    with camera_for_url(f"opencv://{clip}?warmup=4") as camera:
        frame = camera.capture()
    assert frame.metadata["frame_index"] == 4
    assert closest(frame.pixels, photos)[0] == 4 // HOLD
    with camera_for_url(f"opencv://{clip}?start=9&warmup=1") as camera:
        frame = camera.capture()
    assert frame.metadata["frame_index"] == 10
    assert closest(frame.pixels, photos)[0] == 10 // HOLD


def test_each_opening_starts_the_video_again(clip: Path) -> None:
    camera = camera_for_url(f"opencv://{clip}")
    with camera:
        camera.capture()
        assert camera.capture().metadata["frame_index"] == 1
    assert not camera.is_open
    with camera:
        assert camera.capture().metadata["frame_index"] == 0


def test_the_end_of_a_video_is_an_error_unless_it_loops(clip: Path, photos: list) -> None:
    total = len(photos) * HOLD
    with camera_for_url(f"opencv://{clip}?start={total - 1}") as camera:
        camera.capture()
        with pytest.raises(CameraError, match="no more frames"):
            camera.capture()
    with camera_for_url(f"opencv://{clip}?start={total - 1}&loop=true") as camera:
        assert camera.capture().metadata["frame_index"] == total - 1
        assert camera.capture().metadata["frame_index"] == 0


def test_a_missing_video_file_is_device_not_found(tmp_path: Path) -> None:
    camera = camera_for_url(f"opencv://{tmp_path / 'nothing.avi'}")
    with pytest.raises(DeviceNotFoundError, match="no such video file"):
        camera.open()
    assert not camera.is_open


def test_a_file_that_is_not_a_video_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(CameraError, match="cannot play"):
        camera_for_url(f"opencv://{junk}").open()


# --- the simulated camera plays video files through the same decoder ---------------------------


def test_the_simulator_plays_a_video_and_keeps_its_place(
    clip: Path, photos: list[np.ndarray]
) -> None:
    camera = camera_for_url(f"sim://?video={clip}")
    assert isinstance(camera, SimulatedCamera)
    with camera:
        first = [camera.capture().metadata["frame_index"] for _ in range(4)]
    with camera:
        frame = camera.capture()
    assert first == [0, 1, 2, 3]
    assert frame.metadata["frame_index"] == 4  # unlike opencv://, the simulator resumes
    assert closest(frame.pixels, photos)[0] == 4 // HOLD


def test_the_simulator_loops_a_video_by_default_and_can_stop(clip: Path, photos: list) -> None:
    total = len(photos) * HOLD
    with camera_for_url(f"sim://?video={clip}") as camera:
        indices = [camera.capture().metadata["frame_index"] for _ in range(total + 2)]
    assert indices[total:] == [0, 1]
    with camera_for_url(f"sim://?video={clip}&loop=false") as camera:
        for _ in range(total):
            camera.capture()
        with pytest.raises(CameraError, match="every frame"):
            camera.capture()


def test_present_still_works_with_a_video(clip: Path, lfw_people: list[Path]) -> None:
    chosen = photos_of(lfw_people[20])[0]
    camera = SimulatedCamera(f"sim://?video={clip}")
    camera.present(chosen)
    with camera:
        assert camera.capture().source == str(chosen)
    with camera:
        assert camera.capture().metadata["frame_index"] == 0


def test_the_simulator_takes_photos_a_video_or_a_document_not_two(
    tmp_path: Path, clip: Path
) -> None:
    with pytest.raises(ValueError, match=r"one of dir= .*, video= .* or mrz="):
        camera_for_url(f"sim://?dir={tmp_path}&video={clip}")


# --- devices and streams: settings and the open-capture-release cycle, on a recorded fake --------


class FakeCapture:
    """Stands in for cv2.VideoCapture and records what the backend asks of it."""

    instances: list[FakeCapture] = []  # noqa: RUF012 - a test recorder

    def __init__(self, source: Any, api: int, params: list[int]) -> None:
        self.source, self.api, self.params = source, api, params
        self.settings: dict[int, float] = {}
        self.grabs = self.reads = self.releases = 0
        self.opened = True
        self.frames_available = True
        FakeCapture.instances.append(self)

    def isOpened(self) -> bool:
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.settings[prop] = value
        return True

    def get(self, prop: int) -> float:
        return self.settings.get(prop, 0.0)

    def grab(self) -> bool:
        self.grabs += 1
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.reads += 1
        if not self.frames_available:
            return False, None
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[..., 0] = 200  # blue in OpenCV's order
        return True, bgr

    def release(self) -> None:
        self.releases += 1


@pytest.fixture
def fake() -> type[FakeCapture]:
    FakeCapture.instances = []
    return FakeCapture


def test_a_device_is_opened_set_up_warmed_up_and_released_for_one_capture(
    fake: type[FakeCapture],
) -> None:
    url = "opencv://0?width=1280&height=720&fps=15&warmup=3&fourcc=MJPG"
    camera = OpenCVCamera(url, video_capture=fake)
    assert fake.instances == []  # building the camera touches no device
    with camera:
        (device,) = fake.instances
        assert device.grabs == 3 and device.reads == 0  # warm-up frames are not even decoded
        frame = camera.capture()
    assert device.source == 0
    assert device.settings[cv2.CAP_PROP_FRAME_WIDTH] == 1280
    assert device.settings[cv2.CAP_PROP_FRAME_HEIGHT] == 720
    assert device.settings[cv2.CAP_PROP_FPS] == 15
    assert device.settings[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
    assert device.settings[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert device.reads == 1 and device.releases == 1
    assert not camera.is_open
    assert frame.pixels[..., 2].mean() == 200 and frame.pixels[..., 0].mean() == 0  # RGB
    assert "delivered width 1280" in camera.info().description


def test_a_device_warms_up_ten_frames_by_default(fake: type[FakeCapture]) -> None:
    with OpenCVCamera("opencv://1", video_capture=fake):
        assert fake.instances[0].grabs == 10


def test_a_device_that_does_not_open_is_not_found_and_released(fake: type[FakeCapture]) -> None:
    class Unplugged(FakeCapture):
        def isOpened(self) -> bool:
            return False

    with pytest.raises(DeviceNotFoundError, match="cannot open"):
        OpenCVCamera("opencv://0", video_capture=Unplugged).open()
    assert fake.instances[0].releases == 1


def test_a_device_without_frames_times_out(fake: type[FakeCapture]) -> None:
    class Silent(FakeCapture):
        def read(self) -> tuple[bool, np.ndarray | None]:
            self.reads += 1
            return False, None

    camera = OpenCVCamera("opencv://0?warmup=0", video_capture=Silent)
    with camera, pytest.raises(DeviceTimeoutError, match=r"no frame within 0\.2 s"):
        camera.capture(timeout=0.2)
    assert fake.instances[0].reads > 1 and fake.instances[0].releases == 1


def test_a_real_device_that_is_absent_is_not_found() -> None:
    with pytest.raises(DeviceNotFoundError):
        camera_for_url("opencv://63?warmup=0").open()


def test_a_stream_url_keeps_its_own_query_and_gets_timeouts(fake: type[FakeCapture]) -> None:
    camera = OpenCVCamera("opencv+rtsp://10.0.0.5:554/live?warmup=0&channel=2", video_capture=fake)
    assert camera.source == "rtsp://10.0.0.5:554/live?channel=2"
    with camera:
        camera.capture()
    (stream,) = fake.instances
    assert stream.grabs == 0
    assert cv2.CAP_PROP_OPEN_TIMEOUT_MSEC in stream.params
    assert cv2.CAP_PROP_READ_TIMEOUT_MSEC in stream.params


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("opencv://0?resolution=hd", "valid options: api, fourcc, fps, height, loop, start"),
        ("opencv://0?start=5", "for video files only"),
        ("opencv://0?api=quicktime", "api='quicktime' must be one of"),
        ("opencv://0?fourcc=MJPEG", "must be 4 characters"),
        ("opencv://0?fps=fast", "must be a number"),
        ("opencv://0?width=0", "at least 1"),
        ("opencv://", "needs a device index, a video file or a stream"),
    ],
)
def test_bad_urls_say_what_is_valid(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        camera_for_url(url)


# --- a real camera, only when asked for ----------------------------------------------------------


def test_a_real_camera_delivers_a_frame_and_is_released(request: pytest.FixtureRequest) -> None:
    url = request.config.getoption("--camera-url")
    if not url:
        pytest.skip("no --camera-url given: no real camera to test")
    camera = camera_for_url(url)
    with camera:
        frame = camera.capture(timeout=10)
    assert not camera.is_open
    assert frame.pixels.ndim == 3 and frame.pixels.shape[2] == 3 and frame.pixels.dtype == np.uint8
    with camera:  # released: it can be opened again
        camera.capture(timeout=10)
