"""Score-level fusion of a face and up to ten fingers: one log-likelihood ratio, one decision.

Each modality's raw score is mapped to a log-likelihood ratio (natural log),

    LLR(s) = ln f_genuine(t(s)) - ln f_impostor(t(s)),

with ``t`` a transform that makes both score distributions roughly normal (the face distance as it
is; the fingerprint similarity, bounded in [0, 1], by its logit) and ``f`` normal densities. The
fused score is the sum of the modalities' LLRs (the sum rule, which is the product rule for
likelihood ratios: it assumes the face and each finger err independently, which holds for the face
against a finger and roughly for different fingers). A missing modality contributes nothing, so
a face alone, a face and one finger, or ten fingers are all scored on the same scale, and a
clearly different finger counts *against* a match (its LLR is negative).

Each LLR is clipped to ``[-ln(genuine pairs measured), +ln(impostor pairs measured)]``: the
measurements cannot support odds beyond one in the number of comparisons seen, so no modality
claims more than its data can show (a Gaussian tail would otherwise give any distant score
absurd odds).

Decisions compare the fused LLR with a threshold: ``verify_threshold`` for 1:1 (ln 100 by
default: odds of 100 to 1 for the claimed identity), and for 1:N that threshold plus
``ln(gallery size)`` (the prior odds that one given enrolled person is the probe are 1 to N; see
Nandakumar, Chen, Dass, Jain, "Likelihood ratio-based biometric score fusion", TPAMI 2008, for
the rule, and :func:`identify_threshold`).

Where the numbers of :data:`FACE` and :data:`FINGER` come from:

- Face (distance between 128-d templates, lower is more alike), one model per face encoder
  (:data:`FACE_MODELS`): normal fits through two measured points of each tail, near where
  decisions are made, on all LFW-dev pairs. SFace (40,636 genuine, 6,040,692 impostor pairs):
  impostors FMR 0.1% at 1.1285 and 1% at 1.1864 give mean 1.3628, sd 0.0758; genuines FNMR 2.51%
  at 1.05 and 0.98% at 1.1285 give mean 0.6408, sd 0.2090 (the genuines' tail is wider than
  their bulk: a face alone reaches ln 100 at a distance of about 1.06). dlib (40,469 genuine,
  5,995,606 impostor pairs): impostors FMR 0.14% at 0.55 and 0.69% at 0.60 give mean 0.8339, sd
  0.0950; genuines FNMR 8.1% at 0.55 and 2.2% at 0.60 give mean 0.4364, sd 0.0812.
- Finger (MCC similarity of LEADER minutiae): on all pairs of FVC2002 DB1_B, DB2_B, DB3_B and
  UPEK (1,288 genuine, 16,320 cross-finger impostor pairs), logit scores; impostors fitted
  through their 99% and 99.9% quantiles (mean -4.756, sd 0.363; the bulk is narrower, the tail
  heavier than a normal), genuines through their 5% and 25% quantiles (mean -0.871, sd 0.985).
  One finger then has LLR 0 at a similarity of about 0.022 (0.16% of genuine and 0.09% of
  impostor pairs on the wrong side).

These are interim figures from small public sets; a calibration measured on the station's own
population (``station calibrate``) should replace them through :class:`FusionParams`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)
FINGER_POSITIONS = range(1, 11)  # ISO/IEC 19794-2: 1 right thumb ... 10 left little finger


@dataclass(frozen=True)
class ModalityModel:
    """How one modality's raw score becomes a log-likelihood ratio."""

    name: str
    transform: str  # "identity" or "logit"
    genuine_mean: float
    genuine_sd: float
    impostor_mean: float
    impostor_sd: float
    genuine_pairs: int  # how many comparisons the fits rest on: they bound the LLR
    impostor_pairs: int

    def __post_init__(self) -> None:
        if self.transform not in {"identity", "logit"}:
            raise ValueError(f"transform {self.transform!r} is not identity or logit")
        if self.genuine_sd <= 0 or self.impostor_sd <= 0:
            raise ValueError(f"{self.name}: standard deviations must be positive")
        if self.genuine_pairs < 1 or self.impostor_pairs < 1:
            raise ValueError(f"{self.name}: the fits need at least one pair of each kind")

    @property
    def llr_min(self) -> float:
        return -math.log(self.genuine_pairs)

    @property
    def llr_max(self) -> float:
        return math.log(self.impostor_pairs)


# See the module docstring for where these numbers come from.
FACE_MODELS = {
    "sface": ModalityModel("face", "identity", 0.6408, 0.2090, 1.3628, 0.0758, 40_636, 6_040_692),
    "dlib": ModalityModel("face", "identity", 0.4364, 0.0812, 0.8339, 0.0950, 40_469, 5_995_606),
}
FACE = FACE_MODELS["sface"]  # the default encoder's
FINGER = ModalityModel("finger", "logit", -0.871, 0.985, -4.756, 0.363, 1_288, 16_320)


@dataclass(frozen=True)
class FusionParams:
    """The modality models and the decision thresholds (fused LLR, natural log)."""

    face: ModalityModel = FACE
    finger: ModalityModel = FINGER
    verify_threshold: float = math.log(100)
    identify_threshold: float = math.log(100)  # before the gallery-size prior
    # The least the face's LLR may count for in the sum (None: as measured). De-duplication
    # sets 0 (see :func:`dedup_params`): the face then adds evidence but never clears matching
    # fingers.
    face_floor: float | None = None


def dedup_params(params: FusionParams = FusionParams()) -> FusionParams:
    """``params`` for de-duplication, where a face that disagrees does not count against fingers
    that match (``face_floor`` 0).

    The applicant who enrols twice controls the face far more than the fingers: a beard,
    glasses, ten years, another camera, a poor photo. A second LFW photo of the same person at
    distance 1.40 has an LLR of -7.5, enough to cancel most of two clearly matching fingers
    (MCC 0.45 and 0.25). Holding such a person costs a reviewer a look; clearing them costs a
    duplicate voter. The face still counts in full *for* a match, fingers still count against
    one, and the threshold is unchanged.
    """
    return replace(params, face_floor=0.0)


@dataclass(frozen=True)
class FusedScore:
    """The fused LLR and its parts: the face's (as measured, before any ``face_floor``) and
    each finger's (by ISO position)."""

    llr: float
    face: float | None = None
    fingers: Mapping[int, float] = field(default_factory=dict)

    @property
    def modalities(self) -> int:
        return (self.face is not None) + len(self.fingers)

    def to_json(self) -> dict[str, object]:
        return {
            "llr": round(self.llr, 3),
            "face_llr": None if self.face is None else round(self.face, 3),
            "finger_llr": {str(p): round(v, 3) for p, v in sorted(self.fingers.items())},
        }


def _normal_logpdf(x: float, mean: float, sd: float) -> float:
    z = (x - mean) / sd
    return -0.5 * z * z - math.log(sd) - LN_SQRT_2PI


def transformed(model: ModalityModel, score: float) -> float:
    if not math.isfinite(score):
        raise ValueError(f"{model.name} score {score!r} is not a finite number")
    if model.transform == "logit":
        p = min(max(score, 1e-6), 1 - 1e-6)
        return math.log(p / (1 - p))
    return score


def _raw_llr(model: ModalityModel, t: float) -> float:
    return _normal_logpdf(t, model.genuine_mean, model.genuine_sd) - _normal_logpdf(
        t, model.impostor_mean, model.impostor_sd
    )


def turning_point(model: ModalityModel) -> float | None:
    """Where the LLR (a parabola in the transformed score when the two spreads differ) turns.

    Beyond it the ratio of two normals turns back (for fingers: a similarity near 0 would look
    *genuine*, because the impostors' narrow normal falls faster than the genuines' wide one);
    :func:`llr` holds the value there on the side where it would turn back, so the LLR is
    monotonic in the score.
    """
    a = 1 / model.impostor_sd**2 - 1 / model.genuine_sd**2
    if a == 0:
        return None
    return (
        model.impostor_mean / model.impostor_sd**2 - model.genuine_mean / model.genuine_sd**2
    ) / a


def llr(model: ModalityModel, score: float) -> float:
    """The log-likelihood ratio (genuine against impostor) of one raw score: monotonic in the
    score (towards the genuine mean is more genuine) and clipped to what the data support."""
    t = transformed(model, score)
    turn = turning_point(model)
    if turn is not None:
        towards_genuine = 1.0 if model.genuine_mean > model.impostor_mean else -1.0
        opens_up = model.impostor_sd < model.genuine_sd  # a minimum: wrong beyond the impostors
        beyond = (t - turn) * towards_genuine
        if (opens_up and beyond < 0) or (not opens_up and beyond > 0):
            t = turn
    value = _raw_llr(model, t)
    return min(max(value, model.llr_min), model.llr_max)


def fuse(
    face_distance: float | None,
    finger_scores: Mapping[int, float],
    params: FusionParams = FusionParams(),
) -> FusedScore:
    """Sum the LLRs of whatever was compared: a face distance and/or finger similarities by
    ISO position (each finger at most once). With nothing compared the LLR is 0 (no evidence).
    The face counts for at least ``params.face_floor`` in the sum when that is set."""
    for position in finger_scores:
        if position not in FINGER_POSITIONS and position != 0:
            raise ValueError(f"finger position {position} is not an ISO position 1-10 (0 unknown)")
    face = None if face_distance is None else llr(params.face, face_distance)
    fingers = {int(p): llr(params.finger, s) for p, s in finger_scores.items()}
    counted = face or 0.0
    if face is not None and params.face_floor is not None:
        counted = max(counted, params.face_floor)
    return FusedScore(counted + sum(fingers.values()), face, fingers)


def identify_threshold(params: FusionParams, gallery_size: int) -> float:
    """The 1:N threshold: the 1:1 odds asked for, times the N enrolled people the probe could
    be by chance (prior odds 1:N), in logs."""
    return params.identify_threshold + math.log(max(1, gallery_size))


def decide(score: FusedScore, threshold: float) -> bool:
    """True when the fused evidence reaches the threshold and something was compared."""
    return score.modalities > 0 and score.llr >= threshold
