"""A quick figure of how usable a captured image is, for technicians checking a scanner.

Not a matcher's quality score (no NFIQ): two plain statistics over 16x16-pixel blocks.

- ``foreground``: the fraction of blocks with ridges in them, i.e. whose grey levels spread
  (standard deviation above ``RIDGE_STD``); an empty or smudged glass gives close to 0,
  a well-placed finger covering the sensor close to 1.
- ``contrast``: over those blocks, the median of (95th - 5th percentile grey level) / 255,
  i.e. how dark the ridges are against the valleys; dry or faint fingers give low values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

BLOCK = 16
RIDGE_STD = 12.0  # grey levels: below this a block is flat (glass, or a smudge)


@dataclass(frozen=True)
class CaptureQuality:
    foreground: float
    contrast: float

    def to_json(self) -> dict[str, float]:
        return {key: round(value, 4) for key, value in asdict(self).items()}


def capture_quality(pixels: NDArray[np.uint8]) -> CaptureQuality:
    if pixels.ndim != 2 or min(pixels.shape) < BLOCK:
        raise ValueError(f"expected a grey image of at least {BLOCK}x{BLOCK}, got {pixels.shape}")
    rows, cols = pixels.shape[0] // BLOCK, pixels.shape[1] // BLOCK
    blocks = (
        pixels[: rows * BLOCK, : cols * BLOCK]
        .reshape(rows, BLOCK, cols, BLOCK)
        .swapaxes(1, 2)
        .reshape(rows * cols, BLOCK * BLOCK)
        .astype(np.float32)
    )
    ridged = blocks[blocks.std(axis=1) > RIDGE_STD]
    if not len(ridged):
        return CaptureQuality(foreground=0.0, contrast=0.0)
    spread = np.percentile(ridged, 95, axis=1) - np.percentile(ridged, 5, axis=1)
    return CaptureQuality(
        foreground=len(ridged) / len(blocks), contrast=float(np.median(spread)) / 255.0
    )
