"""Live face capture with quality: grab frames until one passes the checks, or time runs out.

The camera is opened for this capture only and closed before returning. Each frame is assessed
and then dropped, except the best one so far: nothing else of the session is kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from drivers.camera import Camera, CameraError, Frame
from drivers.errors import DriverError
from matcher.face.quality import FaceQualityChecker, QualityReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureResult:
    """The chosen frame, its quality verdict and its token portrait (None without a face)."""

    frame: Frame
    report: QualityReport
    portrait: NDArray[np.uint8] | None = field(repr=False)
    frames_seen: int
    seconds: float

    @property
    def accepted(self) -> bool:
        return self.report.accepted

    def to_json(self) -> dict[str, object]:
        return {
            **self.report.to_json(),
            "frames": self.frames_seen,
            "seconds": round(self.seconds, 3),
            "frame": {
                "width": self.frame.width,
                "height": self.frame.height,
                "source": self.frame.source,
                "metadata": self.frame.metadata,
            },
        }


def capture_face(
    camera: Camera,
    checker: FaceQualityChecker,
    timeout: float = 10.0,
    max_frames: int | None = None,
) -> CaptureResult:
    """Open ``camera``, assess frames until one is accepted (or ``timeout`` seconds or
    ``max_frames`` frames), close it, and return the best frame with every measure.

    The best frame is the accepted one, else the one with the fewest reasons to refuse it (then
    the largest face): its reasons tell the operator what to change. A camera that stops
    delivering (a video's end, a timeout) ends the attempt; if it delivered nothing at all, its
    error is raised.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if max_frames is not None and max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    started = time.monotonic()
    deadline = started + timeout
    best: tuple[Frame, QualityReport] | None = None
    seen = 0
    with camera:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (max_frames is not None and seen >= max_frames):
                break
            try:
                frame = camera.capture(timeout=remaining)
            except DriverError as exc:
                if best is None:
                    raise
                log.info("camera %s stopped after %d frames: %s", camera.url, seen, exc)
                break
            seen += 1
            report = checker.assess(frame.pixels)
            log.debug("frame %d: %s", seen, report.reason_codes or "accepted")
            if best is None or report.rank() > best[1].rank():
                best = (frame, report)
            del frame  # a refused frame that is not the best is gone now
            if report.accepted:
                break
    if best is None:  # the timeout passed before the first frame was asked for
        raise CameraError(f"camera {camera.url}: no frame captured within {timeout:g} s")
    frame, report = best
    portrait = checker.portrait(frame.pixels, report) if report.landmarks is not None else None
    seconds = time.monotonic() - started
    log.info(
        "face capture from %s: %s after %d frames in %.2f s",
        camera.url,
        "accepted" if report.accepted else f"refused ({', '.join(report.reason_codes)})",
        seen,
        seconds,
    )
    return CaptureResult(frame, report, portrait, seen, seconds)
