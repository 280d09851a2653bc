"""A simulated camera that serves real photos from a folder, or plays a video file.

URLs: ``sim://?dir=PATH[&order=sorted|shuffle][&seed=N][&loop=true][&recursive=true]`` serves
photos; ``sim://?video=FILE[&loop=true]`` plays a video (decoded by OpenCV, as the real
``opencv://`` backend does, so the same decoding path is exercised without a camera);
``sim://?mrz=TEXT`` shows an ID card (TD1) or passport page (TD3) printed with this zone (lines
separated by newlines or ``\\n``), photographed as a hand holds it to the camera.
Each capture returns the next photo or frame, and the camera keeps its place between openings;
``present(path)`` puts a chosen photo in front of the camera for the next capture (how tests and
scripted demos pick who is standing there), ``present_document(mrz)`` a document;
``stand(photos, document)`` puts a person there until told otherwise, a new photo of them for
each capture (or their document when the operator asks for it, see :meth:`Camera.expect`), or
nobody (an empty scene);
``play(frames)`` plays a clip in the next session, one photo or frame per capture (a person
turning their head, or an attack from :mod:`drivers.camera.clips`), stamped at the clip's own
frame rate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from drivers.camera.base import Camera, CameraError, CameraInfo, Frame
from drivers.camera.opencv import VideoFile
from drivers.errors import DeviceNotFoundError
from drivers.urls import DeviceURL

if TYPE_CHECKING:
    from drivers.idcard.document_image import Distortion

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".tif", ".tiff"})
OPTIONS = ("dir", "order", "seed", "loop", "recursive", "video", "mrz")
EMPTY_SCENE_SIZE = (480, 640)  # height, width of the frame showing nobody
EMPTY_SCENE_COLOUR = (186, 180, 170)  # a plain wall


def load_rgb(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8 pixels, honouring EXIF orientation."""
    try:
        with Image.open(path) as image:
            rgb = ImageOps.exif_transpose(image).convert("RGB")
            return np.asarray(rgb, dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as exc:
        raise CameraError(f"simulated camera cannot read {path}: {exc}") from exc


class SimulatedCamera(Camera):
    """Serves photos from a folder as if a person stood in front of a camera."""

    backend = "sim"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parsed = DeviceURL.parse(url)
        parsed.check_options(OPTIONS)
        folder = parsed.options.get("dir") or parsed.location
        video = parsed.options.get("video")
        mrz = parsed.options.get("mrz")
        if sum(bool(given) for given in (folder, video, mrz)) > 1:
            raise ValueError(
                "sim:// camera takes one of dir= (photos), video= (a file) or mrz= (a document)"
            )
        if not folder and not video and not mrz:
            raise ValueError(
                "sim:// camera needs a folder of photos, a video or a document's MRZ: "
                "sim://?dir=PATH, sim://?video=FILE, sim://?mrz=TEXT"
            )
        order = parsed.options.get("order", "sorted")
        if order not in {"sorted", "shuffle"}:
            raise ValueError(f"option order={order!r} must be sorted or shuffle")
        self.folder = Path(folder).expanduser()
        self.video = Path(video).expanduser() if video else None
        self._player: VideoFile | None = None
        self._video_position = 0
        self.loop = parsed.bool_option("loop", True)
        self._recursive = parsed.bool_option("recursive", True)
        self._order = order
        self._seed = parsed.int_option("seed", 0)
        self._photos: list[Path] | None = None
        self._position = 0
        self._presented: Path | NDArray[np.uint8] | None = None
        self._standing = False  # the folder or video is served until stand()
        self._person: Iterator[Path | str] | None = None
        self._document: Callable[[], NDArray[np.uint8]] | None = None  # what the person holds
        self._subject = "face"  # what the operator asked for (expect)
        self._own_document: NDArray[np.uint8] | None = None  # the mrz= option's, drawn once
        self._mrz = mrz.replace("\\n", "\n") if mrz else None
        self._session_photo: Path | None = None
        self._session_chosen = False
        self._clip: list[Path | NDArray[np.uint8]] | None = None
        self._clip_fps: float | None = None
        self._clip_position = 0
        self._clip_started = 0.0

    def stand(
        self,
        photos: Iterator[Path | str] | None,
        document: Callable[[], NDArray[np.uint8]] | None = None,
    ) -> None:
        """Who stands in front of the camera from now on: each capture session shows the next
        of ``photos`` (``itertools.cycle`` for a person who stays or comes back); None, or the
        photos running out, is an empty scene: nobody there. ``document`` gives the photo of
        the card they hold to the camera when the operator asks for it (``expect("document")``);
        without one they show their face. :meth:`present` still wins for one session."""
        self._standing = True
        self._person = photos
        self._document = document

    def present(self, photo: Path | str | NDArray[np.uint8]) -> None:
        """Put this photo (a file, or RGB pixels) in front of the camera for the next capture
        session: every frame is this photo until the camera is closed."""
        if isinstance(photo, np.ndarray):
            if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
                raise ValueError("present RGB uint8 pixels (height x width x 3)")
            self._presented = photo
            return
        path = Path(photo)
        if not path.is_file():
            raise DeviceNotFoundError(str(path), "no such photo for the simulated camera")
        self._presented = path

    def present_document(
        self,
        mrz_text: str,
        portrait: NDArray[np.uint8] | None = None,
        distortion: Distortion | None = None,
    ) -> None:
        """Hold a document printed with ``mrz_text`` (TD1 card or TD3 page, see
        :func:`~drivers.idcard.document_image.render_document`) to the camera for the next
        capture session, photographed as a hand holds it (``HANDHELD`` unless ``distortion``)."""
        self.present(held_document(mrz_text, portrait, distortion))

    def _expect(self, subject: str) -> None:
        self._subject = subject

    def play(
        self, frames: Sequence[Path | str | NDArray[np.uint8]], fps: float | None = 10.0
    ) -> None:
        """Play this clip in the next capture session, one frame per capture: photo files or
        RGB pixels. Frames are stamped ``fps`` apart from the session's start (None: the real
        time of the capture); after the last frame the camera fails as a video's end does. The
        clip is gone when the session closes."""
        if not frames:
            raise ValueError("a clip needs at least one frame")
        if fps is not None and fps <= 0:
            raise ValueError("fps must be positive")
        clip: list[Path | NDArray[np.uint8]] = []
        for frame in frames:
            if isinstance(frame, np.ndarray):
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError(f"a clip frame must be RGB uint8 pixels, got {frame.shape}")
                clip.append(frame)
            elif not Path(frame).is_file():
                raise DeviceNotFoundError(str(frame), "no such photo for the simulated camera")
            else:
                clip.append(Path(frame))
        self._clip, self._clip_fps, self._clip_position = clip, fps, 0

    def info(self) -> CameraInfo:
        if self._mrz is not None:
            return CameraInfo(
                backend=self.backend,
                url=self.url,
                description="simulated camera showing a document",
            )
        if self.video is not None:
            return CameraInfo(
                backend=self.backend,
                url=self.url,
                description=f"simulated camera playing {self.video} from frame {self._video_position}",
            )
        count = len(self._list_photos())
        return CameraInfo(
            backend=self.backend,
            url=self.url,
            description=f"simulated camera serving {count} photos from {self.folder}",
        )

    def _list_photos(self) -> list[Path]:
        if self._photos is None:
            if not self.folder.is_dir():
                raise DeviceNotFoundError(
                    str(self.folder), "the simulated camera's folder does not exist"
                )
            pattern = "**/*" if self._recursive else "*"
            photos = sorted(
                p
                for p in self.folder.glob(pattern)
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not photos:
                raise DeviceNotFoundError(str(self.folder), "the folder holds no photos")
            if self._order == "shuffle":
                random.Random(self._seed).shuffle(photos)
            self._photos = photos
        return self._photos

    def _open(self) -> None:
        if self.video is not None:
            player = VideoFile(self.video)
            player.open(self._video_position)
            self._player = player
        elif self._mrz is None:
            self._list_photos()

    def _close(self) -> None:
        self._presented = None
        self._subject = "face"
        self._clip = None
        self._session_photo, self._session_chosen = None, False
        if self._player is not None:
            self._video_position = self._player.position
            self._player.close()
            self._player = None

    def _next_video_frame(self, player: VideoFile) -> Frame:
        got = player.read()
        if got is None:
            if not self.loop:
                raise CameraError("the simulated camera has played every frame (loop=false)")
            if player.position == 0:
                raise CameraError(f"the video {self.video} holds no frame")
            player.close()
            player.open(0)
            got = player.read()
            if got is None:
                raise CameraError(f"the video {self.video} holds no frame")
        index, pixels = got
        return Frame(
            pixels=pixels,
            captured_at=time.time(),
            source=str(self.video),
            metadata={"frame_index": index},
        )

    def _standing_photo(self) -> Path | None:
        """The photo of the person standing there for this session (None: nobody)."""
        if not self._session_chosen:
            self._session_chosen = True
            photo = None if self._person is None else next(self._person, None)
            self._session_photo = None if photo is None else Path(photo)
        return self._session_photo

    def _clip_frame(self, clip: list[Path | NDArray[np.uint8]]) -> Frame:
        if self._clip_position >= len(clip):
            raise CameraError(f"the simulated camera has played all {len(clip)} frames of its clip")
        index = self._clip_position
        if index == 0:
            self._clip_started = time.time()
        self._clip_position += 1
        item = clip[index]
        at = time.time() if self._clip_fps is None else self._clip_started + index / self._clip_fps
        pixels = load_rgb(item) if isinstance(item, Path) else item.copy()
        source = str(item) if isinstance(item, Path) else "clip"
        return Frame(pixels=pixels, captured_at=at, source=source, metadata={"clip_frame": index})

    def _grab(self, timeout: float) -> Frame:
        if self._clip is not None:
            return self._clip_frame(self._clip)
        if isinstance(self._presented, np.ndarray):
            return Frame(pixels=self._presented, captured_at=time.time(), source="document")
        if self._presented is not None:
            path = self._presented
        elif self._standing and self._subject == "document" and self._document is not None:
            return Frame(pixels=self._document(), captured_at=time.time(), source="document")
        elif self._standing:
            standing = self._standing_photo()
            if standing is None:
                pixels = np.empty((*EMPTY_SCENE_SIZE, 3), dtype=np.uint8)
                pixels[:] = EMPTY_SCENE_COLOUR
                return Frame(pixels=pixels, captured_at=time.time(), source="empty scene")
            path = standing
        elif self._player is not None:
            return self._next_video_frame(self._player)
        elif self._mrz is not None:
            if self._own_document is None:
                self._own_document = held_document(self._mrz)
            return Frame(pixels=self._own_document, captured_at=time.time(), source="document")
        else:
            photos = self._list_photos()
            if self._position >= len(photos):
                if not self.loop:
                    raise CameraError("the simulated camera has served every photo (loop=false)")
                self._position = 0
            path = photos[self._position]
            self._position += 1
        return Frame(pixels=load_rgb(path), captured_at=time.time(), source=str(path))


def held_document(
    mrz_text: str,
    portrait: NDArray[np.uint8] | None = None,
    distortion: Distortion | None = None,
) -> NDArray[np.uint8]:
    """A camera photo of a document printed with ``mrz_text``, as a hand holds it up."""
    from drivers.idcard.document_image import HANDHELD, render_document

    try:
        return render_document(mrz_text, portrait, distortion or HANDHELD)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"the simulated camera cannot print this MRZ: {exc}") from exc
