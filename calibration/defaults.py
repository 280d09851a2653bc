"""Default operating thresholds, with the measurement behind each.

Face thresholds depend on the face encoder that made the templates (``face_encoder`` setting,
:mod:`matcher.face.engines`): :data:`FACE_THRESHOLDS` holds one pair per encoder. Measured on LFW
dev (`../shared/datasets/faces/lfw_dev`, 444 people). These are starting points until a station
loads a calibration file measured on its own population (``station calibrate face``). Face
distances are Euclidean between 128-d templates: lower means more alike.
"""

from dataclasses import dataclass


class CalibrationError(Exception):
    """A calibration could not be computed or loaded."""

    code = "calibration_error"


# dlib (face_recognition's ResNet, 3,475 photos with a face, no jitter):
# 1:1 verification (is this the person of that record / that chip photo?).
# On all 40,469 genuine and 5,995,606 impostor LFW-dev pairs: FMR 0.14%, FNMR 8.1% at 0.55
# (face_recognition's own default of 0.6 gives FMR 0.69%, FNMR 2.2%).
DEFAULT_FACE_VERIFY_THRESHOLD = 0.55

# 1:N identification (is this person anywhere in the gallery?). Every enrolled person is one
# more chance of a false match, so the threshold is stricter than for 1:1. With 355 people
# enrolled and 695 probes of 89 never-enrolled people: FPIR 3.2%, FNIR 21.6% at 0.5
# (at 0.55: FPIR 18.6%, FNIR 7.2%). Face alone is a weak 1:N modality; fingerprints carry it.
DEFAULT_FACE_IDENTIFY_THRESHOLD = 0.5


@dataclass(frozen=True)
class FaceThresholds:
    """One face encoder's default 1:1 and 1:N distance thresholds."""

    verify: float
    identify: float


FACE_THRESHOLDS = {
    "dlib": FaceThresholds(DEFAULT_FACE_VERIFY_THRESHOLD, DEFAULT_FACE_IDENTIFY_THRESHOLD),
    # SFace (YuNet + SFace int8, 3,488 photos, a face found in every one), all 40,636 genuine and
    # 6,040,692 impostor pairs: FMR 0.1% at 1.1285 (cosine 0.363) with FNMR 0.98%; FMR 0.01% at
    # 1.078 with FNMR 1.72%. LFW may overlap SFace's training people and holds few faces of this
    # country's population, so both defaults sit stricter than the measured points: 1:1 at 1.10
    # (FMR 0.028%, FNMR 1.30% on LFW dev), 1:N at 1.05 (FMR 0.003%, FNMR 2.51%; with 1,000
    # people enrolled about 3% of never-enrolled probes would meet someone by face alone, as
    # dlib's 0.5 gave at 355).
    "sface": FaceThresholds(verify=1.10, identify=1.05),
}

# Fingerprint 1:1 (MCC similarity of one finger, 0-1: higher means more alike). On all 1,288
# genuine and 16,320 impostor pairs of FVC2002 DB1_B, DB2_B, DB3_B and UPEK (same-set pairs only),
# no impostor scored above 0.042: FMR 0 (below 1 in 16,320, so at most about 2e-4 at 95%
# confidence) and FNMR 1.9% at 0.05; FMR 0.012%, FNMR 1.1% at 0.035; FMR 0.049%, FNMR 0.23% at
# 0.0274 (`station calibrate fingerprint`'s choice for FMR 0.1% on DB1-3_B). 0.05 leaves a margin
# for sensors and populations we have not measured.
DEFAULT_FINGERPRINT_VERIFY_THRESHOLD = 0.05
