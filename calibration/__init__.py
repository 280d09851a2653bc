"""Thresholds from measured error rates.

The default operating thresholds the station starts with (:mod:`calibration.defaults`), the
evaluations (``station eval``), and the calibration (``station calibrate``): error rates with
bootstrap intervals over subjects (:mod:`calibration.error_rates`, :mod:`calibration.thresholds`),
and the versioned ``calibration.json`` a station loads at start instead of the defaults
(:func:`load_calibration`; :func:`check_gallery_size` says when the gallery has outgrown it).
"""

from calibration.calibration_file import Calibration, check_gallery_size, load_calibration
from calibration.defaults import (
    DEFAULT_FACE_IDENTIFY_THRESHOLD,
    DEFAULT_FACE_VERIFY_THRESHOLD,
    DEFAULT_FINGERPRINT_VERIFY_THRESHOLD,
    CalibrationError,
)

__all__ = [
    "DEFAULT_FACE_IDENTIFY_THRESHOLD",
    "DEFAULT_FACE_VERIFY_THRESHOLD",
    "DEFAULT_FINGERPRINT_VERIFY_THRESHOLD",
    "Calibration",
    "CalibrationError",
    "check_gallery_size",
    "load_calibration",
]
