"""The station's devices: a camera, a fingerprint scanner and an ID-card reader, each optional,
each opened for one capture and used by one request at a time.

The camera runs only while capturing (no continuous video): it is opened for a capture and closed
before the capture returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from drivers.camera import Camera, camera_for_url
from drivers.errors import DriverError
from drivers.fingerprint import FingerprintImage, FingerprintScanner, scanner_for_url
from drivers.idcard import AccessKey, CardReader, ChipDocument, card_reader_for_url
from drivers.urls import redacted
from matcher.face.quality import FaceQualityChecker
from station.capture import capture_face
from station.config import Settings
from station.errors import CaptureRefusedError, NoCameraError, NoCardReaderError, NoScannerError

if TYPE_CHECKING:
    from station.simulation import SimulatedDesk


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
        #: Who stands at the station, when the devices are simulated (``SimulatedDesk.attach``).
        self.desk: SimulatedDesk | None = None
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
