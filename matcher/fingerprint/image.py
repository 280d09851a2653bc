"""Grayscale image preparation: checks at the boundary and rescaling to the working resolution."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from matcher.errors import MatcherError
from matcher.fingerprint.params import PARAMS

log = logging.getLogger(__name__)

MIN_DPI = 300
MAX_DPI = 1000


def as_gray(image: NDArray[np.generic]) -> NDArray[np.uint8]:
    """A 2-D uint8 contiguous array; RGB input is converted to luminance."""
    array: NDArray[Any] = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = cv2.cvtColor(np.ascontiguousarray(array[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if array.ndim != 2:
        raise MatcherError(f"a fingerprint image must be 2-D grayscale, got shape {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and float(array.max()) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    if min(array.shape) < 64:
        raise MatcherError(f"a fingerprint image is at least 64x64 pixels, got {array.shape}")
    return np.ascontiguousarray(array)


def to_working_resolution(image: NDArray[np.generic], dpi: float) -> NDArray[np.uint8]:
    """Grayscale pixels rescaled from ``dpi`` to the working resolution (500 dpi)."""
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise MatcherError(f"resolution {dpi} dpi is outside {MIN_DPI}-{MAX_DPI}")
    gray = as_gray(image)
    scale = PARAMS.working_dpi / float(dpi)
    if abs(scale - 1.0) < 0.01:
        return gray
    height, width = gray.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(gray, size, interpolation=interpolation))
