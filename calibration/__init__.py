"""Thresholds from measured error rates.

The default operating thresholds the station starts with (:mod:`calibration.defaults`), the
evaluations (``station eval``), and the calibration (``station calibrate``), in four layers:

- statistics: error rates with bootstrap intervals over subjects (:mod:`~calibration.error_rates`,
  :mod:`~calibration.bootstrap`, :mod:`~calibration.thresholds`, 1:N in
  :mod:`~calibration.identification`, FTA and FTE in :mod:`~calibration.enrollment`);
- one pipeline per modality, photos or prints -> templates (through the one disk cache,
  :mod:`~calibration.sample_cache`) -> scores: :mod:`~calibration.face_pipeline`,
  :mod:`~calibration.fingerprint_pipeline`;
- what the commands run on them: ``eval face`` (:mod:`~calibration.face_eval`), ``eval
  fingerprint`` (:mod:`~calibration.fingerprint_eval`, NBIS beside it from
  :mod:`~calibration.nbis_baseline`), ``calibrate face|fingerprint`` (:mod:`~calibration.runs`,
  plots and summary from :mod:`~calibration.report`), ``eval quality`` and ``calibrate capture``
  (:mod:`~calibration.capture_quality`);
- the versioned ``calibration.json`` a station loads at start instead of the defaults
  (:func:`load_calibration`; :func:`check_gallery_size` says when the gallery has outgrown it).

Camera intrinsics (``calibrate camera``) are the camera's own: :mod:`drivers.camera.intrinsics`.
Benchmarks (speed at scale) are not here: ``python -m benchmarks``.
"""

from calibration.calibration_file import Calibration, check_gallery_size, load_calibration
from calibration.defaults import (
    DEFAULT_FACE_IDENTIFY_THRESHOLD,
    DEFAULT_FACE_VERIFY_THRESHOLD,
    DEFAULT_FINGERPRINT_VERIFY_THRESHOLD,
    FACE_THRESHOLDS,
    CalibrationError,
    FaceThresholds,
)

__all__ = [
    "DEFAULT_FACE_IDENTIFY_THRESHOLD",
    "DEFAULT_FACE_VERIFY_THRESHOLD",
    "DEFAULT_FINGERPRINT_VERIFY_THRESHOLD",
    "FACE_THRESHOLDS",
    "Calibration",
    "CalibrationError",
    "FaceThresholds",
    "check_gallery_size",
    "load_calibration",
]
