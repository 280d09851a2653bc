"""Verification accuracy of the fingerprint matcher on FVC-layout folders, beside NBIS.

A folder holds ``<finger>_<impression>.png|tif``. Genuine pairs: every pair of impressions of one
finger (10 x C(8, 2) = 280 in an FVC2002 B set). Impostor pairs: every pair of impressions of two
different fingers (2,880 in an FVC2002 B set); the rates reported are computed on these. The FVC
convention (first impression of each finger against the first impressions of the others, 45
pairs) is reported beside them. Rates are fractions; scores are "higher means same finger".

Our templates and scores come from the fingerprint pipeline (:mod:`calibration.fingerprint_pipeline`),
as for ``station calibrate fingerprint``; NBIS (:mod:`calibration.nbis_baseline`) extracts and
scores the same pixels and pairs in its own way, beside it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.defaults import CalibrationError
from calibration.error_rates import ScoreSet
from calibration.fingerprint_pipeline import (
    Impression,
    extract_templates,
    read_gray,
    selected_impressions,
    similarity_matrix,
)
from matcher.fingerprint.image import to_working_resolution

log = logging.getLogger(__name__)

Pair = tuple[int, int]


@dataclass(frozen=True)
class Rates:
    """Error rates of one score set: fractions, and the pair counts they rest on."""

    eer: float
    fmr100: float
    fmr1000: float
    zerofmr: float
    genuine: int
    impostor: int
    fvc_eer: float  # with the 45 FVC-convention impostor pairs
    fvc_impostor: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "eer": self.eer,
            "fmr100": self.fmr100,
            "fmr1000": self.fmr1000,
            "zerofmr": self.zerofmr,
            "genuine": self.genuine,
            "impostor": self.impostor,
            "fvc_eer": self.fvc_eer,
            "fvc_impostor": self.fvc_impostor,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class FingerprintEvalResult:
    folder: str
    images: int
    dpi: float
    ours: Rates
    baseline: Rates | None

    def to_json(self) -> dict[str, Any]:
        out = {"folder": self.folder, "images": self.images, "dpi": self.dpi, **self.ours.to_json()}
        if self.baseline is not None:
            out["baseline"] = {"name": "nbis", **self.baseline.to_json()}
        return out


def genuine_pairs(items: Sequence[Impression]) -> list[Pair]:
    return [(i, j) for i, j in combinations(range(len(items)), 2) if items[i][0] == items[j][0]]


def impostor_pairs(items: Sequence[Impression]) -> list[Pair]:
    return [(i, j) for i, j in combinations(range(len(items)), 2) if items[i][0] != items[j][0]]


def fvc_impostor_pairs(items: Sequence[Impression]) -> list[Pair]:
    """First impression of each finger against the first impressions of the others."""
    first: dict[str, int] = {}
    for index, (finger, impression, _) in enumerate(items):
        if finger not in first or impression < items[first[finger]][1]:
            first[finger] = index
    return list(combinations(sorted(first.values()), 2))


def error_rates(
    genuine: NDArray[np.float64], impostor: NDArray[np.float64]
) -> tuple[float, float, float, float]:
    """EER, FMR100, FMR1000 and ZeroFMR (FNMR at the given FMR), accepting score >= threshold
    (the math lives in :mod:`calibration.error_rates`)."""
    curve = ScoreSet(genuine, impostor, "similarity").curve()
    return (
        curve.eer(),
        curve.fnmr_at_fmr(0.01),
        curve.fnmr_at_fmr(0.001),
        curve.fnmr_at_fmr(0.0),
    )


def _rates(
    score: Callable[[int, int], float],
    gen: list[Pair],
    imp: list[Pair],
    fvc: list[Pair],
    started: float,
) -> Rates:
    cache: dict[Pair, float] = {}

    def get(pair: Pair) -> float:
        if pair not in cache:
            cache[pair] = score(*pair)
        return cache[pair]

    g = np.array([get(p) for p in gen])
    i = np.array([get(p) for p in imp])
    f = np.array([get(p) for p in fvc])
    eer, fmr100, fmr1000, zerofmr = error_rates(g, i)
    fvc_eer = error_rates(g, f)[0] if len(fvc) else float("nan")
    return Rates(
        eer,
        fmr100,
        fmr1000,
        zerofmr,
        len(gen),
        len(imp),
        fvc_eer,
        len(fvc),
        time.monotonic() - started,
    )


def evaluate_fingerprint(
    folder: Path,
    *,
    dpi: float | None = None,
    baseline: str | None = None,
    workers: int = 0,
    limit_fingers: int | None = None,
    cache_root: Path | None = None,
) -> FingerprintEvalResult:
    """Our extractor + MCC matcher on every pair of a folder (templates cached under
    ``cache_root``; None: no cache); NBIS beside it if asked."""
    if baseline not in (None, "nbis"):
        raise CalibrationError(f"unknown baseline {baseline!r}; valid: nbis")
    items, resolution = selected_impressions(folder, limit_fingers, dpi)
    paths = [path for _, _, path in items]
    gen, imp, fvc = genuine_pairs(items), impostor_pairs(items), fvc_impostor_pairs(items)
    started = time.monotonic()
    templates = extract_templates(paths, resolution, workers=workers, cache_root=cache_root)
    scores = similarity_matrix(templates)
    ours = _rates(lambda i, j: float(scores[i, j]), gen, imp, fvc, started)
    base = None
    if baseline is not None:
        base = _nbis_rates(paths, resolution, gen, imp, fvc, workers)
    return FingerprintEvalResult(str(folder), len(items), resolution, ours, base)


def _nbis_extract(args: tuple[str, float]) -> tuple[bytes, int, int]:
    from calibration.nbis_baseline import nbis_template

    path, dpi = args
    template = nbis_template(to_working_resolution(read_gray(Path(path)), dpi))
    return template.minutiae.tobytes(), template.width, template.height


def _nbis_pair(args: tuple[bytes, int, int, bytes, int, int]) -> float:
    from calibration.nbis_baseline import NbisTemplate, bozorth3_score

    a, wa, ha, b, wb, hb = args
    ta = NbisTemplate(np.frombuffer(a, dtype=np.float64).reshape(-1, 5), wa, ha)
    tb = NbisTemplate(np.frombuffer(b, dtype=np.float64).reshape(-1, 5), wb, hb)
    return bozorth3_score(ta, tb)


def _nbis_rates(
    paths: Sequence[Path],
    dpi: float,
    gen: list[Pair],
    imp: list[Pair],
    fvc: list[Pair],
    workers: int,
) -> Rates:
    """mindtct + bozorth3 on the same 500 dpi pixels (templates cached on disk)."""
    started = time.monotonic()
    count = workers or os.cpu_count() or 1
    jobs = [(str(p), dpi) for p in paths]
    pairs = sorted(set(gen) | set(imp) | set(fvc))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(count, mp_context=context) as pool:
        templates = list(pool.map(_nbis_extract, jobs))
        args = [(*templates[i], *templates[j]) for i, j in pairs]
        scores = dict(zip(pairs, pool.map(_nbis_pair, args, chunksize=32), strict=True))
    return _rates(lambda i, j: scores[(i, j)], gen, imp, fvc, started)
