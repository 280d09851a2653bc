"""Camera intrinsics from photos of a printed chessboard (OpenCV).

Each photo is searched for the board's inner corners (``pattern`` = corners per row x per
column, 9x6 for OpenCV's sample board), refined to sub-pixel accuracy; ``cv2.calibrateCamera``
then fits the camera matrix and distortion to every view. The RMS reprojection error says how
well they fit: below about 0.5 px is good, above 1 px a photo is blurred or the board not flat.
Take 10 to 20 photos with the board tilted and in every part of the frame.

Pure OpenCV on the camera's own pictures: ``station calibrate camera`` writes the result into
``calibration.json`` (``devices.camera``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm"})
MIN_VIEWS = 3


class IntrinsicsError(ValueError):
    """The photos or the pattern cannot give the camera's intrinsics; the message says why."""


def parse_pattern(text: str) -> tuple[int, int]:
    """``"9x6"`` -> (9, 6): inner corners per row and per column."""
    try:
        columns, rows = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise IntrinsicsError(
            f"pattern {text!r} must be COLUMNSxROWS of inner corners, e.g. 9x6"
        ) from None
    if columns < 3 or rows < 3:
        raise IntrinsicsError(f"pattern {text!r}: a board needs at least 3x3 inner corners")
    return columns, rows


def board_points(pattern: tuple[int, int], square: float = 1.0) -> NDArray[np.float32]:
    """The inner corners on the board plane (z = 0), row by row, in units of ``square``."""
    columns, rows = pattern
    grid = np.zeros((rows * columns, 3), np.float32)
    grid[:, :2] = np.mgrid[0:columns, 0:rows].T.reshape(-1, 2) * square
    return grid


def find_corners(gray: NDArray[np.uint8], pattern: tuple[int, int]) -> NDArray[np.float32] | None:
    """The board's inner corners in one grey image, sub-pixel refined; None if not found."""
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    found, corners = cv2.findChessboardCorners(gray, pattern, flags=flags)
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    refined = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)
    return np.asarray(refined, dtype=np.float32)


@dataclass(frozen=True)
class CameraIntrinsics:
    matrix: NDArray[np.float64]  # 3x3: fx, fy, cx, cy
    distortion: NDArray[np.float64]  # k1, k2, p1, p2, k3
    image_size: tuple[int, int]  # width, height
    reprojection_error: float  # RMS, pixels
    views: list[str]
    rejected: list[str] = field(default_factory=list)  # photos where no board was found

    def to_json(self) -> dict[str, Any]:
        return {
            "matrix": self.matrix.tolist(),
            "distortion": self.distortion.reshape(-1).tolist(),
            "image_size": list(self.image_size),
            "reprojection_error": self.reprojection_error,
            "views": len(self.views),
            "rejected": self.rejected,
        }


def calibrate_views(
    views: Sequence[tuple[str, NDArray[np.uint8]]], pattern: tuple[int, int], square: float = 1.0
) -> CameraIntrinsics:
    """Intrinsics from named grey images of the board, all of one size."""
    sizes = {image.shape[:2] for _, image in views}
    if len(sizes) > 1:
        raise IntrinsicsError(
            f"photos of different sizes {sorted(sizes)}: use one camera resolution"
        )
    object_points, image_points, used, rejected = [], [], [], []
    for name, image in views:
        corners = find_corners(image, pattern)
        if corners is None:
            rejected.append(name)
            continue
        object_points.append(board_points(pattern, square))
        image_points.append(corners)
        used.append(name)
    if len(used) < MIN_VIEWS:
        raise IntrinsicsError(
            f"the {pattern[0]}x{pattern[1]} board was found in {len(used)} of {len(views)} photos, "
            f"at least {MIN_VIEWS} are needed: check --pattern (inner corners, not squares) and "
            "take sharp photos with the whole board in the frame"
        )
    height, width = next(iter(sizes))
    rms, matrix, distortion, _, _ = cv2.calibrateCamera(
        object_points, image_points, (width, height), None, None
    )
    log.info("camera calibrated on %d views, RMS reprojection error %.3f px", len(used), rms)
    return CameraIntrinsics(
        np.asarray(matrix, dtype=np.float64),
        np.asarray(distortion, dtype=np.float64).reshape(-1),
        (width, height),
        float(rms),
        used,
        rejected,
    )


def calibrate_folder(
    folder: Path, pattern: tuple[int, int], square: float = 1.0
) -> CameraIntrinsics:
    """Intrinsics from every chessboard photo in ``folder``."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise IntrinsicsError(f"{folder} holds no photos of the chessboard")
    views = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise IntrinsicsError(f"{path} is not an image OpenCV can read")
        views.append((path.name, np.asarray(image, dtype=np.uint8)))
    return calibrate_views(views, pattern, square)
