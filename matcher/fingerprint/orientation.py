"""The ridge orientation field of a fingerprint image, and how coherent it is.

A stage of its own because two others read it: extraction (it checked the network's direction
convention) and the image quality score (its coherence is one of the features).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray


def orientation_field(
    gray: NDArray[np.uint8], block: int = 16
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Ridge orientation (radians in [0, pi), pixel coordinates) and coherence, per pixel."""
    image = gray.astype(np.float32)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    gxx = cv2.GaussianBlur(gx * gx, (0, 0), block / 2)
    gyy = cv2.GaussianBlur(gy * gy, (0, 0), block / 2)
    gxy = cv2.GaussianBlur(gx * gy, (0, 0), block / 2)
    orientation = (0.5 * np.arctan2(2 * gxy, gxx - gyy) + math.pi / 2) % math.pi
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / np.maximum(gxx + gyy, 1e-6)
    return orientation.astype(np.float64), coherence.astype(np.float64)
