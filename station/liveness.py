"""A live face with the active liveness challenge: the camera is opened for the challenge only,
every frame goes to the :class:`~matcher.face.liveness.LivenessChecker`, and the portrait is taken
from a frontal frame of that same session (so the photo kept is of the face that moved).

Frames are measured and dropped; only a few frontal candidates are held until the verdict, and
only the chosen one is returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from drivers.camera import Camera, CameraError, Frame
from drivers.errors import DriverError
from matcher.face.liveness import (
    ACTIONS,
    Action,
    Challenge,
    LivenessChecker,
    LivenessVerdict,
    Observation,
)
from matcher.face.quality import FaceQualityChecker, QualityReport
from station.errors import StationError

log = logging.getLogger(__name__)

CANDIDATES = 3  # frontal frames held for the portrait: the first and the latest ones


class LivenessFailedError(StationError):
    """The person did not pass the liveness challenge; the message says what to do."""

    code = "liveness_failed"

    def __init__(self, verdict: LivenessVerdict) -> None:
        self.verdict = verdict
        self.reason_code = verdict.code
        super().__init__(f"the liveness check failed: {verdict.reason}")


@dataclass(frozen=True)
class LiveFaceResult:
    """The challenge's verdict and, when it passed, the chosen frame with its quality verdict
    and token portrait (None when no frontal frame passed the quality checks)."""

    verdict: LivenessVerdict
    frame: Frame | None = field(default=None, repr=False)
    report: QualityReport | None = None
    portrait: NDArray[np.uint8] | None = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.verdict.passed and self.portrait is not None

    def to_json(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "liveness": self.verdict.to_json(),
            "quality": None if self.report is None else self.report.to_json(),
            "seconds": round(self.seconds, 3),
        }


def parse_actions(text: str) -> tuple[Action, ...]:
    """``"turn_left,turn_right"`` -> the actions, or ValueError listing the valid ones."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    wrong = [part for part in chosen if part not in ACTIONS]
    if not chosen or wrong:
        raise ValueError(
            f"liveness actions {text!r}: give one or more of {', '.join(ACTIONS)}, comma-separated"
        )
    return tuple(action for action in ACTIONS if action in chosen)


class ChallengeRun:
    """One challenge over frames as they come (the CLI's loop, the console's preview): each
    frame goes to the checker, a few frontal ones are held for the portrait."""

    def __init__(self, checker: LivenessChecker, quality: FaceQualityChecker) -> None:
        self.checker = checker
        self.quality = quality
        self.frames = 0
        self._candidates: list[Frame] = []

    @property
    def decided(self) -> bool:
        return self.checker.decided

    def feed(self, frame: Frame) -> Observation:
        self.frames += 1
        observed = self.checker.add(frame.pixels, frame.captured_at)
        frontal = abs(observed.yaw or 0.0) <= self.checker.thresholds.frontal_yaw
        if observed.faces == 1 and frontal:
            self._candidates = _keep(self._candidates, frame)
        return observed

    def result(self, seconds: float) -> LiveFaceResult:
        """The verdict now, and the portrait when it passed; the held frames are dropped."""
        verdict = self.checker.finish()
        result = LiveFaceResult(verdict, seconds=seconds)
        if verdict.passed:
            result = _with_portrait(result, self._candidates, self.quality)
        self._candidates = []
        return result


def capture_live_face(
    camera: Camera,
    checker: LivenessChecker,
    quality: FaceQualityChecker,
    timeout: float | None = None,
    on_instruction: Callable[[Challenge], None] | None = None,
) -> LiveFaceResult:
    """Tell the person the challenge (``on_instruction``), open ``camera``, feed its frames to
    ``checker`` until it decides or ``timeout`` seconds pass (default: the checker's window
    and two seconds), close the camera, and pick the portrait among the frontal frames.

    A camera that stops delivering ends the challenge (its verdict then says what was missing);
    a camera that delivered nothing raises its error.
    """
    limit = checker.thresholds.max_seconds + 2.0 if timeout is None else timeout
    if limit <= 0:
        raise ValueError("timeout must be positive")
    if on_instruction is not None:
        on_instruction(checker.challenge)
    started = time.monotonic()
    deadline = started + limit
    run = ChallengeRun(checker, quality)
    with camera:
        while not run.decided and time.monotonic() < deadline:
            try:
                frame = camera.capture(timeout=max(deadline - time.monotonic(), 0.05))
            except DriverError as exc:
                if run.frames == 0:
                    raise
                log.info("camera %s stopped after %d frames: %s", camera.url, run.frames, exc)
                break
            run.feed(frame)
            del frame
    if run.frames == 0:
        raise CameraError(f"camera {camera.url}: no frame captured within {limit:g} s")
    result = run.result(time.monotonic() - started)
    log.info(
        "live face from %s: liveness %s, portrait %s, %d frames in %.2f s",
        camera.url,
        result.verdict.code,
        "kept" if result.portrait is not None else "none",
        run.frames,
        result.seconds,
    )
    return result


def _keep(candidates: list[Frame], frame: Frame) -> list[Frame]:
    """The first frontal frame and the latest ones, at most :data:`CANDIDATES`."""
    if len(candidates) < CANDIDATES:
        return [*candidates, frame]
    return [candidates[0], *candidates[2:], frame]


def _with_portrait(
    result: LiveFaceResult, candidates: list[Frame], quality: FaceQualityChecker
) -> LiveFaceResult:
    best: tuple[Frame, QualityReport] | None = None
    for frame in reversed(candidates):  # the latest first: the person looks back at the camera
        report = quality.assess(frame.pixels)
        if best is None or report.rank() > best[1].rank():
            best = (frame, report)
        if report.accepted:
            break
    if best is None:
        return result
    frame, report = best
    portrait = quality.portrait(frame.pixels, report) if report.accepted else None
    return LiveFaceResult(result.verdict, frame, report, portrait, result.seconds)
