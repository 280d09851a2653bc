"""An NFIQ2-like image quality score, 0-100, for asking the person for another impression.

Like NFIQ 2 it combines features of the foreground into one number meant to predict matching
utility: foreground area, orientation certainty (coherence of the gradient field), the number of
minutiae and the extractor's mean confidence in them. Each feature is mapped to 0-1 by a logistic
curve and the score is 100 times their weighted geometric mean (constants in
:mod:`matcher.fingerprint.params`). It is not NIST's NFIQ 2 (no trained random forest, not its
scale). On the dev sets its Spearman correlation with an image's mean genuine score is 0.33
overall (DB1_B -0.05, DB2_B 0.39, DB3_B 0.38, UPEK 0.36), measured on the data it was tuned on;
ridge contrast was dropped because it correlated negatively.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from matcher.fingerprint.orientation import orientation_field
from matcher.fingerprint.params import PARAMS, Params


def _logistic(value: float, middle: float, width: float) -> float:
    return 1.0 / (1.0 + math.exp(-(value - middle) / width))


def quality_features(
    gray: NDArray[np.uint8], mask: NDArray[np.bool_], *, minutiae: int, confidence: float = 0.0
) -> dict[str, float]:
    """The features the score rests on (area in pixels at 500 dpi)."""
    area = float(mask.sum())
    if area == 0:
        return {
            "area": 0.0,
            "coherence": 0.0,
            "contrast": 0.0,
            "minutiae": float(minutiae),
            "confidence": confidence,
        }
    _, coherence = orientation_field(gray)
    pixels = gray[mask].astype(np.float64)
    return {
        "area": area,
        "coherence": float(np.mean(coherence[mask])),
        "contrast": float(pixels.std()),
        "minutiae": float(minutiae),
        "confidence": confidence,
    }


def image_quality(
    gray: NDArray[np.uint8],
    mask: NDArray[np.bool_],
    *,
    minutiae: int,
    confidence: float,
    p: Params = PARAMS,
) -> int:
    """Quality 0 (unusable) to 100 (excellent) of a 500 dpi image, its foreground mask, its
    minutia count and the extractor's mean confidence in them (0-100)."""
    f = quality_features(gray, mask, minutiae=minutiae, confidence=confidence)
    if f["area"] == 0 or minutiae == 0:
        return 0
    parts = (
        (_logistic(f["area"], p.quality_area_mid, p.quality_area_width), p.quality_area_weight),
        (
            _logistic(f["coherence"], p.quality_coherence_mid, p.quality_coherence_width),
            p.quality_coherence_weight,
        ),
        (
            _logistic(f["minutiae"], p.quality_minutiae_mid, p.quality_minutiae_width),
            p.quality_minutiae_weight,
        ),
        (
            _logistic(f["confidence"], p.quality_confidence_mid, p.quality_confidence_width),
            p.quality_confidence_weight,
        ),
    )
    total = sum(w for _, w in parts)
    log_mean = sum(w * math.log(max(v, 1e-6)) for v, w in parts) / total
    return round(100 * math.exp(log_mean))
