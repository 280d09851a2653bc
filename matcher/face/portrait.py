"""The token portrait: a face cropped and aligned to a fixed geometry.

Geometry of the ISO/IEC 19794-5 "token" face image, which ICAO-style portraits follow: for an
image ``width`` W, the height is W / 0.75, the eyes are level, their midpoint is at (0.5 W, 0.6 W)
from the top-left corner and they are 0.25 W apart. Every stored and matched portrait then has
the same scale and position, whatever camera and distance it came from.

Only Pillow and numpy: the matcher does not depend on OpenCV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from matcher.errors import MatcherError

Point = tuple[float, float]
# Where the portrait has no picture (the face was near the frame's edge): neutral grey.
FILL = (128, 128, 128)


@dataclass(frozen=True)
class PortraitGeometry:
    """Where the eyes go in the output image. ``width`` 360 gives 360x480 with eyes 90 px apart
    (ICAO 9303's recommended minimum for a portrait)."""

    width: int = 360

    def __post_init__(self) -> None:
        if self.width < 32 or self.width % 4:
            raise ValueError("the portrait width must be a multiple of 4, at least 32 pixels")

    @property
    def height(self) -> int:
        return round(self.width / 0.75)

    @property
    def eye_distance(self) -> float:
        return 0.25 * self.width

    @property
    def eyes(self) -> tuple[Point, Point]:
        """(eye on the image's left, eye on the image's right) in output pixels."""
        mid_x, mid_y = 0.5 * self.width, 0.6 * self.width
        half = self.eye_distance / 2
        return (mid_x - half, mid_y), (mid_x + half, mid_y)


def eye_centres(landmarks: NDArray[np.float64]) -> tuple[Point, Point]:
    """Centres of the two eyes: (image-left eye, image-right eye), from dlib's 68 landmarks (the
    means of each eye's six) or YuNet's five (the first two)."""
    if landmarks.shape == (5, 2):
        a, b = landmarks[0], landmarks[1]
    elif landmarks.shape == (68, 2):
        a = landmarks[36:42].mean(axis=0)
        b = landmarks[42:48].mean(axis=0)
    else:
        raise MatcherError(f"expected 68 or 5 landmarks (N x 2), got {landmarks.shape}")
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    return (float(left[0]), float(left[1])), (float(right[0]), float(right[1]))


def _affine(
    source_eyes: tuple[Point, Point], target_eyes: tuple[Point, Point]
) -> NDArray[np.float64]:
    """The 2x3 similarity matrix taking target (output) pixels to source pixels."""
    (sx0, sy0), (sx1, sy1) = source_eyes
    (tx0, ty0), (tx1, ty1) = target_eyes
    source_len = math.hypot(sx1 - sx0, sy1 - sy0)
    target_len = math.hypot(tx1 - tx0, ty1 - ty0)
    if source_len < 1e-6 or target_len < 1e-6:
        raise MatcherError("the two eyes are at the same place: no alignment possible")
    scale = source_len / target_len
    angle = math.atan2(sy1 - sy0, sx1 - sx0) - math.atan2(ty1 - ty0, tx1 - tx0)
    a, b = scale * math.cos(angle), -scale * math.sin(angle)
    d, e = scale * math.sin(angle), scale * math.cos(angle)
    c = sx0 - (a * tx0 + b * ty0)
    f = sy0 - (d * tx0 + e * ty0)
    return np.array([[a, b, c], [d, e, f]])


def warp_eyes(
    pixels: NDArray[np.uint8],
    source_eyes: tuple[Point, Point],
    target_eyes: tuple[Point, Point],
    size: tuple[int, int],
) -> NDArray[np.uint8]:
    """Resample ``pixels`` (RGB or grey uint8) so the eyes land on ``target_eyes`` in an image
    of ``size`` (width, height). Shrinking is done with an anti-aliasing resize first, so a face
    from a high-resolution camera is not aliased (which would fake sharpness)."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise MatcherError(f"expected uint8 pixels, got {pixels.dtype} {pixels.shape}")
    image = Image.fromarray(np.ascontiguousarray(pixels))
    matrix = _affine(source_eyes, target_eyes)
    scale = math.hypot(matrix[0, 0], matrix[1, 0])  # source pixels per output pixel
    if scale > 1.5:
        shrink = scale
        reduced = (
            max(1, round(image.width / shrink)),
            max(1, round(image.height / shrink)),
        )
        sx, sy = image.width / reduced[0], image.height / reduced[1]
        image = image.resize(reduced, Image.Resampling.LANCZOS)
        source_eyes = (
            (source_eyes[0][0] / sx, source_eyes[0][1] / sy),
            (source_eyes[1][0] / sx, source_eyes[1][1] / sy),
        )
        matrix = _affine(source_eyes, target_eyes)
    fill: int | tuple[int, int, int] = FILL if image.mode == "RGB" else FILL[0]
    warped = image.transform(
        size,
        Image.Transform.AFFINE,
        data=tuple(float(v) for v in matrix.ravel()),
        resample=Image.Resampling.BICUBIC,
        fillcolor=fill,
    )
    return np.asarray(warped, dtype=np.uint8).copy()


def portrait_coverage(
    frame_shape: tuple[int, ...], eyes: tuple[Point, Point], geometry: PortraitGeometry
) -> float:
    """Fraction (0..1) of the portrait that falls inside the camera frame (1.0: nothing cut)."""
    matrix = _affine(eyes, geometry.eyes)
    xs = np.linspace(0, geometry.width - 1, 36)
    ys = np.linspace(0, geometry.height - 1, 48)
    grid_x, grid_y = np.meshgrid(xs, ys)
    src_x = matrix[0, 0] * grid_x + matrix[0, 1] * grid_y + matrix[0, 2]
    src_y = matrix[1, 0] * grid_x + matrix[1, 1] * grid_y + matrix[1, 2]
    height, width = frame_shape[:2]
    inside = (src_x >= 0) & (src_x <= width - 1) & (src_y >= 0) & (src_y <= height - 1)
    return float(inside.mean())


def token_portrait(
    pixels: NDArray[np.uint8],
    landmarks: NDArray[np.float64],
    geometry: PortraitGeometry | None = None,
) -> NDArray[np.uint8]:
    """The token portrait (RGB, ``geometry.width`` x ``geometry.height``) of the face whose 68
    landmarks are given: eyes level, at a fixed place and distance."""
    geometry = geometry or PortraitGeometry()
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise MatcherError(f"expected RGB uint8 pixels, got {pixels.dtype} {pixels.shape}")
    return warp_eyes(
        pixels, eye_centres(landmarks), geometry.eyes, (geometry.width, geometry.height)
    )
