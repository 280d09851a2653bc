"""Seeded synthetic populations for testing the calibration: templates whose true error rates
are known or can be measured on as many people as wanted.

Each subject is a random centre in ``dim`` dimensions; each sample is the centre plus Gaussian
noise whose scale varies from person to person (some people are harder to match than others,
which is why the bootstrap resamples people, not pairs).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from calibration.error_rates import Floats, Ints


def population(
    subjects: int,
    samples: int,
    *,
    dim: int = 16,
    noise: float = 0.35,
    noise_spread: float = 0.5,
    seed: int = 0,
) -> tuple[NDArray[np.float32], Ints]:
    """(templates, subject ids): ``samples`` templates for each of ``subjects`` people."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0 / np.sqrt(dim), (subjects, dim))
    scale = noise * np.exp(noise_spread * rng.normal(size=subjects))  # per person
    ids = np.repeat(np.arange(subjects, dtype=np.int64), samples)
    offsets = rng.normal(0.0, 1.0 / np.sqrt(dim), (subjects * samples, dim)) * scale[ids, None]
    return (centres[ids] + offsets).astype(np.float32), ids


def impostor_distances(
    templates: NDArray[np.float32], subjects: Ints, pairs: int, seed: int = 0
) -> Floats:
    """Distances of ``pairs`` random pairs of samples of different people (a Monte Carlo
    estimate of the population's impostor distribution)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(subjects), pairs)
    b = rng.integers(0, len(subjects), pairs)
    keep = subjects[a] != subjects[b]
    a, b = a[keep], b[keep]
    diff = templates[a].astype(np.float64) - templates[b].astype(np.float64)
    return np.asarray(np.sqrt((diff * diff).sum(axis=1)), dtype=np.float64)
