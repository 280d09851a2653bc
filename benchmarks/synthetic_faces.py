"""Synthetic face templates that mimic the statistics of real ones, for speed tests at scale.

A two-level Gaussian fitted to real templates of labelled people (LFW): a person's identity is
``c ~ N(mean, B)`` (B the between-person covariance) and each photo of that person is
``c + N(0, W)`` (W the pooled within-person covariance). B is the covariance of the per-person
means less the part of W those means still carry (``W / photos``), clipped to stay positive
semi-definite. A gallery template is one photo of a new identity, i.e. ``N(mean, B + W)``; a
*mated* probe of gallery template ``x`` is another photo of the same identity, drawn from the
model's conditional law of ``c`` given ``x`` plus fresh within-person noise.

The fit keeps the real distance structure: impostor distances (median about 0.84 on LFW dev)
and genuine distances (median about 0.42) come out as in the photos the model was fitted on.
Draws are seeded and made in chunks, so 4.1 million templates need no more memory than their
own 2.1 GB.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from matcher.face.templates import TEMPLATE_DIM, as_template_batch

log = logging.getLogger(__name__)

CHUNK = 65_536


def _sqrt_psd(cov: NDArray[np.float64]) -> NDArray[np.float64]:
    """A matrix root ``L`` with ``L @ L.T == cov`` after clipping negative eigenvalues."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root: NDArray[np.float64] = vectors * np.sqrt(np.clip(values, 0.0, None))
    return root


@dataclass(frozen=True, eq=False)
class TemplateModel:
    """The fitted two-level Gaussian (see the module docstring)."""

    mean: NDArray[np.float64]
    between: NDArray[np.float64]
    within: NDArray[np.float64]

    @classmethod
    def fit(cls, templates: ArrayLike, labels: Sequence[object]) -> TemplateModel:
        """Fit on real templates and their person labels; needs people with two photos or more."""
        vectors = as_template_batch(templates).astype(np.float64)
        if len(labels) != vectors.shape[0]:
            raise ValueError(f"{len(labels)} labels for {vectors.shape[0]} templates")
        groups: dict[object, list[int]] = {}
        for row, label in enumerate(labels):
            groups.setdefault(label, []).append(row)
        people = [rows for rows in groups.values() if len(rows) >= 2]
        if len(people) < 10:
            raise ValueError(
                f"fitting needs at least 10 people with two templates or more, got {len(people)}"
            )
        means = np.stack([vectors[rows].mean(axis=0) for rows in people])
        counts = np.array([len(rows) for rows in people], dtype=np.float64)
        deviations = np.concatenate([vectors[rows] - vectors[rows].mean(axis=0) for rows in people])
        within = deviations.T @ deviations / (counts.sum() - len(people))
        between = np.cov(means, rowvar=False) - within * float(np.mean(1.0 / counts))
        root = _sqrt_psd(between)
        return cls(mean=vectors.mean(axis=0), between=root @ root.T, within=within)

    def gallery(
        self, n: int, seed: int = 0, out: NDArray[np.float32] | None = None
    ) -> NDArray[np.float32]:
        """``n`` templates, each of a different new identity: ``N(mean, B + W)``, float32;
        written into ``out`` (n, 128) when given, so millions need no second copy."""
        root = self._gallery_root
        mean = self.mean.astype(np.float32)
        if out is None:
            out = np.empty((n, TEMPLATE_DIM), dtype=np.float32)
        elif out.shape != (n, TEMPLATE_DIM) or out.dtype != np.float32:
            raise ValueError(f"out must be a float32 ({n}, {TEMPLATE_DIM}) array")
        rng = np.random.default_rng(seed)
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            z = rng.standard_normal((stop - start, TEMPLATE_DIM), dtype=np.float32)
            np.matmul(z, root.T, out=out[start:stop])
            out[start:stop] += mean
        return out

    def mated(self, gallery: ArrayLike, seed: int = 1) -> NDArray[np.float32]:
        """Another photo of the identity behind each gallery template (the conditional law).

        Each call draws the identity afresh given ``x``: two calls give two probes that are each
        right with ``x`` but not with each other, so ask for one mated probe per template.
        """
        x = as_template_batch(gallery).astype(np.float64)
        gain, root = self._mated_terms
        rng = np.random.default_rng(seed)
        z = rng.standard_normal(x.shape)
        out = self.mean + (x - self.mean) @ gain.T + z @ root.T
        return np.ascontiguousarray(out, dtype=np.float32)

    @cached_property
    def _gallery_root(self) -> NDArray[np.float32]:
        return _sqrt_psd(self.between + self.within).astype(np.float32)

    @cached_property
    def _mated_terms(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``E[c | x] = mean + gain (x - mean)``, and the root of the probe's spread about it."""
        gain = self.between @ np.linalg.pinv(self.between + self.within)
        spread = self.between - gain @ self.between + self.within
        return gain, _sqrt_psd(spread)
