"""The fingerprint scanner interface every backend implements.

The public methods check state, validate arguments, log, and reconnect after a lost link; a
backend implements small hooks (``_open``, ``_close``, ``_info``, ``_take_image``,
``_check_image``, ``_upload_image``, ``_set_led``, ``_expect``), the template-method shape of the camera
drivers and of pyscard's ``transmit``/``doTransmit``.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivers.device import Device
from drivers.fingerprint.errors import (
    CaptureCancelledError,
    FingerNotRemovedError,
    NoFingerError,
    NotSupportedError,
    ScannerDisconnectedError,
    ScannerError,
)
from drivers.fingerprint.models import ModelProfile

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05  # seconds between two "is there a finger?" images while waiting
LED_MODES = ("breathing", "flashing", "on", "off", "fade_in", "fade_out")
LED_COLORS = ("red", "blue", "purple")


@dataclass(frozen=True)
class ScannerInfo:
    """What a technician needs to know about a scanner, read from the module where it can be."""

    backend: str
    url: str
    model: str
    width: int
    height: int
    dpi: int
    baudrate: int
    packet_size: int
    library_size: int
    security_level: int
    address: int
    has_led: bool
    description: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["address"] = f"0x{self.address:08X}"
        return data


@dataclass(frozen=True)
class FingerprintImage:
    """One captured fingerprint: grey uint8 pixels (height x width), ridges dark."""

    pixels: NDArray[np.uint8]
    dpi: int
    model: str
    captured_at: float
    seconds: float  # from the first image command to the last pixel received
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


class FingerprintScanner(Device, ABC):
    """A fingerprint scanner; use it as a context manager: ``with scanner: scanner.capture()``.

    ``capture``, ``wait_for_finger`` and ``wait_for_removal`` may be cancelled from another thread
    with ``cancel()``. After the link was lost (:class:`ScannerDisconnectedError`), the next call
    reopens the device first, so an operator can simply try again once the cable is back.
    """

    backend = "abstract"

    def __init__(self, url: str, profile: ModelProfile) -> None:
        self.url = url
        self.profile = profile
        self._is_open = False
        self._lost = False
        self._cancelled = threading.Event()
        self._lock = threading.RLock()

    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        with self._lock:
            if self._is_open:
                return
            self._open()
            self._is_open = True
            self._lost = False
            log.debug("scanner %s opened", self.url)

    def close(self) -> None:
        with self._lock:
            if not self._is_open:
                return
            try:
                self._close()
            finally:
                self._is_open = False
                log.debug("scanner %s closed", self.url)

    def info(self) -> ScannerInfo:
        with self._session():
            return self._info()

    def capture(self, timeout: float = 10.0) -> FingerprintImage:
        """Wait up to ``timeout`` seconds for a finger, then take and transfer its image.

        The transfer itself has its own limit, set by the backend from the line speed.
        Raises :class:`NoFingerError`, :class:`~drivers.fingerprint.errors.PoorImageError`,
        :class:`CaptureCancelledError` or another :class:`ScannerError`.
        """
        _check_timeout(timeout)
        with self._session():
            self._cancelled.clear()
            started = time.monotonic()
            self._wait(timeout, finger=True)
            self._check_image()
            pixels, metadata = self._upload_image()
            seconds = time.monotonic() - started
            if pixels.dtype != np.uint8 or pixels.ndim != 2:
                raise ScannerError(
                    f"scanner backend {self.backend} returned {pixels.dtype} {pixels.shape}, "
                    "expected a uint8 grey image"
                )
            log.info(
                "scanner %s captured %dx%d in %.3f s",
                self.url,
                pixels.shape[1],
                pixels.shape[0],
                seconds,
            )
            return FingerprintImage(
                pixels=pixels,
                dpi=self.profile.dpi,
                model=self.profile.name,
                captured_at=time.time(),
                seconds=seconds,
                source=self.url,
                metadata=metadata,
            )

    def wait_for_finger(self, timeout: float = 10.0) -> None:
        """Return once a finger is on the glass; :class:`NoFingerError` after ``timeout``."""
        _check_timeout(timeout)
        with self._session():
            self._cancelled.clear()
            self._wait(timeout, finger=True)

    def wait_for_removal(self, timeout: float = 10.0) -> None:
        """Return once the glass is empty; :class:`FingerNotRemovedError` after ``timeout``."""
        _check_timeout(timeout)
        with self._session():
            self._cancelled.clear()
            self._wait(timeout, finger=False)

    def expect(self, position: int | None) -> None:
        """The finger the operator asked for next (ISO/IEC 19794-2 position 1-10, None: any).

        A hint, called before :meth:`capture`: a real scanner cannot tell fingers apart and does
        nothing with it; the simulated one puts that finger of the person at the station on the
        glass.
        """
        if position is not None and not (
            isinstance(position, int) and not isinstance(position, bool) and 1 <= position <= 10
        ):
            raise ValueError(f"finger position {position!r} is not an ISO position 1-10")
        self._expect(position)

    def cancel(self) -> None:
        """Stop a wait for a finger (or for its removal) running in another thread.

        An image transfer already under way is not interrupted: it is short and bounded.
        """
        self._cancelled.set()

    def set_led(self, mode: str = "on", color: str = "blue", speed: int = 100) -> None:
        """Drive the LED ring where the model has one (R503): ``mode`` in ``LED_MODES``."""
        if mode not in LED_MODES:
            raise ValueError(f"LED mode {mode!r}; valid modes: {', '.join(LED_MODES)}")
        if color not in LED_COLORS:
            raise ValueError(f"LED color {color!r}; valid colors: {', '.join(LED_COLORS)}")
        if not 0 <= speed <= 255:
            raise ValueError("LED speed must be 0..255")
        with self._session():
            if not self.profile.aura_led:
                raise NotSupportedError(f"the {self.profile.name} has no controllable LED")
            self._set_led(mode, color, speed)

    # --- internals ------------------------------------------------------------------------------

    def _session(self) -> _Session:
        return _Session(self)

    def _wait(self, timeout: float, finger: bool) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._cancelled.is_set():
                raise CaptureCancelledError()
            if self._take_image() == finger:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if finger:
                    raise NoFingerError(timeout)
                raise FingerNotRemovedError(timeout)
            if self._cancelled.wait(min(POLL_INTERVAL, remaining)):
                raise CaptureCancelledError()

    def _reconnect(self) -> None:
        log.warning("scanner %s: reopening after the link was lost", self.url)
        try:
            self._close()
        except ScannerError:
            log.debug("closing the lost link failed", exc_info=True)
        self._open()
        self._lost = False

    # --- hooks ----------------------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _info(self) -> ScannerInfo: ...

    @abstractmethod
    def _take_image(self) -> bool:
        """Take one image; True if a finger was on the glass, False if it was empty."""

    @abstractmethod
    def _check_image(self) -> None:
        """Let the module judge the image just taken; raise PoorImageError if it is unusable."""

    @abstractmethod
    def _upload_image(self) -> tuple[NDArray[np.uint8], dict[str, Any]]:
        """Transfer the image just taken; return its pixels and metadata about the transfer."""

    def _set_led(self, mode: str, color: str, speed: int) -> None:
        raise NotSupportedError("this scanner has no controllable LED")

    def _expect(self, position: int | None) -> None:
        """Learn which finger comes next; real scanners have no use for it."""


class _Session:
    """Hold the scanner's lock for one public call, check it is open, note a lost link."""

    def __init__(self, scanner: FingerprintScanner) -> None:
        self.scanner = scanner

    def __enter__(self) -> None:
        scanner = self.scanner
        scanner._lock.acquire()
        try:
            if not scanner._is_open:
                raise ScannerError(f"scanner {scanner.url} is not open: use it as `with scanner:`")
            if scanner._lost:
                scanner._reconnect()
        except BaseException:
            scanner._lock.release()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if isinstance(exc, ScannerDisconnectedError):
                self.scanner._lost = True
        finally:
            self.scanner._lock.release()


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError("timeout must be positive")
