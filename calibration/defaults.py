"""Default operating thresholds, with the measurement behind each."""


class CalibrationError(Exception):
    """A calibration could not be computed or loaded."""

    code = "calibration_error"


# Euclidean distance between dlib face templates at or below which two faces are declared the
# same person. face_recognition's documented 1:1 default is 0.6; 1:N search over a gallery needs a
# stricter value because every enrolled person is a chance for a false match. 0.5 is the value
# measured on LFW dev by `station eval face` (see README: rank-1, FNIR and FPIR at this value).
DEFAULT_FACE_THRESHOLD = 0.5
