"""Open-set identification accuracy of the face matcher on a folder of labelled photos.

Layout: one sub-folder per person (``DIR/<Name>/*.jpg``, as LFW). Protocol:

1. People are split, by a seeded shuffle, into enrolled and held-out (never enrolled).
2. Each enrolled person's first photo (sorted by name) that yields a template goes into a fresh
   gallery (the first usable photo; photos with no face count as failures to acquire).
3. Every other photo of an enrolled person is a mated probe; every photo of a held-out person is
   a non-mated probe. Each is searched in the gallery.

Reported: rank-1 identification rate (top candidate is the right person, no threshold), FNIR
(mated probes whose right person is not the top candidate within the threshold), FPIR (non-mated
probes with any candidate within the threshold), and counts and time. Beside them, 1:1 figures
over every pair of the photos used: FNMR at FMR 0.1% and 0.01% (the threshold each needs), the
failure-to-acquire rate (photos where the encoder finds no face) and the time to make one
template (measured on a few photos in this process, without the cache).

Each figure belongs to the ``encoder`` named (:mod:`matcher.face.engines`); ``station eval face``
runs several side by side on the same photos.

Templates come from the face pipeline (:mod:`calibration.face_pipeline`), as for
``station calibrate face``. With ``portrait=True`` every photo is first turned into its token
portrait (the largest face, aligned to the fixed geometry of :mod:`matcher.face.portrait`), which
is then encoded as a stored portrait would be: the comparison with ``portrait=False`` says what
the portrait step costs or gains in accuracy.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from calibration.defaults import CalibrationError
from calibration.face_pipeline import distance_matrix, face_templates, list_people
from matcher.errors import MatcherError
from matcher.face import DEFAULT_ENCODER, FaceGallery, face_encoder
from matcher.imageio import read_rgb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceEvalResult:
    rank1: float
    fnir: float
    fpir: float
    probes: int
    gallery: int
    seconds: float
    threshold: float
    mated_probes: int
    nonmated_probes: int
    people: int
    held_out_people: int
    failures_to_acquire: int
    images: int
    portrait: bool = False
    encoder: str = "sface"
    verification: dict[str, float] = field(default_factory=dict)
    ms_per_face: float = 0.0

    @property
    def failure_to_acquire_rate(self) -> float:
        return self.failures_to_acquire / self.images if self.images else 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {"failure_to_acquire_rate": self.failure_to_acquire_rate}


def split_people(
    names: list[str], holdout: float, seed: int, limit: int | None = None
) -> tuple[list[str], list[str]]:
    """(enrolled, held_out) by a seeded shuffle; ``limit`` caps how many people are used."""
    if not 0 <= holdout < 1:
        raise CalibrationError("holdout is a fraction from 0 to below 1")
    order = sorted(names)
    random.Random(seed).shuffle(order)
    if limit is not None:
        order = order[:limit]
    n_held = round(len(order) * holdout)
    return sorted(order[n_held:]), sorted(order[:n_held])


def evaluate_face_identification(
    folder: Path,
    threshold: float,
    holdout: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
    workers: int = 0,
    top_k: int = 1,
    progress: Callable[[int], None] | None = None,
    portrait: bool = False,
    cache_root: Path | None = None,
    encoder: str = DEFAULT_ENCODER,
    timed_faces: int = 30,
) -> FaceEvalResult:
    """The protocol of the module docstring; templates cached under ``cache_root`` (None: none)."""
    started = time.perf_counter()
    people = list_people(folder)
    enrolled, held_out = split_people(list(people), holdout, seed, limit)
    used = enrolled + held_out
    paths = [photo for name in used for photo in people[name]]
    vectors = face_templates(
        paths,
        encoder=encoder,
        portrait=portrait,
        workers=workers,
        cache_root=cache_root,
        progress=progress,
    )
    templates = dict(zip(paths, vectors, strict=True))
    failures = sum(1 for t in templates.values() if t is None)

    gallery = FaceGallery()
    label_of: dict[int, str] = {}
    mated: list[tuple[str, NDArray[np.float32]]] = []
    for index, name in enumerate(enrolled):
        usable = [(p, templates[p]) for p in people[name] if templates[p] is not None]
        if not usable:
            continue
        (_, enroll_vector), *others = usable
        assert enroll_vector is not None
        gallery.add_one(index, enroll_vector)
        label_of[index] = name
        mated.extend((name, v) for _, v in others if v is not None)
    nonmated = [templates[p] for name in held_out for p in people[name] if templates[p] is not None]
    if not mated or len(gallery) == 0:
        raise CalibrationError(f"{folder}: too few usable photos for an evaluation")

    def top(vectors: list[NDArray[np.float32]]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        if not vectors:
            return np.empty((0, top_k), np.float32), np.empty((0, top_k), np.int64)
        return gallery.search(np.stack(vectors), top_k)

    mated_d, mated_ids = top([v for _, v in mated])
    right = np.array(
        [label_of.get(int(i)) == name for (name, _), i in zip(mated, mated_ids[:, 0], strict=True)]
    )
    rank1 = float(right.mean())
    hits = right & (mated_d[:, 0] <= threshold)
    fnir = float(1.0 - hits.mean())
    non_d, _ = top([v for v in nonmated if v is not None])
    fpir = float((non_d[:, 0] <= threshold).mean()) if len(non_d) else 0.0
    return FaceEvalResult(
        rank1=rank1,
        fnir=fnir,
        fpir=fpir,
        probes=len(mated) + len(non_d),
        gallery=len(gallery),
        seconds=time.perf_counter() - started,
        threshold=threshold,
        mated_probes=len(mated),
        nonmated_probes=len(non_d),
        people=len(used),
        held_out_people=len(held_out),
        failures_to_acquire=failures,
        images=len(paths),
        portrait=portrait,
        encoder=encoder,
        verification=verification_rates(paths, vectors, folder),
        ms_per_face=ms_per_face(encoder, paths[:timed_faces]),
    )


FMR_TARGETS = (1e-3, 1e-4)


def verification_rates(
    paths: list[Path], vectors: list[NDArray[np.float32] | None], folder: Path
) -> dict[str, float]:
    """FNMR at each FMR target over every pair of usable photos, and the threshold it needs."""
    usable = [(p.parent.name, v) for p, v in zip(paths, vectors, strict=True) if v is not None]
    labels = np.array([name for name, _ in usable])
    matrix = distance_matrix(np.stack([v for _, v in usable]))
    upper = np.triu_indices(len(usable), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    distances = matrix[upper]
    genuine, impostor = distances[same], np.sort(distances[~same])
    if not len(genuine) or not len(impostor):
        raise CalibrationError(f"{folder}: 1:1 rates need two photos of someone and two people")
    out: dict[str, float] = {"genuine_pairs": len(genuine), "impostor_pairs": len(impostor)}
    for target in FMR_TARGETS:
        # The largest threshold whose FMR stays within the target: below the k-th impostor.
        allowed = int(target * len(impostor))
        threshold = float(impostor[allowed]) if allowed < len(impostor) else float("inf")
        out[f"threshold_at_fmr_{target:g}"] = threshold
        out[f"fnmr_at_fmr_{target:g}"] = float((genuine >= threshold).mean())
    return out


def ms_per_face(encoder: str, paths: list[Path]) -> float:
    """Milliseconds of one template (detection and encoding), on these photos in this process."""
    made = face_encoder(encoder, multiple_faces="largest")
    pixels = [read_rgb(path) for path in paths]
    if not pixels:
        return 0.0
    with contextlib.suppress(MatcherError):
        made.encode(pixels[0])  # the first call loads the models
    started = time.perf_counter()
    for image in pixels:
        with contextlib.suppress(MatcherError):
            made.encode(image)
    return 1000 * (time.perf_counter() - started) / len(pixels)
