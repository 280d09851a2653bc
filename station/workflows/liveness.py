"""The face from the camera with the liveness challenge (setting ``liveness = "challenge"``):
one random action asked, the verdict audited, the portrait of the face that moved returned.

Every door reaches it the same way: ``FaceInput(capture=True)`` runs it when the setting is on,
``station camera liveness`` runs the challenge alone for a technician.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from matcher.face.liveness import Challenge, LivenessChecker
from matcher.face.sface import SFaceEncoder, SFaceRecognizer, YuNetDetector
from station.errors import CaptureRefusedError
from station.liveness import LiveFaceResult, LivenessFailedError, parse_actions
from station.security.roles import SYSTEM, Actor

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)


def challenge_checker(station: Station, challenge: Challenge | None = None) -> LivenessChecker:
    """A checker for ``challenge``, else for one drawn at random from ``liveness_actions``."""
    chosen = challenge or Challenge.random(parse_actions(station.settings.liveness_actions))
    encoder = station.encoder
    if isinstance(encoder, SFaceEncoder):  # the networks the station has loaded already
        return LivenessChecker(chosen, detector=encoder.detector, recognizer=encoder.recognizer)
    detector, recognizer = _networks()
    return LivenessChecker(chosen, detector=detector, recognizer=recognizer)


@cache
def _networks() -> tuple[YuNetDetector, SFaceRecognizer]:
    """YuNet and SFace for a station whose face encoder is dlib's: loaded once per process."""
    return YuNetDetector(), SFaceRecognizer()


def audit_liveness(station: Station, actor: Actor, result: LiveFaceResult) -> None:
    """One audit row per challenge: the action, the verdict code, the frames and the measures,
    never a picture."""
    verdict = result.verdict
    distance = verdict.identity_distance
    station.audit.append(
        actor.login,
        "liveness",
        outcome="passed" if verdict.passed else "failed",
        detail={
            "challenge": verdict.challenge.action,
            "code": verdict.code,
            "frames": len(verdict.observations),
            "peak_yaw": round(verdict.peak_yaw, 3),
            "identity_distance": None if distance is None else round(distance, 3),
            "portrait": result.portrait is not None,
        },
    )


def live_face_check(
    station: Station,
    actor: Actor = SYSTEM,
    challenge: Challenge | None = None,
    on_instruction: Callable[[Challenge], None] | None = None,
) -> LiveFaceResult:
    """Run one challenge (random from ``liveness_actions`` unless given) with the station's
    camera and audit its verdict."""
    checker = challenge_checker(station, challenge)
    result = station.devices.capture_live_face(station.quality, checker, on_instruction)
    audit_liveness(station, actor, result)
    return result


def live_face(
    station: Station,
    actor: Actor = SYSTEM,
    on_instruction: Callable[[Challenge], None] | None = None,
) -> NDArray[np.uint8]:
    """The token portrait of a face that passed the challenge, or :class:`LivenessFailedError`
    (what to ask of the person) / :class:`CaptureRefusedError` (the photo's quality)."""
    if on_instruction is None:
        on_instruction = _log_instruction
    result = live_face_check(station, actor, on_instruction=on_instruction)
    if not result.verdict.passed:
        raise LivenessFailedError(result.verdict)
    if result.portrait is None:
        reasons = [] if result.report is None else list(result.report.reasons)
        if not reasons:
            raise CaptureRefusedError(["no frontal frame to take the photo from"], ["no_face"])
        raise CaptureRefusedError([r.message for r in reasons], [r.code for r in reasons])
    return result.portrait


def _log_instruction(challenge: Challenge) -> None:
    log.warning("liveness challenge: ask the person to %s", challenge.ask)
