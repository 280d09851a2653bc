"""The real camera backend on OpenCV's ``VideoCapture``: a device, a video file or a stream.

URLs::

    opencv://0?width=1280&height=720&fps=30&warmup=10   device 0 (/dev/video0 on Linux)
    opencv:///var/clips/clip.avi                         a video file (absolute path)
    opencv://clip.avi?start=25                           a video file (relative path)
    opencv+rtsp://10.0.0.5:554/stream1                   a network stream; opencv+http:// and
                                                         opencv+https:// (MJPEG cameras) too

Options: ``width``, ``height``, ``fps`` (asked of the device; it may choose the nearest mode it
has, the frame says what it delivered), ``fourcc`` (``MJPG``: most USB cameras give their high
resolutions at full rate only compressed), ``warmup`` (frames read and dropped after opening, so
auto exposure and white balance settle; default 10 for a device, 0 for a file or stream),
``api`` (``any``, ``v4l2``, ``ffmpeg``, ``gstreamer``, ``dshow``, ``msmf``, ``avfoundation``),
``start`` (files: index of the first frame) and ``loop`` (files: rewind at the end; default
false). For a stream, other query options are passed on to the stream's own URL.

The device is opened for a capture and released right after (``with camera:``); nothing is
recorded, warm-up frames are grabbed without being decoded, and a frame is returned only when
asked for. A video file starts again from ``start`` at every opening, as a camera shows the
scene anew.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from numpy.typing import NDArray

from drivers.camera.base import Camera, CameraError, CameraInfo, Frame
from drivers.errors import DeviceNotFoundError, DeviceTimeoutError
from drivers.urls import DeviceURL

log = logging.getLogger(__name__)

OPTIONS = ("width", "height", "fps", "fourcc", "warmup", "api", "start", "loop")
STREAM_SCHEMES = ("opencv+rtsp", "opencv+http", "opencv+https")
APIS = ("any", "v4l2", "ffmpeg", "gstreamer", "dshow", "msmf", "avfoundation")
DEVICE_WARMUP = 10
# How long a device or stream may go without a frame before a retry is abandoned.
_RETRY_PAUSE = 0.01

VideoCaptureFactory = Callable[..., Any]


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        raise CameraError(
            "the opencv:// camera needs OpenCV: pip install 'opencv-python-headless<5'"
        ) from exc
    return cv2


def _api_preference(cv2: Any, name: str) -> int:
    return int(
        {
            "any": cv2.CAP_ANY,
            "v4l2": cv2.CAP_V4L2,
            "ffmpeg": cv2.CAP_FFMPEG,
            "gstreamer": cv2.CAP_GSTREAMER,
            "dshow": cv2.CAP_DSHOW,
            "msmf": cv2.CAP_MSMF,
            "avfoundation": cv2.CAP_AVFOUNDATION,
        }[name]
    )


def to_rgb(cv2: Any, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """OpenCV's BGR (or grey) frame as RGB uint8, contiguous."""
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGRA2RGB))
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


class VideoFile:
    """Sequential reading of a video file, one decoded frame at a time (files only: no device).

    Used by the ``opencv://`` file source and by the simulated camera's ``video=`` option.
    """

    def __init__(self, path: Path, factory: VideoCaptureFactory | None = None) -> None:
        self.path = path
        self._factory = factory
        self._capture: Any = None
        self.position = 0

    def open(self, start: int = 0) -> None:
        if not self.path.is_file():
            raise DeviceNotFoundError(str(self.path), "no such video file")
        cv2 = _cv2()
        capture = (self._factory or cv2.VideoCapture)(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"OpenCV cannot play the video {self.path}")
        self._capture = capture
        self.seek(start)

    @property
    def frame_count(self) -> int:
        if self._capture is None:
            return 0
        return int(self._capture.get(_cv2().CAP_PROP_FRAME_COUNT))

    def seek(self, index: int) -> None:
        if self._capture is None:
            raise CameraError("the video is not open")
        if index:
            self._capture.set(_cv2().CAP_PROP_POS_FRAMES, index)
        self.position = index

    def skip(self, count: int) -> int:
        """Drop ``count`` frames without decoding them; returns how many there were."""
        skipped = 0
        while skipped < count and self._capture is not None and self._capture.grab():
            skipped += 1
            self.position += 1
        return skipped

    def read(self) -> tuple[int, NDArray[np.uint8]] | None:
        """(index, RGB pixels) of the next frame, or None at the end of the file."""
        if self._capture is None:
            raise CameraError("the video is not open")
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        index = self.position
        self.position += 1
        return index, to_rgb(_cv2(), image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class OpenCVCamera(Camera):
    """A camera, video file or stream read through OpenCV, open only during a capture."""

    backend = "opencv"

    def __init__(self, url: str, video_capture: VideoCaptureFactory | None = None) -> None:
        super().__init__(url)
        parsed = DeviceURL.parse(url)
        self._factory = video_capture
        extra: dict[str, str] = {}
        if parsed.scheme in STREAM_SCHEMES:
            extra = {k: v for k, v in parsed.options.items() if k not in OPTIONS}
        else:
            parsed.check_options(OPTIONS)
        options = {k: v for k, v in parsed.options.items() if k not in extra}
        location = parsed.location
        self.kind: str
        self.source: str | int
        if parsed.scheme in STREAM_SCHEMES:
            self.kind = "stream"
            query = f"?{urlencode(extra)}" if extra else ""
            self.source = f"{parsed.scheme.removeprefix('opencv+')}://{location}{query}"
        elif parsed.scheme != "opencv":
            raise ValueError(
                f"{url!r}: the OpenCV camera takes opencv://, {', '.join(STREAM_SCHEMES)}"
            )
        elif location.isdigit():
            self.kind, self.source = "device", int(location)
        elif location:
            self.kind, self.source = "file", str(Path(location).expanduser())
        else:
            raise ValueError(
                "opencv:// needs a device index, a video file or a stream: opencv://0, "
                "opencv:///path/clip.avi, opencv+rtsp://host/stream"
            )
        self.width = parsed.int_option("width", 0, minimum=1) if "width" in options else None
        self.height = parsed.int_option("height", 0, minimum=1) if "height" in options else None
        self.fps = self._float_option(options, "fps")
        fourcc = options.get("fourcc")
        if fourcc is not None and len(fourcc) != 4:
            raise ValueError(f"option fourcc={fourcc!r} must be 4 characters, e.g. MJPG")
        self.fourcc = fourcc
        default_warmup = DEVICE_WARMUP if self.kind == "device" else 0
        self.warmup = parsed.int_option("warmup", default_warmup, minimum=0)
        api = options.get("api", "any").lower()
        if api not in APIS:
            raise ValueError(f"option api={api!r} must be one of {', '.join(APIS)}")
        self.api = api
        if self.kind != "file" and ("start" in options or "loop" in options):
            raise ValueError("options start and loop are for video files only")
        self.start = parsed.int_option("start", 0, minimum=0)
        self.loop = parsed.bool_option("loop", False)
        self._capture: Any = None
        self._video: VideoFile | None = None
        self._delivered: dict[str, float] = {}

    @staticmethod
    def _float_option(options: dict[str, str], name: str) -> float | None:
        raw = options.get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"option {name}={raw!r} must be a number") from None
        if not value > 0:
            raise ValueError(f"option {name}={raw!r} must be positive")
        return value

    def info(self) -> CameraInfo:
        asked = ", ".join(
            f"{k} {v}"
            for k, v in (
                ("width", self.width),
                ("height", self.height),
                ("fps", self.fps),
                ("fourcc", self.fourcc),
            )
            if v is not None
        )
        delivered = ", ".join(f"{k} {v:g}" for k, v in self._delivered.items())
        return CameraInfo(
            backend=self.backend,
            url=self.url,
            description=(
                f"OpenCV {self.kind} {self.source} (api {self.api}, warm-up {self.warmup} frames"
                + (f"; asked {asked}" if asked else "")
                + (f"; delivered {delivered}" if delivered else "")
                + ")"
            ),
        )

    def _open(self) -> None:
        cv2 = _cv2()
        if self.kind == "file":
            self._video = VideoFile(Path(str(self.source)), self._factory)
            self._video.open(self.start)
            self._video.skip(self.warmup)
            self._capture = None
            return
        params: list[int] = []
        if self.kind == "stream":
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5_000]
        factory = self._factory or cv2.VideoCapture
        capture = factory(self.source, _api_preference(cv2, self.api), params)
        if not capture.isOpened():
            capture.release()
            raise DeviceNotFoundError(
                str(self.source),
                "OpenCV cannot open it (unplugged, in use by another program, or no permission)",
            )
        try:
            # The fourcc first: on V4L2 the available sizes and rates depend on it.
            if self.fourcc:
                capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc))
            for prop, value in (
                (cv2.CAP_PROP_FRAME_WIDTH, self.width),
                (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
                (cv2.CAP_PROP_FPS, self.fps),
            ):
                if value is not None and not capture.set(prop, float(value)):
                    log.warning("camera %s ignored the setting %s=%s", self.url, prop, value)
            # Keep the driver's queue short: the frame returned is the newest, not a stale one.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            for _ in range(self.warmup):
                capture.grab()
            self._delivered = {
                "width": float(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                "height": float(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                "fps": float(capture.get(cv2.CAP_PROP_FPS)),
            }
        except BaseException:
            capture.release()
            raise
        self._capture = capture

    def _close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _grab(self, timeout: float) -> Frame:
        if self._video is not None:
            return self._grab_file(self._video)
        cv2 = _cv2()
        deadline = time.monotonic() + timeout
        while True:
            ok, image = self._capture.read()
            if ok and image is not None:
                return Frame(
                    pixels=to_rgb(cv2, image),
                    captured_at=time.time(),
                    source=str(self.source),
                    metadata={"backend": self.backend, "kind": self.kind},
                )
            if time.monotonic() >= deadline:
                raise DeviceTimeoutError(
                    f"camera {self.url} delivered no frame within {timeout:g} s"
                )
            time.sleep(_RETRY_PAUSE)

    def _grab_file(self, video: VideoFile) -> Frame:
        got = video.read()
        if got is None and self.loop and video.position > 0:
            video.close()  # rewinding by reopening works for every container
            video.open(0)
            got = video.read()
        if got is None:
            raise CameraError(
                f"the video {self.source} has no more frames (after {video.position})"
            )
        index, pixels = got
        return Frame(
            pixels=pixels,
            captured_at=time.time(),
            source=str(self.source),
            metadata={"backend": self.backend, "kind": self.kind, "frame_index": index},
        )
