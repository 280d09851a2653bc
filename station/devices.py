"""The station's devices: a camera, a fingerprint scanner and an ID-card reader, each optional,
each opened for one capture and used by one request at a time.

The camera runs only while capturing (no continuous video): it is opened for a capture and closed
before the capture returns.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from drivers.camera import Camera, Frame, camera_for_url
from drivers.errors import DriverError
from drivers.fingerprint import FingerprintImage, FingerprintScanner, scanner_for_url
from drivers.idcard import AccessKey, CardReader, ChipDocument, card_reader_for_url
from drivers.urls import redacted
from matcher.face.liveness import Challenge, LivenessChecker
from matcher.face.quality import FaceQualityChecker, QualityReport
from station.capture import capture_face
from station.config import Settings
from station.errors import (
    CaptureRefusedError,
    NoCameraError,
    NoCardReaderError,
    NoScannerError,
    StationError,
)
from station.liveness import ChallengeRun, LiveFaceResult, capture_live_face


@dataclass
class LiveFrame:
    """One frame of a live capture: a small JPEG to show, the quality verdict, and the token
    portrait once a frame passes. With a liveness challenge, ``challenge`` is what to ask of the
    person (the frames are not assessed for quality until it is done: ``report`` None), and
    ``liveness`` the result once decided."""

    preview: bytes
    report: QualityReport | None
    portrait: NDArray[np.uint8] | None = field(default=None, repr=False)
    challenge: Challenge | None = None
    liveness: LiveFaceResult | None = None

    @property
    def accepted(self) -> bool:
        return self.portrait is not None


class LiveCapture:
    """The camera opened for one person's face step, frame by frame (the console's preview),
    closed when a frame passes, when :meth:`close` is called, or after ``idle_seconds`` without a
    frame asked for: the camera never runs on by itself."""

    def __init__(
        self,
        devices: Devices,
        quality: FaceQualityChecker,
        idle_seconds: float,
        checker: LivenessChecker | None = None,
    ) -> None:
        if devices.camera is None:
            raise NoCameraError()
        self.challenge = None if checker is None else ChallengeRun(checker, quality)
        self._started = time.monotonic()
        self._preview = b""
        self.camera = devices.camera
        self.quality = quality
        self.idle_seconds = idle_seconds
        self.frame_timeout = devices.settings.camera_timeout
        self._lock = devices._camera_lock
        if not self._lock.acquire(timeout=devices.settings.camera_timeout):
            raise StationError("the camera is busy with another capture: try again")
        try:
            self.camera.open()
        except BaseException:
            self._lock.release()
            raise
        self._closed = False
        self._timer: threading.Timer | None = None
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.idle_seconds, self.close)
        self._timer.daemon = True
        self._timer.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def next(self) -> LiveFrame:
        """The next frame, assessed; the camera closes once one passes."""
        if self._closed:
            raise StationError("the camera was closed: start the capture again")
        self._arm()
        try:
            frame = self.camera.capture(timeout=self.frame_timeout)
        except DriverError:
            if self.challenge is None or self.challenge.frames == 0:
                raise
            return self._ended(self.challenge)  # a camera that stops ends the challenge
        preview = _preview_jpeg(frame.pixels)
        if self.challenge is not None:
            return self._challenged(self.challenge, frame, preview)
        report = self.quality.assess(frame.pixels)
        portrait = None
        if report.accepted and report.landmarks is not None:
            portrait = self.quality.portrait(frame.pixels, report)
            self.close()
        return LiveFrame(preview, report, portrait)

    def _challenged(self, run: ChallengeRun, frame: Frame, preview: bytes) -> LiveFrame:
        """The challenge's next frame; once decided, the camera closes and the result (with the
        portrait when it passed) comes with the frame."""
        run.feed(frame)
        self._preview = preview
        if not run.decided:
            return LiveFrame(preview, None, challenge=run.checker.challenge)
        return self._ended(run)

    def _ended(self, run: ChallengeRun) -> LiveFrame:
        self.close()
        result = run.result(time.monotonic() - self._started)
        return LiveFrame(
            self._preview, result.report, result.portrait, run.checker.challenge, result
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        try:
            self.camera.close()
        finally:
            self._lock.release()


def _preview_jpeg(pixels: NDArray[np.uint8], side: int = 480) -> bytes:
    image = Image.fromarray(pixels)
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


class Devices:
    """The configured devices (``camera_url``, ``scanner_url``, ``card_reader_url``)."""

    def __init__(self, settings: Settings, camera: Camera | None = None) -> None:
        self.settings = settings
        self.camera = camera or (
            camera_for_url(settings.camera_url) if settings.camera_url else None
        )
        self.scanner: FingerprintScanner | None = (
            scanner_for_url(settings.scanner_url) if settings.scanner_url else None
        )
        self.card_reader: CardReader | None = (
            card_reader_for_url(settings.card_reader_url) if settings.card_reader_url else None
        )
        #: Who stands at the station, when the devices are simulated: the
        #: ``station.simulation.SimulatedDesk`` attached to them (the devices never use it).
        self.desk: object | None = None
        self._camera_lock = threading.Lock()
        self._scanner_lock = threading.Lock()
        self._card_lock = threading.Lock()

    def capture_face(self, quality: FaceQualityChecker) -> NDArray[np.uint8]:
        """A face from the camera, opened for this capture only: frames are checked (one face,
        large, sharp, well exposed, frontal, eyes open) until one passes or ``camera_timeout``
        ends; the accepted frame's token portrait (eyes level at a fixed distance) is returned."""
        if self.camera is None:
            raise NoCameraError()
        with self._camera_lock:
            result = capture_face(self.camera, quality, timeout=self.settings.camera_timeout)
        if not result.accepted or result.portrait is None:
            reasons = result.report.reasons
            raise CaptureRefusedError([r.message for r in reasons], [r.code for r in reasons])
        return result.portrait

    def capture_document(self) -> Frame:
        """One frame of the ID card the person holds to the camera, opened for this frame
        only (the reader of its MRZ judges the frame; a hand does not wait for a preview)."""
        if self.camera is None:
            raise NoCameraError()
        if not self._camera_lock.acquire(timeout=self.settings.camera_timeout):
            raise StationError("the camera is busy with another capture: try again")
        try:
            self.camera.expect("document")
            with self.camera as camera:
                return camera.capture(timeout=self.settings.camera_timeout)
        finally:
            self._camera_lock.release()

    def capture_live_face(
        self,
        quality: FaceQualityChecker,
        checker: LivenessChecker,
        on_instruction: Callable[[Challenge], None] | None = None,
    ) -> LiveFaceResult:
        """A face from the camera with the liveness challenge of ``checker``, the camera opened
        for the challenge only (see :func:`station.liveness.capture_live_face`)."""
        if self.camera is None:
            raise NoCameraError()
        with self._camera_lock:
            return capture_live_face(self.camera, checker, quality, on_instruction=on_instruction)

    def live_capture(
        self,
        quality: FaceQualityChecker,
        idle_seconds: float = 20,
        checker: LivenessChecker | None = None,
    ) -> LiveCapture:
        """The camera opened for a live preview (see :class:`LiveCapture`), with the liveness
        challenge of ``checker`` when given."""
        return LiveCapture(self, quality, idle_seconds, checker)

    def scan_finger(self, position: int | None = None) -> FingerprintImage:
        """One image from the fingerprint scanner, opened for this capture only: the finger at
        ISO ``position``, as the operator asked the person (the scanner hears it first)."""
        if self.scanner is None:
            raise NoScannerError()
        with self._scanner_lock:
            self.scanner.expect(position)
            with self.scanner as scanner:
                return scanner.capture(timeout=self.settings.scanner_timeout)

    def read_card(self, access: AccessKey) -> ChipDocument:
        """The ID card on the reader, its chip opened with the access key from its MRZ."""
        if self.card_reader is None:
            raise NoCardReaderError()
        with self._card_lock:
            return self.card_reader.read_document(access, timeout=self.settings.card_timeout)

    def check(self) -> dict[str, Any]:
        """Open each configured device briefly and say whether it answers (URLs without
        credentials)."""

        def camera() -> dict[str, Any]:
            assert self.camera is not None
            with self._camera_lock, self.camera as opened:
                return {"description": opened.info().description}

        def scanner() -> dict[str, Any]:
            assert self.scanner is not None
            with self._scanner_lock, self.scanner as opened:
                return {"info": opened.info().to_json()}

        def card_reader() -> dict[str, Any]:
            assert self.card_reader is not None
            return {"readers": self.card_reader.list_readers()}

        return {
            "camera": _probe(self.settings.camera_url, camera),
            "scanner": _probe(self.settings.scanner_url, scanner),
            "card_reader": _probe(self.settings.card_reader_url, card_reader),
        }

    def urls(self) -> dict[str, str | None]:
        """The configured device URLs, fit to show (no credentials)."""
        return {
            "camera": redacted(self.settings.camera_url) or None,
            "scanner": redacted(self.settings.scanner_url) or None,
            "card_reader": redacted(self.settings.card_reader_url) or None,
        }


def _probe(url: str, check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if not url:
        return {"configured": False}
    shown = redacted(url)
    try:
        return {"configured": True, "url": shown, "ok": True, **check()}
    except (DriverError, OSError, ValueError) as exc:
        return {
            "configured": True,
            "url": shown,
            "ok": False,
            "error": str(exc).replace(url, shown),
        }
