"""Clips for the simulated camera: a sequence of a person's photos, and the presentation attacks
a liveness check must refuse, made from one photo (a printed photo held in front of the camera).

Each function returns RGB frames (height x width x 3, uint8) for :meth:`SimulatedCamera.play`.
:func:`framed` puts a genuine clip's photos on a plain 640 x 480 scene; the attacks put one photo
there, as a print held before a wall would be:

- :func:`still_photo`: held still (a hand's tremor of a fraction of a pixel, sensor noise);
- :func:`moved_photo`: moved, rotated and scaled in plane (toward the camera and back);
- :func:`tilted_photo`: turned about a vertical axis in perspective, to fake a head turn.

A tilted flat photo is not a head turn: every point of it lies in one plane, so the nose never
moves in front of the eyes. That is what the check relies on, and why a perspective warp of a
photo must never be used as a genuine clip.
"""

from __future__ import annotations

import math
import random

import numpy as np
from numpy.typing import NDArray

SCENE = (480, 640)  # height, width
WALL = (186, 180, 170)


def _scene() -> NDArray[np.uint8]:
    pixels = np.empty((*SCENE, 3), dtype=np.uint8)
    pixels[:] = WALL
    return pixels


def _noisy(pixels: NDArray[np.uint8], rng: random.Random, sigma: float = 2.0) -> NDArray[np.uint8]:
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, sigma, pixels.shape)
    return np.clip(pixels.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _placed(photo: NDArray[np.uint8], height: int) -> tuple[NDArray[np.float64], tuple[int, int]]:
    """The affine map putting ``photo`` at ``height`` pixels tall in the middle of the scene."""
    scale = height / photo.shape[0]
    width = photo.shape[1] * scale
    left, top = (SCENE[1] - width) / 2, (SCENE[0] - height) / 2
    return np.array([[scale, 0.0, left], [0.0, scale, top]]), (round(width), height)


def _warp(photo: NDArray[np.uint8], matrix: NDArray[np.float64]) -> NDArray[np.uint8]:
    """``photo`` drawn on the scene through a 2x3 affine or 3x3 perspective ``matrix``."""
    import cv2

    size = (SCENE[1], SCENE[0])
    full = matrix if matrix.shape == (3, 3) else np.vstack([matrix, [0.0, 0.0, 1.0]])
    drawn = cv2.warpPerspective(photo, full, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        np.full(photo.shape[:2], 255, np.uint8), full, size, flags=cv2.INTER_NEAREST
    )
    scene = _scene()
    scene[mask > 0] = drawn[mask > 0]
    return scene


def framed(photos: list[NDArray[np.uint8]], height: int = 224) -> list[NDArray[np.uint8]]:
    """Each photo of a genuine clip in the middle of the scene, ``height`` pixels tall (ORL's
    92 x 112 photos as a 640 x 480 camera would see the person)."""
    return [_warp(photo, _placed(photo, height)[0]) for photo in photos]


def still_photo(
    photo: NDArray[np.uint8], frames: int = 12, height: int = 300, seed: int = 0
) -> list[NDArray[np.uint8]]:
    """The photo held still: a tremor of up to half a pixel, and sensor noise."""
    rng = random.Random(seed)
    place, _ = _placed(photo, height)
    clip = []
    for _ in range(frames):
        shaken = place.copy()
        shaken[:, 2] += [rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)]
        clip.append(_noisy(_warp(photo, shaken), rng))
    return clip


def moved_photo(
    photo: NDArray[np.uint8],
    frames: int = 16,
    height: int = 260,
    travel: float = 80.0,
    roll_degrees: float = 15.0,
    scale: float = 0.25,
    seed: int = 0,
) -> list[NDArray[np.uint8]]:
    """The photo moved in plane: out to one side and back, rolled and brought nearer and back
    (a smooth path, random in its direction), what an attacker does to look alive."""
    import cv2

    rng = random.Random(seed)
    place, _ = _placed(photo, height)
    direction = rng.choice((-1.0, 1.0))
    clip = []
    for index in range(frames):
        phase = math.sin(math.pi * index / max(frames - 1, 1))  # 0 -> 1 -> 0
        angle = direction * roll_degrees * phase
        grow = 1.0 + scale * phase
        centre = (SCENE[1] / 2, SCENE[0] / 2)
        spin = cv2.getRotationMatrix2D(centre, angle, grow)
        moved = spin @ np.vstack([place, [0.0, 0.0, 1.0]])
        moved[0, 2] += direction * travel * phase + rng.uniform(-1, 1)
        moved[1, 2] += 0.3 * travel * phase + rng.uniform(-1, 1)
        clip.append(_noisy(_warp(photo, moved), rng))
    return clip


def tilt_matrix(
    photo_shape: tuple[int, ...], height: int, degrees: float, distance: float = 2.0
) -> NDArray[np.float64]:
    """The perspective map of the photo, ``height`` pixels tall, turned ``degrees`` about its
    vertical middle line, seen by a pinhole camera ``distance`` photo heights away."""
    import cv2

    photo_height, photo_width = photo_shape[0], photo_shape[1]
    scale = height / photo_height
    focal = distance * height
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    corners = []
    for x, y in ((0, 0), (photo_width, 0), (photo_width, photo_height), (0, photo_height)):
        dx, dy = (x - photo_width / 2) * scale, (y - photo_height / 2) * scale
        depth = focal + dx * sin
        corners.append((SCENE[1] / 2 + focal * dx * cos / depth, SCENE[0] / 2 + focal * dy / depth))
    source = np.array(
        [[0, 0], [photo_width, 0], [photo_width, photo_height], [0, photo_height]], np.float32
    )
    return np.asarray(
        cv2.getPerspectiveTransform(source, np.array(corners, np.float32)), dtype=np.float64
    )


def tilted_photo(
    photo: NDArray[np.uint8],
    frames: int = 14,
    height: int = 300,
    degrees: float = 45.0,
    distance: float = 1.5,
    seed: int = 0,
) -> list[NDArray[np.uint8]]:
    """The photo turned about a vertical axis up to ``degrees`` and back, in perspective from
    ``distance`` photo heights (1.5: a print held close to the camera, the strongest effect)."""
    rng = random.Random(seed)
    clip = []
    for index in range(frames):
        phase = math.sin(math.pi * index / max(frames - 1, 1))
        matrix = tilt_matrix(photo.shape, height, degrees * phase, distance)
        clip.append(_noisy(_warp(photo, matrix), rng))
    return clip
