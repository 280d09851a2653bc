"""Camera intrinsics recovered from chessboard views rendered with a known camera."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from calibration.calibration_file import load_calibration
from drivers.camera.intrinsics import (
    IntrinsicsError,
    calibrate_folder,
    calibrate_views,
    parse_pattern,
)
from station.cli import main

SIZE = (640, 480)
K = np.array([[760.0, 0.0, 330.0], [0.0, 740.0, 236.0], [0.0, 0.0, 1.0]])
PATTERN = (9, 6)  # inner corners
SQUARE = 40  # pixels per square on the flat board texture
POSES = [  # rotation (radians, Rodrigues) and translation (board units: squares)
    ((0.0, 0.0, 0.0), (-4.5, -3.5, 16.0)),
    ((0.35, 0.0, 0.0), (-4.5, -3.0, 17.0)),
    ((-0.35, 0.1, 0.0), (-4.0, -3.5, 16.0)),
    ((0.0, 0.4, 0.1), (-5.0, -3.5, 17.0)),
    ((0.0, -0.4, -0.1), (-4.0, -3.5, 16.5)),
    ((0.3, 0.3, 0.2), (-4.5, -4.0, 18.0)),
    ((-0.3, -0.3, -0.2), (-4.5, -3.0, 18.0)),
    ((0.2, -0.35, 0.3), (-3.5, -3.0, 17.0)),
]


def board_texture() -> np.ndarray:
    """A chessboard of (9+1) x (6+1) squares with a white margin of one square."""
    columns, rows = PATTERN[0] + 1, PATTERN[1] + 1
    texture = np.full(((rows + 2) * SQUARE, (columns + 2) * SQUARE), 255, np.uint8)
    for r in range(rows):
        for c in range(columns):
            if (r + c) % 2 == 0:
                y, x = (r + 1) * SQUARE, (c + 1) * SQUARE
                texture[y : y + SQUARE, x : x + SQUARE] = 0
    return texture


def render(rotation: tuple[float, ...], translation: tuple[float, ...]) -> np.ndarray:
    """The board seen by camera K: its texture corners projected, the texture warped there."""
    texture = board_texture()
    h, w = texture.shape
    # texture pixel (x, y) is board point ((x - 2 * SQUARE) / SQUARE, ...): the first inner
    # corner (top left of the second square) is the board's origin
    corners_px = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    board = np.zeros((4, 3), np.float64)
    board[:, :2] = (corners_px - 2 * SQUARE) / SQUARE
    projected, _ = cv2.projectPoints(
        board, np.array(rotation), np.array(translation), K, np.zeros(5)
    )
    homography = cv2.getPerspectiveTransform(corners_px, projected.reshape(4, 2).astype(np.float32))
    image = cv2.warpPerspective(texture, homography, SIZE, flags=cv2.INTER_AREA, borderValue=200)
    return np.asarray(cv2.GaussianBlur(image, (3, 3), 0.6), dtype=np.uint8)


@pytest.fixture(scope="module")
def views() -> list[tuple[str, np.ndarray]]:
    return [(f"view{i}", render(r, t)) for i, (r, t) in enumerate(POSES)]


def test_the_camera_matrix_is_recovered_from_rendered_views(
    views: list[tuple[str, np.ndarray]],
) -> None:
    result = calibrate_views(views, PATTERN)
    assert len(result.views) == len(POSES) and not result.rejected
    assert result.image_size == SIZE
    fx, fy = result.matrix[0, 0], result.matrix[1, 1]
    cx, cy = result.matrix[0, 2], result.matrix[1, 2]
    assert fx == pytest.approx(K[0, 0], rel=0.02)
    assert fy == pytest.approx(K[1, 1], rel=0.02)
    assert cx == pytest.approx(K[0, 2], abs=8)
    assert cy == pytest.approx(K[1, 2], abs=8)
    assert result.reprojection_error < 0.3
    assert np.abs(result.distortion[:2]).max() < 0.1  # rendered without distortion


def test_photos_without_the_board_are_listed_and_too_few_views_refused(
    views: list[tuple[str, np.ndarray]],
) -> None:
    blank = np.full(SIZE[::-1], 128, np.uint8)
    result = calibrate_views([*views[:4], ("blank", blank)], PATTERN)
    assert result.rejected == ["blank"]
    with pytest.raises(IntrinsicsError, match="found in 2 of 3 photos"):
        calibrate_views([*views[:2], ("blank", blank)], PATTERN)
    with pytest.raises(IntrinsicsError, match="check --pattern"):
        calibrate_views(views[:4], (7, 7))


def test_patterns_are_columns_by_rows_of_inner_corners() -> None:
    assert parse_pattern("9x6") == (9, 6)
    for bad in ("9", "ax6", "2x6"):
        with pytest.raises(IntrinsicsError):
            parse_pattern(bad)


def test_the_command_writes_the_intrinsics_into_the_calibration_file(
    tmp_path: Path, views: list[tuple[str, np.ndarray]]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, image in views[:5]:
        cv2.imwrite(str(photos / f"{name}.png"), image)
    assert calibrate_folder(photos, PATTERN).views == [f"view{i}.png" for i in range(5)]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["calibrate", "camera", str(photos), "--pattern", "9x6", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "RMS reprojection error" in result.output
    camera = load_calibration(out / "calibration.json").camera
    assert camera is not None and camera.image_size == SIZE
    assert camera.matrix[0][0] == pytest.approx(K[0, 0], rel=0.03)
