"""Distractor fingers for 1:N benchmarks, made from real templates of *other* fingers.

The dev sets hold a few dozen distinct fingers; a 100k-finger gallery needs many more that are
neither copies of each other nor mates of the probes. Each distractor is:

- a chimera: the minutiae of one source impression on one side of a random line through the
  image centre and those of a second source impression, of another finger, on the other side,
  the second turned by up to +-180 degrees about the centre (so halves never line up as they did
  in a real finger);
- then warped: a random rotation (+-20 degrees) about the centre, a translation (+-25 pixels), a
  smooth non-linear distortion (two random sinusoidal displacement waves of up to 6 pixels), a
  position jitter (sigma 1.5 pixels) and a direction jitter (sigma 3 degrees);
- then thinned and salted: 10-30% of the minutiae dropped and up to 10% spurious ones added at
  random positions inside the minutiae's bounding box.

The real population differs: these fingers share local ridge structure with their few dozen
sources, so they are harder distractors for cylinder voting than strangers' fingers would be
(near-copies of one source cylinder crowd its neighbour lists) and easier in their global layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from matcher.fingerprint.template import FingerprintTemplate


def _rotate(
    x: np.ndarray, y: np.ndarray, angle: float, cx: float, cy: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate points by ``angle`` (radians, counter-clockwise as seen) about (cx, cy)."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    return cx + c * dx + s * dy, cy - s * dx + c * dy


def perturb(
    template: FingerprintTemplate, rng: np.random.Generator, *, spurious: bool = True
) -> FingerprintTemplate:
    """The warp, thinning and salting steps applied to one template."""
    t = template
    cx, cy = t.width / 2, t.height / 2
    angle = math.radians(rng.uniform(-20, 20))
    x, y = _rotate(t.x.astype(np.float64), t.y.astype(np.float64), angle, cx, cy)
    x = x + rng.uniform(-25, 25)
    y = y + rng.uniform(-25, 25)
    for _ in range(2):  # smooth distortion: a displacement wave along a random direction
        k = rng.uniform(1.0, 3.0) * 2 * math.pi / max(t.width, t.height)
        phi, amp, along = rng.uniform(0, 2 * math.pi), rng.uniform(0, 6), rng.uniform(0, math.pi)
        shift = amp * np.sin(k * (x * math.cos(along) + y * math.sin(along)) + phi)
        x = x + shift * math.cos(along + math.pi / 2)
        y = y + shift * math.sin(along + math.pi / 2)
    x = x + rng.normal(0, 1.5, t.count)
    y = y + rng.normal(0, 1.5, t.count)
    direction = t.direction + angle + rng.normal(0, math.radians(3), t.count)
    kind, quality = t.kind, t.minutia_quality
    keep = rng.random(t.count) > rng.uniform(0.1, 0.3)
    if spurious and t.count:
        extra = int(rng.integers(0, max(1, t.count // 10) + 1))
        x = np.concatenate([x, rng.uniform(x.min(), x.max(), extra)])
        y = np.concatenate([y, rng.uniform(y.min(), y.max(), extra)])
        direction = np.concatenate([direction, rng.uniform(0, 2 * math.pi, extra)])
        kind = np.concatenate([kind, rng.integers(1, 3, extra).astype(np.uint8)])
        quality = np.concatenate([quality, np.full(extra, 50, dtype=np.uint8)])
        keep = np.concatenate([keep, np.ones(extra, dtype=bool)])
    x, y = x.astype(np.float32), y.astype(np.float32)  # as stored: 299.99999 becomes 300
    keep &= (x >= 0) & (y >= 0) & (x < t.width) & (y < t.height)
    return FingerprintTemplate.from_columns(
        x[keep],
        y[keep],
        direction[keep],
        kind[keep],
        quality[keep],
        width=t.width,
        height=t.height,
        quality=t.quality,
    )


def chimera(
    first: FingerprintTemplate, second: FingerprintTemplate, rng: np.random.Generator
) -> FingerprintTemplate:
    """One side of a random line from ``first``, the other from ``second`` turned about the centre."""
    width, height = max(first.width, second.width), max(first.height, second.height)
    cx, cy = width / 2, height / 2
    cut = rng.uniform(0, math.pi)
    normal = (math.cos(cut), math.sin(cut))
    offset = rng.uniform(-0.15, 0.15) * min(width, height)

    def side(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray((x - cx) * normal[0] + (y - cy) * normal[1] >= offset)

    turn = rng.uniform(-math.pi, math.pi)
    x2, y2 = _rotate(second.x.astype(np.float64), second.y.astype(np.float64), turn, cx, cy)
    x2, y2 = x2.astype(np.float32), y2.astype(np.float32)  # as stored: 299.99999 becomes 300
    a = side(first.x.astype(np.float64), first.y.astype(np.float64))
    b = ~side(x2, y2)
    inside = (x2 >= 0) & (y2 >= 0) & (x2 < width) & (y2 < height)
    b &= inside
    return FingerprintTemplate.from_columns(
        np.concatenate([first.x[a], x2[b]]),
        np.concatenate([first.y[a], y2[b]]),
        np.concatenate([first.direction[a], second.direction[b] + turn]),
        np.concatenate([first.kind[a], second.kind[b]]),
        np.concatenate([first.minutia_quality[a], second.minutia_quality[b]]),
        width=width,
        height=height,
        quality=min(first.quality, second.quality),
    )


def make_distractors(
    sources: Sequence[tuple[str, FingerprintTemplate]], count: int, seed: int = 0
) -> list[FingerprintTemplate]:
    """``count`` distractors from (finger label, template) sources with at least two fingers."""
    fingers = sorted({label for label, _ in sources})
    if len(fingers) < 2:
        raise ValueError("distractors need sources from at least two different fingers")
    rng = np.random.default_rng(seed)
    out: list[FingerprintTemplate] = []
    while len(out) < count:
        i, j = rng.integers(0, len(sources), 2)
        if sources[i][0] == sources[j][0]:
            continue
        out.append(perturb(chimera(sources[i][1], sources[j][1], rng), rng))
    return out
