"""Thresholds from measured error rates.

For now this package holds the default operating thresholds the station starts with and where
they came from, and the face identification evaluation; measured calibration files replace the
defaults later.
"""

from calibration.defaults import (
    DEFAULT_FACE_IDENTIFY_THRESHOLD,
    DEFAULT_FACE_VERIFY_THRESHOLD,
    CalibrationError,
)

__all__ = ["DEFAULT_FACE_IDENTIFY_THRESHOLD", "DEFAULT_FACE_VERIFY_THRESHOLD", "CalibrationError"]
