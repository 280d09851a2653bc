"""Verification error rates from genuine and impostor scores: DET points, EER, FMR and FNMR.

Score polarity is settled here and nowhere else. A ``similarity`` (fingerprint MCC, fused scores)
accepts a comparison when ``score >= threshold``; a ``distance`` (face templates) accepts it when
``score <= threshold``. Inside, every score is turned into a similarity by :func:`oriented`
(distances are negated); thresholds go in and come out in the score's own units.

A score of -inf as a similarity (+inf as a distance) is never accepted: 1:N uses it for a mated
search whose mate is not at an allowed rank. Rates can be weighted by whole numbers of copies of
each comparison, which is how the subject bootstrap (:mod:`calibration.bootstrap`) resamples.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from calibration.defaults import CalibrationError

log = logging.getLogger(__name__)

Polarity = Literal["similarity", "distance"]
POLARITIES: tuple[Polarity, ...] = ("similarity", "distance")
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def check_polarity(polarity: str) -> Polarity:
    """``polarity`` itself, or :class:`CalibrationError` naming the valid ones."""
    for valid in POLARITIES:
        if polarity == valid:
            return valid
    raise CalibrationError(f"unknown score polarity {polarity!r}; valid: {', '.join(POLARITIES)}")


def oriented(values: ArrayLike, polarity: Polarity) -> Floats:
    """Scores (or thresholds) as similarities: distances negated. Its own inverse."""
    array = np.asarray(values, dtype=np.float64)
    return array if polarity == "similarity" else -array


def accepts(scores: ArrayLike, threshold: float, polarity: Polarity) -> NDArray[np.bool_]:
    """Which comparisons a threshold accepts (``>=`` for similarities, ``<=`` for distances)."""
    return np.asarray(oriented(scores, polarity) >= oriented(threshold, polarity))


class ErrorCurve:
    """Operating points at every distinct score, from the most lenient threshold (index 0) to
    one that accepts nothing (the last, infinite). FMR falls and FNMR rises along it.

    Rates are looked up from cumulative weights when asked, so a bootstrap replicate over
    millions of impostor pairs costs two cumulative sums and a few binary searches."""

    def __init__(
        self,
        polarity: Polarity,
        oriented_thresholds: Floats,
        g_below: Ints,
        i_below: Ints,
        g_cum: Ints,
        i_cum: Ints,
    ) -> None:
        self.polarity = polarity
        self._t = oriented_thresholds
        self._g_below, self._i_below = g_below, i_below
        self._g_cum, self._i_cum = g_cum, i_cum
        self._g_total, self._i_total = int(g_cum[-1]), int(i_cum[-1])

    def __len__(self) -> int:
        return len(self._t)

    @property
    def thresholds(self) -> Floats:
        """Each point's threshold, in the score's units."""
        return oriented(self._t, self.polarity)

    def fmr_at(self, k: NDArray[np.integer] | int) -> Floats:
        """FMR at point(s) ``k`` (NaN without impostor weight)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(
                (self._i_total - self._i_cum[self._i_below[k]]) / self._i_total, dtype=np.float64
            )

    def fnmr_at(self, k: NDArray[np.integer] | int) -> Floats:
        """FNMR at point(s) ``k`` (NaN without genuine weight)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self._g_cum[self._g_below[k]] / self._g_total, dtype=np.float64)

    @property
    def fmr(self) -> Floats:
        return self.fmr_at(np.arange(len(self)))

    @property
    def fnmr(self) -> Floats:
        return self.fnmr_at(np.arange(len(self)))

    def _defined(self) -> bool:
        return self._g_total > 0 and self._i_total > 0

    def _crossing(self) -> tuple[int, float]:
        """(k, w): the FMR = FNMR crossing lies a fraction ``w`` of the way from point k-1 to
        point k on the straight DET segment between them (w = 1: at point k exactly).
        FMR - FNMR never increases along the curve (1 at the start, -1 at the end): bisect."""
        low, high = 0, len(self) - 1  # the answer is the first k with FMR - FNMR <= 0
        while low < high:
            middle = (low + high) // 2
            if float(self.fmr_at(middle)) - float(self.fnmr_at(middle)) <= 0:
                high = middle
            else:
                low = middle + 1
        k = low
        b = float(self.fmr_at(k)) - float(self.fnmr_at(k))
        if k == 0 or b == 0:
            return k, 1.0
        a = float(self.fmr_at(k - 1)) - float(self.fnmr_at(k - 1))
        return k, a / (a - b)

    def eer(self) -> float:
        """Equal error rate: where the straight line between the two operating points either side
        of the crossing meets FMR = FNMR (ties of scores make steps, not points)."""
        if not self._defined():
            return float("nan")
        k, w = self._crossing()
        fmr_k = float(self.fmr_at(k))
        if w == 1.0:
            return (fmr_k + float(self.fnmr_at(k))) / 2
        before = float(self.fmr_at(k - 1))
        return before + w * (fmr_k - before)

    def eer_threshold(self) -> float:
        """A threshold at the crossing: interpolated between the scores of the two points either
        side of it (indicative: the rates only change at scores)."""
        k, w = self._crossing()
        if w == 1.0 or not np.isfinite(self._t[k]):
            return self.threshold_at(k)
        return float(oriented(self._t[k - 1] + w * (self._t[k] - self._t[k - 1]), self.polarity))

    def index_for_fmr(self, target: float) -> int:
        """The most lenient operating point whose FMR is at most ``target``."""
        # FMR(k) <= target  <=>  impostor weight below point k >= total * (1 - target)
        need = self._i_total * (1.0 - target - 1e-12)
        position = int(np.searchsorted(self._i_cum, need, side="left"))
        k = int(np.searchsorted(self._i_below, position, side="left"))
        return min(k, len(self) - 1)

    def fnmr_at_fmr(self, target: float) -> float:
        """FNMR at the most lenient threshold with FMR <= target (``target=0``: ZeroFMR)."""
        if not self._defined():
            return float("nan")
        return float(self.fnmr_at(self.index_for_fmr(target)))

    def threshold_at(self, k: int) -> float:
        """A threshold with exactly the rates of point ``k``: halfway between its score and the
        next more lenient one (no score lies between them), so it sits in the gap rather than on
        a sample. Past the highest score: a little beyond it."""
        if k == 0:
            return float(oriented(self._t[0], self.polarity))
        low = float(self._t[k - 1])
        high = float(self._t[k])
        if np.isfinite(high):
            middle = (low + high) / 2
            chosen = middle if middle > low else high
        else:
            chosen = low + max(1e-6, 1e-6 * abs(low))
        return float(oriented(chosen, self.polarity))

    def threshold_for_fmr(self, target: float) -> float:
        """The most lenient threshold whose FMR on these scores is at most ``target``."""
        return self.threshold_at(self.index_for_fmr(target))

    def det_points(self, max_points: int = 600) -> tuple[Floats, Floats]:
        """(FMR, FNMR) points for plotting, thinned to about ``max_points`` spread evenly in
        log FMR and log FNMR; the end points are kept."""
        n = len(self)
        if n <= max_points:
            return self.fmr, self.fnmr
        fmr, fnmr = self.fmr, self.fnmr
        grid = np.logspace(-8, 0, max_points // 2)
        by_fmr = np.searchsorted(-fmr, -grid, side="left")  # fmr never increases
        by_fnmr = np.searchsorted(fnmr, grid, side="right") - 1
        keep = np.unique(np.clip(np.concatenate([by_fmr, by_fnmr, [0, n - 1]]), 0, n - 1))
        return fmr[keep], fnmr[keep]


def _as_subjects(values: ArrayLike | None, count: int, columns: int, name: str) -> Ints:
    if values is None:
        # no subjects given: every comparison is its own subject (a bootstrap over pairs)
        own = np.arange(count, dtype=np.int64)
        return own.reshape(-1, 1) if columns == 1 else np.stack([own, own], axis=1)
    array = np.asarray(values, dtype=np.int64)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] != count or array.shape[1] not in (1, 2):
        raise CalibrationError(
            f"{name}: one subject id (or two, for a pair of subjects) per score, got {array.shape} for {count} scores"
        )
    if array.size and array.min() < 0:
        raise CalibrationError(f"{name}: subject ids are numbers from 0")
    return array


def _check_scores(values: ArrayLike, polarity: Polarity, name: str) -> Floats:
    scores = oriented(values, polarity).reshape(-1)
    if scores.size == 0:
        raise CalibrationError(f"error rates need {name} scores, and there are none")
    if np.isnan(scores).any() or (scores == np.inf).any():
        wrong = "NaN or -inf" if polarity == "distance" else "NaN or +inf"
        raise CalibrationError(f"{name} scores hold {wrong}: check the matcher's output")
    return scores


class ScoreSet:
    """Genuine and impostor scores of one polarity, with the subjects behind each comparison.

    ``genuine_subjects``: one subject id per genuine score. ``impostor_subjects``: one or two ids
    per impostor score (a 1:1 impostor pair involves two people, a non-mated 1:N search one). Ids
    are small whole numbers shared by both lists. Scores are sorted once; every curve after that,
    weighted or not, costs two cumulative sums.
    """

    def __init__(
        self,
        genuine: ArrayLike,
        impostor: ArrayLike,
        polarity: Polarity,
        genuine_subjects: ArrayLike | None = None,
        impostor_subjects: ArrayLike | None = None,
    ) -> None:
        self.polarity = check_polarity(polarity)
        g = _check_scores(genuine, self.polarity, "genuine")
        i = _check_scores(impostor, self.polarity, "impostor")
        gs = _as_subjects(genuine_subjects, g.size, 1, "genuine_subjects")
        imps = _as_subjects(impostor_subjects, i.size, 2, "impostor_subjects")
        if genuine_subjects is None and impostor_subjects is None:
            imps = imps + g.size  # pairs as subjects: keep the two lists' ids apart
        g_order = np.argsort(g, kind="stable")
        i_order = np.argsort(i, kind="stable")
        self._g = g[g_order]
        self._i = i[i_order]
        # one contiguous array per subject column: the bootstrap gathers from them
        self._g_subjects = [np.ascontiguousarray(c, np.int32) for c in gs[g_order].T]
        self._i_subjects = [np.ascontiguousarray(c, np.int32) for c in imps[i_order].T]
        self.n_subjects = int(max(gs.max(initial=-1), imps.max(initial=-1)) + 1)
        finite = np.unique(
            np.concatenate([self._g[np.isfinite(self._g)], self._i[np.isfinite(self._i)]])
        )
        self._thresholds = np.append(finite, np.inf)
        self._g_below = np.searchsorted(self._g, self._thresholds, side="left")
        self._i_below = np.searchsorted(self._i, self._thresholds, side="left")

    @property
    def genuine(self) -> Floats:
        """Genuine scores in their own units, sorted from least to most alike."""
        return oriented(self._g, self.polarity)

    @property
    def impostor(self) -> Floats:
        """Impostor scores in their own units, sorted from least to most alike."""
        return oriented(self._i, self.polarity)

    @property
    def genuine_count(self) -> int:
        return int(self._g.size)

    @property
    def impostor_count(self) -> int:
        return int(self._i.size)

    def weights(self, counts: Ints | None) -> tuple[Ints, Ints]:
        """Copies of each (sorted) genuine and impostor comparison when subject ``s`` was drawn
        ``counts[s]`` times: the product over the subjects of the comparison."""
        if counts is None:
            return np.ones(self._g.size, np.int64), np.ones(self._i.size, np.int64)
        if counts.shape != (self.n_subjects,):
            raise CalibrationError(f"{self.n_subjects} subject counts needed, got {counts.shape}")
        gw = counts[self._g_subjects[0]]
        for column in self._g_subjects[1:]:
            gw = gw * counts[column]
        iw = counts[self._i_subjects[0]]
        for column in self._i_subjects[1:]:
            iw = iw * counts[column]
        return gw, iw

    def curve(self, counts: Ints | None = None) -> ErrorCurve:
        """FMR and FNMR at every distinct score (weighted by subject ``counts`` if given)."""
        gw, iw = self.weights(counts)
        g_cum = np.zeros(gw.size + 1, np.int64)
        np.cumsum(gw, out=g_cum[1:])
        i_cum = np.zeros(iw.size + 1, np.int64)
        np.cumsum(iw, out=i_cum[1:])
        return ErrorCurve(
            self.polarity, self._thresholds, self._g_below, self._i_below, g_cum, i_cum
        )

    def rates_at(self, threshold: float, counts: Ints | None = None) -> tuple[float, float]:
        """(FMR, FNMR) at one threshold, in the score's units."""
        t = float(oriented(threshold, self.polarity))
        gw, iw = self.weights(counts)
        g_below = int(np.searchsorted(self._g, t, side="left"))
        i_below = int(np.searchsorted(self._i, t, side="left"))
        g_total, i_total = int(gw.sum()), int(iw.sum())
        if g_total == 0 or i_total == 0:
            return float("nan"), float("nan")
        return float(iw[i_below:].sum() / i_total), float(gw[:g_below].sum() / g_total)
