"""Thresholds from measured error rates.

For now this package holds the default operating thresholds the station starts with and where
they came from; the measured calibration files replace them (see the calibration issue).
"""

from calibration.defaults import DEFAULT_FACE_THRESHOLD, CalibrationError

__all__ = ["DEFAULT_FACE_THRESHOLD", "CalibrationError"]
