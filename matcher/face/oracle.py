"""Exact brute-force search in numpy: the oracle the FAISS gallery is tested against."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from matcher.face.templates import as_template_batch


def brute_force_search(
    gallery: ArrayLike, gallery_ids: ArrayLike, queries: ArrayLike, k: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Return ``(distances, ids)``, each (n_queries, k), nearest first, Euclidean distance.

    Missing neighbours (k larger than the gallery) are filled with ``inf`` and id ``-1``,
    as FAISS does. Ties are broken by the smaller id.
    """
    vectors = as_template_batch(gallery).astype(np.float64)
    ids = np.asarray(gallery_ids, dtype=np.int64)
    probes = as_template_batch(queries).astype(np.float64)
    if ids.shape != (vectors.shape[0],):
        raise ValueError("gallery and gallery_ids differ in length")
    n = probes.shape[0]
    distances = np.full((n, k), np.inf, dtype=np.float32)
    found = np.full((n, k), -1, dtype=np.int64)
    if vectors.shape[0] == 0 or k <= 0:
        return distances, found
    squared = (
        (probes**2).sum(axis=1)[:, None]
        - 2.0 * probes @ vectors.T
        + (vectors**2).sum(axis=1)[None, :]
    )
    all_distances = np.sqrt(np.maximum(squared, 0.0))
    take = min(k, vectors.shape[0])
    for row in range(n):
        order = np.lexsort((ids, all_distances[row]))[:take]
        distances[row, :take] = all_distances[row, order]
        found[row, :take] = ids[order]
    return distances, found
