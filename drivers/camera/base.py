"""The camera interface every backend implements.

The public methods check state, log and map errors; a backend implements only ``_open``,
``_close`` and ``_grab`` (the template-method shape of pyscard's ``transmit``/``doTransmit``).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from drivers.device import Device
from drivers.errors import DriverError

log = logging.getLogger(__name__)


#: What the operator can ask the person to show the camera (:meth:`Camera.expect`).
SUBJECTS = ("face", "document")


class CameraError(DriverError):
    """A camera could not deliver a frame."""

    code = "camera_error"


@dataclass(frozen=True)
class Frame:
    """One captured picture: RGB uint8 pixels (height x width x 3) and where it came from."""

    pixels: NDArray[np.uint8]
    captured_at: float
    source: str
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True)
class CameraInfo:
    """What a technician needs to know about a camera."""

    backend: str
    url: str
    description: str


class Camera(Device, ABC):
    """A camera that is opened for a capture and closed right after.

    Use it as a context manager: ``with camera: frame = camera.capture()``. The object may be
    opened and closed many times; simulated backends keep their position between sessions.
    """

    backend = "abstract"

    def __init__(self, url: str) -> None:
        self.url = url
        self._is_open = False

    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        if self._is_open:
            return
        self._open()
        self._is_open = True
        log.debug("camera %s opened", self.url)

    def close(self) -> None:
        if not self._is_open:
            return
        try:
            self._close()
        finally:
            self._is_open = False
            log.debug("camera %s closed", self.url)

    def expect(self, subject: str) -> None:
        """What the operator asked the person to show for the next session: ``face`` (the
        default) or ``document`` (their ID card held to the camera).

        A hint, called before :meth:`open`: a real camera sees whatever is there and does
        nothing with it; the simulated one shows the card of the person standing there. It
        lasts until the camera is closed.
        """
        if subject not in SUBJECTS:
            raise ValueError(f"a camera is shown one of {', '.join(SUBJECTS)}, not {subject!r}")
        self._expect(subject)

    def _expect(self, subject: str) -> None:
        """A hint most backends ignore; those that can change what they show override it."""

    def capture(self, timeout: float = 5.0) -> Frame:
        """Return one RGB frame, or raise :class:`CameraError` / ``DeviceTimeoutError``."""
        if not self._is_open:
            raise CameraError(f"camera {self.url} is not open: use it as `with camera:`")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        started = time.monotonic()
        frame = self._grab(timeout)
        pixels = frame.pixels
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise CameraError(
                f"camera backend {self.backend} returned {pixels.dtype} {pixels.shape}, "
                "expected uint8 height x width x 3"
            )
        log.info(
            "camera %s captured %dx%d in %.3f s",
            self.url,
            frame.width,
            frame.height,
            time.monotonic() - started,
        )
        return frame

    @abstractmethod
    def info(self) -> CameraInfo:
        """Describe the camera."""

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _grab(self, timeout: float) -> Frame: ...
