"""Open-set 1:N identification: FPIR and FNIR against the threshold, and rank-k rates (CMC).

Definitions as in NIST FRVT 1:N (NISTIR 8271), for a gallery of N enrolled people:

- FNIR(N, R, T): share of mated searches (the person is enrolled) whose mate is not among the
  candidates at rank R or better with a score accepted by threshold T.
- FPIR(N, T): share of non-mated searches (the person is not enrolled) with any candidate
  accepted by T, that is whose best candidate is accepted.
- rank-k identification rate (CMC): share of mated searches whose mate is at rank k or better,
  with no threshold.

Searches are built from a square matrix of all comparisons within a set of samples: each
enrolled subject's gallery sample is the first usable one; every other sample is a probe. A
probe of an enrolled subject makes a mated search; every probe also makes a non-mated search
against the gallery without its own subject (so N or N - 1 people), which gives many non-mated
searches from a small set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calibration.defaults import CalibrationError
from calibration.error_rates import Floats, Ints, Polarity, ScoreSet, oriented


@dataclass(frozen=True)
class Searches:
    """Outcomes of mated and non-mated 1:N searches against galleries of ``gallery_size``.

    Scores are in the polarity's own units. A mate's rank is 1 for the best candidate; a
    non-mated search with no candidate at all has the never-accepted score (-inf similarity,
    +inf distance)."""

    polarity: Polarity
    gallery_size: int
    mate_scores: Floats
    mate_ranks: Ints
    mated_subjects: Ints
    nonmated_scores: Floats
    nonmated_subjects: Ints

    @property
    def mated(self) -> int:
        return int(self.mate_scores.size)

    @property
    def nonmated(self) -> int:
        return int(self.nonmated_scores.size)

    def scores(self, rank: int = 1) -> ScoreSet:
        """The searches as a :class:`ScoreSet` whose FNMR is FNIR(N, rank, T) and whose FMR is
        FPIR(N, T): a mate found beyond ``rank`` counts as never accepted."""
        never = oriented(-np.inf, self.polarity)
        effective = np.where(self.mate_ranks <= rank, self.mate_scores, never)
        return ScoreSet(
            effective,
            self.nonmated_scores,
            self.polarity,
            self.mated_subjects,
            self.nonmated_subjects,
        )

    def cmc(self, max_rank: int, counts: Ints | None = None) -> Floats:
        """Rank-1 to rank-``max_rank`` identification rates (weighted by subject ``counts``)."""
        weights = np.ones(self.mated, np.int64) if counts is None else counts[self.mated_subjects]
        total = weights.sum()
        if total == 0:
            return np.full(max_rank, np.nan)
        ranks = np.arange(1, max_rank + 1)
        found = (self.mate_ranks[None, :] <= ranks[:, None]) * weights[None, :]
        return np.asarray(found.sum(axis=1) / total, dtype=np.float64)


def first_sample_of_each(subjects: NDArray[np.integer], usable: NDArray[np.bool_]) -> Ints:
    """Index of the first usable sample of every subject, in order of subject id."""
    chosen: dict[int, int] = {}
    for index, (subject, ok) in enumerate(zip(subjects.tolist(), usable.tolist(), strict=True)):
        if ok and subject not in chosen:
            chosen[subject] = index
    return np.array([chosen[s] for s in sorted(chosen)], dtype=np.int64)


def searches_from_matrix(
    matrix: NDArray[np.floating],
    subjects: NDArray[np.integer],
    gallery: Ints,
    polarity: Polarity,
    usable: NDArray[np.bool_] | None = None,
) -> Searches:
    """Every search a square comparison matrix allows, with ``gallery`` (sample indices, one per
    enrolled subject) enrolled and every other ``usable`` sample (default: all) as a probe.
    ``matrix[p, g]`` is the score of probe p against sample g."""
    n = matrix.shape[0]
    if matrix.shape != (n, n) or subjects.shape != (n,):
        raise CalibrationError(
            f"a square score matrix and one subject per row needed, got {matrix.shape}"
        )
    gallery_subjects = subjects[gallery]
    if len(np.unique(gallery_subjects)) != len(gallery):
        raise CalibrationError("a gallery holds one sample per subject")
    keep = np.ones(n, bool) if usable is None else usable.copy()
    keep[gallery] = False
    probes = np.flatnonzero(keep)
    block = oriented(matrix[np.ix_(probes, gallery)], polarity)  # probes x gallery, similarities
    probe_subjects = subjects[probes]
    own = probe_subjects[:, None] == gallery_subjects[None, :]
    mated_rows = own.any(axis=1)
    mate_scores = block[own]  # one per mated row, in row order
    others = np.where(own, -np.inf, block)
    ranks = 1 + (others[mated_rows] > mate_scores[:, None]).sum(axis=1)
    best_other = others.max(axis=1, initial=-np.inf)
    return Searches(
        polarity=polarity,
        gallery_size=len(gallery),
        mate_scores=oriented(mate_scores, polarity),
        mate_ranks=ranks.astype(np.int64),
        mated_subjects=probe_subjects[mated_rows].astype(np.int64),
        nonmated_scores=oriented(best_other, polarity),
        nonmated_subjects=probe_subjects.astype(np.int64),
    )


def pool(searches: list[Searches]) -> Searches:
    """Searches of several sets (say one per fingerprint database) as one; the gallery size is
    the smallest of theirs."""
    if not searches:
        raise CalibrationError("no searches to pool")
    return Searches(
        polarity=searches[0].polarity,
        gallery_size=min(s.gallery_size for s in searches),
        mate_scores=np.concatenate([s.mate_scores for s in searches]),
        mate_ranks=np.concatenate([s.mate_ranks for s in searches]),
        mated_subjects=np.concatenate([s.mated_subjects for s in searches]),
        nonmated_scores=np.concatenate([s.nonmated_scores for s in searches]),
        nonmated_subjects=np.concatenate([s.nonmated_subjects for s in searches]),
    )


def fpir_from_fmr(fmr: float, gallery_size: int) -> float:
    """FPIR of a gallery of N people if impostor comparisons were independent: 1 - (1 - FMR)^N."""
    return float(-np.expm1(gallery_size * np.log1p(-min(fmr, 1.0)))) if fmr < 1 else 1.0


def fmr_for_fpir(fpir: float, gallery_size: int) -> float:
    """The 1:1 FMR that gives this FPIR at gallery size N under the same assumption."""
    if not 0 <= fpir < 1:
        raise CalibrationError(f"target FPIR {fpir} must lie from 0 to below 1")
    return float(-np.expm1(np.log1p(-fpir) / gallery_size))
