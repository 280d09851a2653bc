"""Liveness by an active challenge: the person is asked to turn the head or to blink, and the
frames must show that movement, by the same person, with one face throughout.

What tells a head from a photo is parallax: when a head turns, the nose tip (in front of the
eyes) moves sideways relative to the eye midpoint, while the eye distance shrinks only a little.
A flat photo moved, rotated or scaled in plane keeps the nose where it was relative to the eyes;
a flat photo tilted about a vertical axis shrinks every horizontal distance alike, so the nose
stays near the eye midpoint while the eye distance shrinks a lot. The yaw measure here is the
nose tip's offset from the eye midpoint along the eye line, divided by the eye distance (after
undoing the roll), from YuNet's five points; positive means toward the person's own left.

A blink is seen from the eye patches around YuNet's eye points: the share of dark pixels (iris
and pupil) times the vertical edge energy (the lid line against the eye), relative to the open
eyes at the start. YuNet has no eyelid points, so this is the weaker test (see the README's
"Liveness" for what it measured); the default challenge asks for turns only.

Pure computation on RGB frames: no camera, no station. Every threshold is in
:class:`LivenessThresholds`.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from matcher.face.encoder import check_rgb, subjects
from matcher.face.pose import Geometry, geometry
from matcher.face.sface import Detection, SFaceRecognizer, YuNetDetector

log = logging.getLogger(__name__)

Action = Literal["turn_left", "turn_right", "blink"]
ACTIONS: tuple[Action, ...] = ("turn_left", "turn_right", "blink")
TURNS: tuple[Action, ...] = ("turn_left", "turn_right")

# What is said to the person, and what the operator is told to ask of them.
INSTRUCTIONS: dict[Action, str] = {
    "turn_left": "turn your head to your left, then look back at the camera",
    "turn_right": "turn your head to your right, then look back at the camera",
    "blink": "close both eyes for a moment, then open them",
}
ASKS: dict[Action, str] = {
    "turn_left": "turn their head to their left, then look back at the camera",
    "turn_right": "turn their head to their right, then look back at the camera",
    "blink": "close both eyes for a moment, then open them",
}


@dataclass(frozen=True)
class Challenge:
    """The action asked of the person."""

    action: Action

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}: one of {', '.join(ACTIONS)}")

    @property
    def instruction(self) -> str:
        """What the operator says to the person, in English (the console translates it)."""
        return INSTRUCTIONS[self.action]

    @property
    def ask(self) -> str:
        """The same for the operator: "ask the person to ..." and this."""
        return ASKS[self.action]

    @classmethod
    def random(
        cls, actions: Sequence[Action] = TURNS, rng: random.Random | None = None
    ) -> Challenge:
        """A challenge drawn from ``actions``: by ``rng`` when given (seeded, for tests), else by
        :mod:`secrets`, so nobody can predict which action comes next."""
        if not actions:
            raise ValueError("give at least one action to choose from")
        for action in actions:
            cls(action)
        chosen = rng.choice(list(actions)) if rng is not None else secrets.choice(list(actions))
        return cls(chosen)


@dataclass(frozen=True)
class LivenessThresholds:
    """Every number the check decides by (yaw values are the nose offset over the eye distance;
    a turn of about 20 degrees gives 0.15 to 0.2 on ORL's faces)."""

    #: The change of yaw from the start, in the asked direction, that counts as a turn, in
    #: this many frames in a row (one frame past it is landmark noise, not a turn).
    turn_yaw: float = 0.1
    turn_frames: int = 2
    #: Back toward frontal: the yaw change falls to this share of its peak (or to frontal_yaw).
    return_share: float = 0.5
    frontal_yaw: float = 0.04
    #: The first frame's yaw must lie within this of zero: the person looks at the camera first.
    start_yaw_limit: float = 0.25
    #: Below these the frames count as still (no movement at all).
    still_yaw: float = 0.03
    still_openness: float = 0.15
    #: In-plane movement that, without a turn, marks a photo moved in front of the camera:
    #: the face centre travelling this many eye distances, the roll changing by these degrees,
    #: or the eye distance changing by this share.
    moved_travel: float = 0.4
    moved_roll_degrees: float = 6.0
    moved_scale: float = 0.12
    #: Flat photo tilted to fake a turn: at the turn's peak the eye distance over the
    #: eye-to-mouth height may shrink at most this much more than a head turned that far
    #: would shrink it (cos of the turn angle, the angle from yaw = nose_depth * sin).
    nose_depth: float = 0.45
    flat_margin: float = 0.1
    #: Blink: the eye openness falls to this share of the start's, then comes back above the
    #: second share.
    blink_closed: float = 0.7
    blink_open: float = 0.85
    #: The same person throughout: SFace distance to the first frame at most this (cosine 0.36;
    #: ORL's genuine pairs reach 1.12 at most, across pose and lighting).
    same_person_distance: float = 1.13
    #: Compare the identity every this many frames (and at the turn and the last frame).
    identity_every: int = 3
    #: Frames without a face allowed (a face lost for a moment); one more fails the check.
    max_faceless_frames: int = 2
    #: The whole movement must be done within this many seconds of the first frame.
    max_seconds: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.still_yaw < self.turn_yaw:
            raise ValueError("need 0 < still_yaw < turn_yaw")
        if not 0 < self.return_share < 1 or not 0 < self.blink_closed < self.blink_open <= 1:
            raise ValueError("need 0 < return_share < 1 and 0 < blink_closed < blink_open <= 1")
        if (
            self.turn_frames < 1
            or self.identity_every < 1
            or self.max_faceless_frames < 0
            or self.max_seconds <= 0
        ):
            raise ValueError(
                "need turn_frames >= 1, identity_every >= 1, max_faceless_frames >= 0, max_seconds > 0"
            )

    def to_json(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


def eye_openness(pixels: NDArray[np.uint8], detection: Detection) -> float:
    """How open the eyes look: the face brought to a 60 px eye distance, eyes level; in a patch
    around each eye, the share of pixels darker than the face's mean less one deviation (iris,
    pupil, lashes) times the mean vertical gradient over the face's deviation. Compare it with
    the same person's open eyes only."""
    import cv2

    grey = cv2.cvtColor(check_rgb(pixels), cv2.COLOR_RGB2GRAY)
    left, right = detection.points[0], detection.points[1]
    across = right - left
    distance = max(float(math.hypot(across[0], across[1])), 1e-6)
    middle = (left + right) / 2
    turn = cv2.getRotationMatrix2D(
        (float(middle[0]), float(middle[1])),
        math.degrees(math.atan2(across[1], across[0])),
        60.0 / distance,
    )
    turn[0, 2] += 100 - middle[0]
    turn[1, 2] += 60 - middle[1]
    level = cv2.warpAffine(
        grey, turn, (200, 120), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    ).astype(np.float32)
    face = level[40:110, 50:150]
    spread = float(face.std()) + 1e-6
    dark_below = float(face.mean()) - spread
    patches = [level[48:72, 52:88], level[48:72, 112:148]]
    dark = float(np.mean([np.mean(patch < dark_below) for patch in patches]))
    edges = float(np.mean([np.abs(np.diff(patch, axis=0))[:, 6:30].mean() for patch in patches]))
    return dark * edges / spread


@dataclass(frozen=True)
class Observation:
    """One frame as the check saw it (``faces`` 0: nothing else is measured)."""

    at: float
    faces: int
    yaw: float | None = None  # change from the first frame, positive toward the person's left
    openness: float | None = None  # share of the first frame's
    distance: float | None = None  # SFace distance to the first frame, where compared
    geometry: Geometry | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "at": round(self.at, 3),
            "faces": self.faces,
            "yaw": None if self.yaw is None else round(self.yaw, 4),
            "openness": None if self.openness is None else round(self.openness, 4),
            "distance": None if self.distance is None else round(self.distance, 4),
        }


Code = Literal[
    "passed",
    "no_frames",
    "no_face",
    "not_frontal",
    "face_lost",
    "several_faces",
    "face_changed",
    "wrong_direction",
    "no_movement",
    "moved_not_turned",
    "not_far_enough",
    "no_return",
    "flat_turn",
    "no_blink",
]


def reason_words(code: Code, challenge: Challenge) -> str:
    """What the operator reads for a verdict code: what happened and what to do."""
    side = {"turn_left": "left", "turn_right": "right"}.get(challenge.action, "")
    other = {"left": "right", "right": "left"}.get(side, "")
    return {
        "passed": "the person moved as asked: a live face",
        "no_frames": "the camera gave no frame: check the camera and start again",
        "no_face": "no face in front of the camera: ask the person to look at the camera",
        "not_frontal": "the person did not look straight at the camera at the start: ask them "
        "to look at it, then start again",
        "face_lost": "the face left the camera during the check: ask the person to stay in "
        "front of it and start again",
        "several_faces": "more than one face in front of the camera: only the person being "
        "checked may be seen; start again",
        "face_changed": "the face changed during the check: only the person being checked may "
        "stand in front of the camera; start again",
        "wrong_direction": f"the head turned to the {other}, not to the {side}: start again and "
        f"ask the person to turn their head to the {side}",
        "no_movement": f"no movement: a photo cannot pass; ask the person to {challenge.ask}",
        "moved_not_turned": "the face moved but did not turn: a photo moved in front of the "
        f"camera cannot pass; ask the person to {challenge.ask}",
        "not_far_enough": f"the head did not turn far enough to the {side}: ask the person to "
        "turn it clearly, then look back at the camera",
        "no_return": "the head turned but did not come back in time: ask the person to look at "
        "the camera again right after turning",
        "flat_turn": "the face flattened instead of turning: a tilted photo cannot pass; start "
        "again",
        "no_blink": "no blink was seen: ask the person to close both eyes for a moment, then "
        "open them, facing the camera",
    }[code]


@dataclass(frozen=True)
class LivenessVerdict:
    """Passed or not, the reason in the operator's words, and every measure behind it."""

    challenge: Challenge
    code: Code
    observations: tuple[Observation, ...] = field(repr=False)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.code == "passed"

    @property
    def reason(self) -> str:
        return reason_words(self.code, self.challenge)

    @property
    def identity_distance(self) -> float | None:
        """SFace distance between the first frame with a face and the last one compared."""
        compared = [o.distance for o in self.observations if o.distance is not None]
        return compared[-1] if compared else None

    @property
    def peak_yaw(self) -> float:
        yaws = [o.yaw for o in self.observations if o.yaw is not None]
        return max(yaws, key=abs) if yaws else 0.0

    def to_json(self) -> dict[str, object]:
        faced = [o for o in self.observations if o.faces]
        distances = [o.distance for o in self.observations if o.distance is not None]
        return {
            "passed": self.passed,
            "code": self.code,
            "reason": self.reason,
            "action": self.challenge.action,
            "frames": len(self.observations),
            "seconds": round(self.seconds, 3),
            "peak_yaw": round(self.peak_yaw, 4),
            "identity_distance": None
            if self.identity_distance is None
            else round(self.identity_distance, 4),
            "max_identity_distance": round(max(distances), 4) if distances else None,
            "yaw_track": [round(o.yaw, 3) for o in faced if o.yaw is not None],
            "openness_track": [round(o.openness, 3) for o in faced if o.openness is not None],
            "track": [o.to_json() for o in self.observations],
        }


class LivenessChecker:
    """Feed frames with :meth:`add` until :attr:`verdict` is set (passed, or failed for good),
    or call :meth:`finish` when the frames end or time is up.

    One checker serves one challenge. The first frame with one face is the start: its pose,
    eye openness and SFace template are what later frames are compared with.
    """

    def __init__(
        self,
        challenge: Challenge,
        thresholds: LivenessThresholds | None = None,
        detector: YuNetDetector | None = None,
        recognizer: SFaceRecognizer | None = None,
    ) -> None:
        self.challenge = challenge
        self.thresholds = thresholds or LivenessThresholds()
        self.detector = detector or YuNetDetector()
        self.recognizer = recognizer or SFaceRecognizer()
        self.observations: list[Observation] = []
        self.verdict: LivenessVerdict | None = None
        self._start: Geometry | None = None
        self._start_openness = 0.0
        self._template: NDArray[np.float32] | None = None
        self._first_at: float | None = None
        self._faceless = 0
        self._peak: Observation | None = None  # the turn past turn_yaw, at its largest
        self._beyond = 0  # frames in a row past turn_yaw, toward the asked side (or away: < 0)
        self._closed = False  # blink: the eyes were seen closed

    @property
    def decided(self) -> bool:
        return self.verdict is not None

    def add(self, pixels: NDArray[np.uint8], at: float) -> Observation:
        """Measure one RGB frame taken at ``at`` seconds (any clock, the same for every frame)."""
        if self.verdict is not None:
            raise ValueError("this check is decided: start a new challenge")
        if self._first_at is None:
            self._first_at = at
        if at - self._first_at > self.thresholds.max_seconds:
            self.finish()
            return Observation(at=at, faces=0)
        found = self.detector.detect(pixels)
        observation = self._observe(pixels, at, found)
        self.observations.append(observation)
        if self.verdict is None:
            self._step(observation, found)
        return observation

    def check(self, frames: Iterable[tuple[NDArray[np.uint8], float]]) -> LivenessVerdict:
        """The verdict over a whole sequence of ``(pixels, at)``, stopping once decided."""
        for pixels, at in frames:
            self.add(pixels, at)
            if self.verdict is not None:
                return self.verdict
        return self.finish()

    def finish(self) -> LivenessVerdict:
        """The verdict now: passed if already, else why the frames so far do not pass."""
        if self.verdict is None:
            self._decide(self._failure_at_end())
        assert self.verdict is not None
        return self.verdict

    # -- one frame ---------------------------------------------------------------------------

    def _observe(self, pixels: NDArray[np.uint8], at: float, found: list[Detection]) -> Observation:
        if not found:
            return Observation(at=at, faces=0)
        face = found[0]
        shape = geometry(face.points)
        openness = eye_openness(pixels, face)
        if self._start is None:
            self._start, self._start_openness = shape, openness
            self._template = self.recognizer.feature(pixels, face)
            return Observation(at, len(found), 0.0, 1.0, 0.0, shape)
        yaw = shape.yaw - self._start.yaw
        relative = openness / self._start_openness if self._start_openness > 1e-6 else 1.0
        index = sum(1 for o in self.observations if o.faces)
        distance = None
        if index % self.thresholds.identity_every == 0 or self._is_event(yaw, relative):
            distance = self._distance(pixels, face)
        return Observation(at, len(found), yaw, relative, distance, shape)

    def _is_event(self, yaw: float, openness: float) -> bool:
        """A frame the verdict may rest on: its identity is always compared."""
        limits = self.thresholds
        if self.challenge.action == "blink":
            return openness <= limits.blink_closed or (
                self._closed and openness >= limits.blink_open
            )
        return abs(yaw) >= limits.turn_yaw or self._peak is not None

    def _distance(self, pixels: NDArray[np.uint8], face: Detection) -> float:
        assert self._template is not None
        template = self.recognizer.feature(pixels, face)
        return float(np.linalg.norm(template - self._template))

    def _step(self, seen: Observation, found: list[Detection]) -> None:
        limits = self.thresholds
        if seen.faces == 0:
            self._faceless += 1
            if self._start is not None and self._faceless > limits.max_faceless_frames:
                self._decide("face_lost")
            return
        if self._second_face(found):
            self._decide("several_faces")
            return
        if seen.distance is not None and seen.distance > limits.same_person_distance:
            self._decide("face_changed")
            return
        assert self._start is not None and seen.yaw is not None and seen.openness is not None
        if len([o for o in self.observations if o.faces]) == 1:
            if abs(self._start.yaw) > limits.start_yaw_limit:
                self._decide("not_frontal")
            return
        if self.challenge.action == "blink":
            self._step_blink(seen.openness)
        else:
            self._step_turn(seen)

    def _second_face(self, found: list[Detection]) -> bool:
        # The capture's rule: a face under half the largest's width is someone far behind.
        return len(subjects([d.box for d in found])) > 1

    def _step_turn(self, seen: Observation) -> None:
        limits = self.thresholds
        assert seen.yaw is not None
        toward = seen.yaw if self.challenge.action == "turn_left" else -seen.yaw
        if self._peak is None:
            if toward >= limits.turn_yaw:
                self._beyond = max(self._beyond, 0) + 1
            elif toward <= -limits.turn_yaw:
                self._beyond = min(self._beyond, 0) - 1
            else:
                self._beyond = 0
            if self._beyond <= -limits.turn_frames:
                self._decide("wrong_direction")
            elif self._beyond >= limits.turn_frames:
                self._peak = max(self.observations[-limits.turn_frames :], key=self._toward)
            return
        peak = self._toward(self._peak)
        if toward > peak:
            self._peak = seen
            return
        if toward <= max(limits.return_share * peak, limits.frontal_yaw):
            self._decide("flat_turn" if self._flat(self._peak) else "passed")

    def _toward(self, seen: Observation) -> float:
        yaw = seen.yaw or 0.0
        return yaw if self.challenge.action == "turn_left" else -yaw

    def _flat(self, peak: Observation) -> bool:
        """Did the face narrow more at the peak than a head turned that far would?"""
        assert self._start is not None and peak.geometry is not None and peak.yaw is not None
        limits = self.thresholds
        sine = min(1.0, abs(peak.yaw) / limits.nose_depth)
        expected = math.sqrt(1.0 - sine * sine)
        narrowed = peak.geometry.width_ratio / max(self._start.width_ratio, 1e-6)
        return narrowed < expected - limits.flat_margin

    def _step_blink(self, openness: float) -> None:
        limits = self.thresholds
        if not self._closed:
            self._closed = openness <= limits.blink_closed
        elif openness >= limits.blink_open:
            self._decide("passed")

    # -- the end -----------------------------------------------------------------------------

    def _failure_at_end(self) -> Code:
        limits = self.thresholds
        faced = [o for o in self.observations if o.faces and o.geometry is not None]
        if not self.observations:
            return "no_frames"
        if not faced:
            return "no_face"
        yaws = [abs(o.yaw or 0.0) for o in faced]
        openness = [o.openness or 1.0 for o in faced]
        if self.challenge.action == "blink":
            if (
                max(yaws) < limits.still_yaw
                and max(openness) - min(openness) < limits.still_openness
            ):
                return "no_movement"
            return "no_blink"
        if self._peak is not None:
            return "no_return"
        if max(yaws) < limits.still_yaw:
            return "moved_not_turned" if self._moved_in_plane(faced) else "no_movement"
        if self._moved_in_plane(faced) and max(yaws) < limits.turn_yaw / 2:
            return "moved_not_turned"
        return "not_far_enough"

    def _moved_in_plane(self, faced: list[Observation]) -> bool:
        limits = self.thresholds
        first = faced[0].geometry
        assert first is not None
        for seen in faced[1:]:
            shape = seen.geometry
            assert shape is not None
            travel = math.dist(shape.centre, first.centre) / max(first.eye_distance, 1e-6)
            roll = abs((shape.roll - first.roll + 180) % 360 - 180)
            scale = abs(shape.eye_distance / max(first.eye_distance, 1e-6) - 1)
            if (
                travel >= limits.moved_travel
                or roll >= limits.moved_roll_degrees
                or scale >= limits.moved_scale
            ):
                return True
        return False

    def _decide(self, code: Code) -> None:
        first = self.observations[0].at if self.observations else 0.0
        last = self.observations[-1].at if self.observations else first
        self.verdict = LivenessVerdict(self.challenge, code, tuple(self.observations), last - first)
        log.info(
            "liveness %s: %s after %d frames", self.challenge.action, code, len(self.observations)
        )
