"""Default operating thresholds, with the measurement behind each.

Measured on LFW dev (`../shared/datasets/faces/lfw_dev`, 3,475 photos with a face of 444 people,
templates from face_recognition's 5-point model, no jitter). These are starting points until a
station loads a calibration file measured on its own population (see the calibration issue).
Face distances are Euclidean between 128-d templates: lower means more alike.
"""


class CalibrationError(Exception):
    """A calibration could not be computed or loaded."""

    code = "calibration_error"


# 1:1 verification (is this the person of that record / that chip photo?).
# On all 40,469 genuine and 5,995,606 impostor LFW-dev pairs: FMR 0.14%, FNMR 8.1% at 0.55
# (face_recognition's own default of 0.6 gives FMR 0.69%, FNMR 2.2%).
DEFAULT_FACE_VERIFY_THRESHOLD = 0.55

# 1:N identification (is this person anywhere in the gallery?). Every enrolled person is one
# more chance of a false match, so the threshold is stricter than for 1:1. With 355 people
# enrolled and 695 probes of 89 never-enrolled people: FPIR 3.2%, FNIR 21.6% at 0.5
# (at 0.55: FPIR 18.6%, FNIR 7.2%). Face alone is a weak 1:N modality; fingerprints carry it.
DEFAULT_FACE_IDENTIFY_THRESHOLD = 0.5

# Fingerprint 1:1 (MCC similarity of one finger, 0-1: higher means more alike). On all 1,288
# genuine and 16,320 impostor pairs of FVC2002 DB1_B, DB2_B, DB3_B and UPEK (same-set pairs only),
# no impostor scored above 0.042: FMR 0 (below 1 in 16,320, so at most about 2e-4 at 95%
# confidence) and FNMR 1.9% at 0.05; FMR 0.012%, FNMR 1.1% at 0.035; FMR 0.049%, FNMR 0.23% at
# 0.0274 (`station calibrate fingerprint`'s choice for FMR 0.1% on DB1-3_B). 0.05 leaves a margin
# for sensors and populations we have not measured.
DEFAULT_FINGERPRINT_VERIFY_THRESHOLD = 0.05
