"""Our own classical extractor, kept for comparison with LEADER (see README's numbers).

Run by ``scripts/fingerprint_extractors.py own FOLDER``; not part of the matcher, so its
dependency (scikit-image's thinning) is a development one only.

Stages: segmentation, gradient orientation field, one ridge period per image from the spectrum,
16-orientation Gabor enhancement, binarisation, thinning, crossing-number minutiae, direction by
following the ridge, pruning of border minutiae and of close pairs (breaks, spurs, bridges).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage.morphology import skeletonize

from matcher.fingerprint.extract import segment
from matcher.fingerprint.orientation import orientation_field
from matcher.fingerprint.params import PARAMS, Params
from matcher.fingerprint.template import KIND_BIFURCATION, KIND_ENDING, FingerprintTemplate

_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def ridge_period(gray: NDArray[np.uint8], mask: NDArray[np.bool_]) -> float:
    """The dominant ridge period (pixels) of the foreground, from the 2-D power spectrum."""
    image = gray.astype(np.float32)
    image = np.where(mask, image - image[mask].mean(), 0)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(image))) ** 2
    h, w = spectrum.shape
    fy, fx = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    radius = np.hypot(fx / w, fy / h)
    band = (radius > 1 / 15) & (radius < 1 / 5)
    bins = np.linspace(1 / 15, 1 / 5, 40)
    power = np.histogram(radius[band], bins=bins, weights=spectrum[band])[0]
    best = int(np.argmax(power))
    return float(1.0 / ((bins[best] + bins[best + 1]) / 2))


def enhance(
    gray: NDArray[np.uint8],
    orientation: NDArray[np.float64],
    period: float,
    mask: NDArray[np.bool_],
) -> NDArray[np.float32]:
    """Gabor filter bank (16 orientations), each pixel taking the filter of its orientation."""
    image = gray.astype(np.float32)
    mean = cv2.blur(image, (32, 32))
    std = np.sqrt(np.maximum(cv2.blur(image * image, (32, 32)) - mean * mean, 1.0))
    norm = (image - mean) / std
    steps = 16
    size = round(period * 2) | 1
    responses = []
    for k in range(steps):
        angle = k * math.pi / steps  # ridge direction; the wave runs across it
        kernel = cv2.getGaborKernel(
            (size, size), period * 0.5, angle + math.pi / 2, period, 1.0, 0, ktype=cv2.CV_32F
        )
        kernel -= kernel.mean()
        responses.append(cv2.filter2D(norm, cv2.CV_32F, kernel))
    stack = np.stack(responses)
    index = np.round(orientation / (math.pi / steps)).astype(np.int64) % steps
    out = np.take_along_axis(stack, index[None], axis=0)[0]
    return np.asarray(np.where(mask, out, 0), dtype=np.float32)


def _trace(
    skeleton: NDArray[np.bool_], y: int, x: int, first: tuple[int, int], steps: int
) -> tuple[float, float]:
    """Follow a skeleton branch from (y, x) through ``first`` for ``steps`` pixels; end point."""
    h, w = skeleton.shape
    prev, cur = (y, x), (y + first[0], x + first[1])
    for _ in range(steps):
        nxt = None
        for dy, dx in _NEIGHBOURS:
            ny, nx = cur[0] + dy, cur[1] + dx
            if (
                (ny, nx) != prev
                and (ny, nx) != (y, x)
                and 0 <= ny < h
                and 0 <= nx < w
                and skeleton[ny, nx]
            ):
                if abs(ny - prev[0]) <= 1 and abs(nx - prev[1]) <= 1:
                    continue  # skip pixels adjacent to where we came from (corners)
                nxt = (ny, nx)
                break
        if nxt is None:
            break
        prev, cur = cur, nxt
    return float(cur[1] - x), float(cur[0] - y)


def extract_classic(gray: NDArray[np.uint8], p: Params = PARAMS) -> FingerprintTemplate:
    """Template of a 500 dpi grayscale image by the classical pipeline."""
    mask = segment(gray, p)
    orientation, _ = orientation_field(gray)
    period = ridge_period(gray, mask)
    enhanced = enhance(gray, orientation, period, mask)
    ridges = (enhanced < 0) & mask  # dark ridges give negative Gabor responses
    skeleton: NDArray[np.bool_] = np.asarray(skeletonize(ridges)) > 0  # type: ignore[no-untyped-call]
    sk = skeleton.astype(np.uint8)
    # crossing number from the 8 neighbours, in circular order
    padded = np.pad(sk, 1)
    ring = [
        padded[1 + dy : 1 + dy + sk.shape[0], 1 + dx : 1 + dx + sk.shape[1]]
        for dy, dx in _NEIGHBOURS
    ]
    crossings = sum(np.abs(ring[i].astype(np.int16) - ring[(i + 1) % 8]) for i in range(8)) // 2
    inner = cv2.erode(
        mask.astype(np.uint8),
        np.ones((25, 25), np.uint8),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    ).astype(bool)
    ys, xs = np.nonzero(skeleton & inner & ((crossings == 1) | (crossings == 3)))
    kinds = np.where(crossings[ys, xs] == 1, KIND_ENDING, KIND_BIFURCATION)
    # prune close pairs (breaks, spurs, bridges, islands): drop both minutiae
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    if pts.shape[0]:
        d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
        np.fill_diagonal(d, np.inf)
        keep = d.min(axis=1) > period * 1.2
        pts, kinds = pts[keep], kinds[keep]
    directions = []
    for (x, y), kind in zip(pts.astype(int), kinds, strict=True):
        starts = [(dy, dx) for dy, dx in _NEIGHBOURS if skeleton[y + dy, x + dx]]
        ends = [_trace(skeleton, y, x, s, 10) for s in starts]
        if kind == KIND_ENDING and ends:
            vx, vy = -ends[0][0], -ends[0][1]  # pointing away from the ridge body
        elif len(ends) >= 3:
            angles = [math.atan2(e[1], e[0]) for e in ends[:3]]
            gaps = [
                abs((angles[i] - angles[(i + 1) % 3] + math.pi) % (2 * math.pi) - math.pi)
                for i in range(3)
            ]
            i = int(np.argmin(gaps))  # the two branches of the fork are the closest pair
            vx = math.cos(angles[i]) + math.cos(angles[(i + 1) % 3])
            vy = math.sin(angles[i]) + math.sin(angles[(i + 1) % 3])
        else:
            vx, vy = math.cos(orientation[y, x]), math.sin(orientation[y, x])
        directions.append(math.atan2(-vy, vx))  # counter-clockwise as seen
    quality = np.full(pts.shape[0], 60)
    order = np.arange(min(pts.shape[0], p.max_minutiae))
    return FingerprintTemplate.from_columns(
        pts[order, 0],
        pts[order, 1],
        np.asarray(directions)[order],
        kinds[order],
        quality[order],
        width=gray.shape[1],
        height=gray.shape[0],
    )
