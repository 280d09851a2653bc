"""The pose of a face from YuNet's five points: yaw as the nose tip's offset from the eye midpoint
along the eye line, in eye distances (the roll undone); roll; the eye distance and eye-to-mouth
height. The liveness challenge follows the yaw over frames; the capture quality check reads it
when the 68-point landmarks are off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Geometry:
    """What the five points say about one face's pose: yaw (positive toward the person's left),
    roll in degrees, eye distance and eye-to-mouth height in pixels, the centre."""

    yaw: float
    roll: float
    eye_distance: float
    height: float
    centre: tuple[float, float]

    @property
    def width_ratio(self) -> float:
        return self.eye_distance / max(self.height, 1e-6)


def geometry(five_points: NDArray[np.float64]) -> Geometry:
    """The pose measures of YuNet's five points (eyes, nose tip, mouth corners)."""
    points = np.asarray(five_points, dtype=np.float64)
    left, right, nose = points[0], points[1], points[2]
    mouth = (points[3] + points[4]) / 2
    across = right - left
    distance = float(math.hypot(across[0], across[1]))
    angle = math.atan2(across[1], across[0])
    cos, sin = math.cos(angle), math.sin(angle)
    middle = (left + right) / 2
    offset = nose - middle
    along = offset[0] * cos + offset[1] * sin  # along the eye line, toward the image's right
    drop = mouth - middle
    height = abs(-drop[0] * sin + drop[1] * cos)
    return Geometry(
        yaw=along / max(distance, 1e-6),
        roll=math.degrees(angle),
        eye_distance=distance,
        height=height,
        centre=(float(middle[0]), float(middle[1])),
    )
