"""``python -m benchmarks prefilter``: fingerprint 1:N on the hardest prints and distorted copies.

The fingerprint bench's two folds (:mod:`benchmarks.fingerprint`: mates from two dev sets, chimeric
distractors made from the other two), searched as the centre searches them (the compact gallery of
:mod:`matcher.fingerprint.compact`; ``--gallery full`` for the stations' gallery). Every mate
finger is enrolled with impression 1; the probes are impressions 3-8, each in five forms:

- ``real``: as captured (FVC2002 impressions 3-8 were taken with deliberate distortion and
  displacement);
- ``hardest``: the quarter of the real probes with the lowest 1:1 score against impression 1
  (least overlap, most distortion);
- ``distorted``: the real probe pressed and dragged as skin is (:func:`distort`);
- ``partial``: only the minutiae of a random window holding about half the print (:func:`crop`);
- ``distorted partial``: both.

Each form is searched with the default policy and with remedies, each timed:

- ``fixed shortlist`` (the compact gallery): the same shortlist for every probe finger, however
  few cylinders it has (the default lengthens it for small prints,
  :meth:`~matcher.fingerprint.compact.CompactPolicy.shortlist_for`);
- ``more neighbours``: 4x the gallery cylinders kept per probe cylinder;
- ``longer shortlist``: 3x the fingers re-ranked by the 1:1 matcher;
- ``two impressions``: impression 2 of every mate finger enrolled too (as the station could
  capture each finger twice at enrolment), the default policy.

Printed per gallery size and fold: the share of mates shortlisted (reached by the 1:1 matcher) and
found at rank 1, and the search's p50 seconds. Many partial probes keep so few minutiae that a
station would refuse them at capture, or that the 1:1 matcher itself scores their mate below its
verification threshold (0.05): no index could find those. So the share of probes that are
*matchable* is printed too (probe and enrolled impression both as a station accepts a capture,
and the mate's 1:1 score at least the threshold), and the share of those the search shortlists:
what the index loses, apart from what the prints lack.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.common import datasets_dir, datasets_option, echo_json, parse_sizes
from benchmarks.fingerprint import FOLDS, load_templates
from benchmarks.fingerprint_distractors import make_distractors
from calibration.defaults import DEFAULT_FINGERPRINT_VERIFY_THRESHOLD
from matcher.fingerprint import mcc
from matcher.fingerprint.compact import CompactFingerprintGallery, CompactPolicy, FingerCodec
from matcher.fingerprint.index import FingerprintGallery, IndexPolicy
from matcher.fingerprint.template import FingerprintTemplate
from station.config import Settings

Gallery = FingerprintGallery | CompactFingerprintGallery


def _from_points(
    t: FingerprintTemplate, x: np.ndarray, y: np.ndarray, direction: np.ndarray, keep: np.ndarray
) -> FingerprintTemplate:
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    keep = keep & (x32 >= 0) & (y32 >= 0) & (x32 < t.width) & (y32 < t.height)
    return FingerprintTemplate.from_columns(
        x32[keep],
        y32[keep],
        direction[keep] % (2 * math.pi),
        t.kind[keep],
        t.minutia_quality[keep],
        width=t.width,
        height=t.height,
        quality=t.quality,
    )


def distort(template: FingerprintTemplate, rng: np.random.Generator) -> FingerprintTemplate:
    """A finger pressed off-centre and dragged: the plastic distortion model of Cappelli, Maio
    and Maltoni (2001). Minutiae within ``r`` (40-70 px) of a contact point stay; beyond ``r + k``
    (k 40-80 px) they move rigidly (turned 6-12 degrees, shifted 8-16 px, each way at random);
    between, smoothly in proportion. Then the whole print turns by up to 30 degrees."""
    t = template
    x, y = t.x.astype(np.float64), t.y.astype(np.float64)
    if t.count == 0:
        return t
    contact = np.array([rng.uniform(x.min(), x.max()), rng.uniform(y.min(), y.max())])
    r, k = rng.uniform(40, 70), rng.uniform(40, 80)
    turn = math.radians(rng.uniform(6, 12)) * rng.choice([-1, 1])
    shift = rng.uniform(8, 16) * np.array([math.cos(a := rng.uniform(0, 2 * math.pi)), math.sin(a)])
    dx, dy = x - contact[0], y - contact[1]
    c, s = math.cos(turn), math.sin(turn)
    moved_x = contact[0] + c * dx - s * dy + shift[0]
    moved_y = contact[1] + s * dx + c * dy + shift[1]
    distance = np.hypot(dx, dy)
    share = np.clip((distance - r) / k, 0.0, 1.0)
    share = 0.5 - 0.5 * np.cos(math.pi * share)  # smooth at both ends of the band
    x, y = x + share * (moved_x - x), y + share * (moved_y - y)
    direction = t.direction.astype(np.float64) - share * turn  # ISO angles: y points up
    angle = math.radians(rng.uniform(-30, 30))
    cx, cy = t.width / 2, t.height / 2
    c, s = math.cos(angle), math.sin(angle)
    x, y = cx + c * (x - cx) + s * (y - cy), cy - s * (x - cx) + c * (y - cy)
    return _from_points(t, x, y, direction + angle, np.ones(t.count, dtype=bool))


def crop(
    template: FingerprintTemplate, rng: np.random.Generator, share: float = 0.5
) -> FingerprintTemplate:
    """The minutiae inside a random window of ``share`` of their bounding box's area (the same
    aspect), as a finger touching only part of the sensor."""
    t = template
    if t.count == 0:
        return t
    x, y = t.x.astype(np.float64), t.y.astype(np.float64)
    side = math.sqrt(share)
    width, height = (x.max() - x.min()) * side, (y.max() - y.min()) * side
    left = rng.uniform(x.min(), x.max() - width)
    top = rng.uniform(y.min(), y.max() - height)
    keep = (x >= left) & (x <= left + width) & (y >= top) & (y <= top + height)
    return _from_points(t, x, y, t.direction.astype(np.float64), keep)


def _probe_forms(
    enrolled: dict[str, FingerprintTemplate],
    probes: list[tuple[str, FingerprintTemplate]],
    seed: int,
) -> dict[str, list[tuple[str, FingerprintTemplate]]]:
    rng = np.random.default_rng(seed)
    genuine = _mate_scores(enrolled, {"real": probes})["real"]
    hardest = np.argsort(genuine, kind="stable")[: max(1, len(probes) // 4)]
    distorted = [(key, distort(t, rng)) for key, t in probes]
    return {
        "real": probes,
        "hardest": [probes[i] for i in hardest],
        "distorted": distorted,
        "partial": [(key, crop(t, rng)) for key, t in probes],
        "distorted partial": [(key, crop(t, rng)) for key, t in distorted],
    }


def _mate_scores(
    enrolled: dict[str, FingerprintTemplate],
    forms: dict[str, list[tuple[str, FingerprintTemplate]]],
) -> dict[str, list[float]]:
    """Per form, each probe's 1:1 score against its enrolled mate."""
    prepared = {key: mcc.prepare(t) for key, t in enrolled.items()}
    return {
        form: [mcc.similarity(mcc.prepare(t).expand(), prepared[key]) for key, t in probes]
        for form, probes in forms.items()
    }


def _accepted(template: FingerprintTemplate) -> bool:
    """Whether a station with the default settings accepts this capture."""
    return (
        template.quality >= Settings.fingerprint_min_quality
        and template.count >= Settings.fingerprint_min_minutiae
    )


def _matchable(
    enrolled: dict[str, FingerprintTemplate],
    forms: dict[str, list[tuple[str, FingerprintTemplate]]],
) -> dict[str, list[bool]]:
    """Per form, whether each probe could be found at all: both prints accepted at capture and
    the 1:1 matcher confirming the mate."""
    scores = _mate_scores(enrolled, forms)
    return {
        form: [
            _accepted(t)
            and _accepted(enrolled[key])
            and score >= DEFAULT_FINGERPRINT_VERIFY_THRESHOLD
            for (key, t), score in zip(probes, scores[form], strict=True)
        ]
        for form, probes in forms.items()
    }


def _shortlisted(gallery: Gallery, template: FingerprintTemplate, size: int) -> list[str]:
    """The records whose fingers the search re-ranks, best-voted first."""
    prepared = mcc.prepare(template)
    if isinstance(gallery, CompactFingerprintGallery):
        slots = gallery.prefilter(prepared, 0, gallery.policy.shortlist_for(size, prepared.count))
    else:
        slots = [int(s) for s in gallery.prefilter(prepared, shortlist=size)[1]]
    entries = (gallery._slots[s] for s in slots)  # the bench reads the ranking
    return [entry[0].split("#")[0] for entry in entries if entry]


def _measure(
    gallery: Gallery,
    forms: dict[str, list[tuple[str, FingerprintTemplate]]],
    matchable_of: dict[str, list[bool]],
    shortlist: int,
) -> dict[str, dict[str, float | None]]:
    out = {}
    for form, probes in forms.items():
        matchable = np.array(matchable_of[form], dtype=bool)
        reached, first, seconds = [], [], []
        for key, template in probes:
            reached.append(key in _shortlisted(gallery, template, shortlist))
            started = time.perf_counter()
            found = gallery.search({0: template}, shortlist=shortlist, limit=1)
            seconds.append(time.perf_counter() - started)
            first.append(bool(found) and found[0].record_id.split("#")[0] == key)
        out[form] = {
            "probes": len(probes),
            "shortlisted": round(float(np.mean(reached)), 4),
            "rank1": round(float(np.mean(first)), 4),
            "matchable": round(float(np.mean(matchable)), 4),
            "matchable_shortlisted": round(float(np.mean(np.array(reached)[matchable])), 4)
            if matchable.any()
            else None,  # no probe of this form could be found at all
            "p50_s": round(float(np.median(seconds)), 4),
        }
    return out


def _policies(gallery: Gallery) -> dict[str, Any]:
    """The remedies that are only a search policy, as policies for ``gallery``."""
    base = gallery.policy
    fixed: dict[str, Any] = {}
    if isinstance(base, CompactPolicy):
        longer: dict[str, Any] = {"shortlist": 3 * base.shortlist}
        fixed = {"fixed shortlist": replace(base, small_print_factor=1.0)}
    else:
        longer = {"min_shortlist": 3 * base.min_shortlist, "penetration": 3 * base.penetration}
    return {
        "default": base,
        **fixed,
        "more neighbours": replace(base, k=4 * base.k, k_max=4 * base.k_max),
        "longer shortlist": replace(base, **longer),
    }


def _use(gallery: Gallery, policy: Any) -> int:
    """Search ``gallery`` with ``policy`` from now on; the fingers it re-ranks per probe finger."""
    gallery.policy = policy
    if isinstance(gallery, CompactFingerprintGallery):
        return gallery.policy.shortlist
    return gallery.shortlist_size()


def run_fold(
    data: dict[str, list[tuple[str, int, FingerprintTemplate]]],
    fold: str,
    sizes: Sequence[int],
    kind: str,
    queries: int,
    seed: int,
) -> list[dict[str, Any]]:
    mate_sets, source_sets = FOLDS[fold]
    mates = [(f"{name}:{finger}", imp, t) for name in mate_sets for finger, imp, t in data[name]]
    first = {key: t for key, imp, t in mates if imp == 1}
    second = {key: t for key, imp, t in mates if imp == 2}
    probes = [(key, t) for key, imp, t in mates if imp >= 3]
    rng = np.random.default_rng(seed)
    probes = [probes[i] for i in sorted(rng.permutation(len(probes))[:queries])]
    forms = _probe_forms(first, probes, seed)
    matchable = _matchable(first, forms)
    sources = [(f"{name}:{finger}", t) for name in source_sets for finger, _, t in data[name]]
    distractors = make_distractors(sources, max(sizes), seed=seed)
    rows = []
    for size in sorted(sizes):
        started = time.perf_counter()
        enrolled = {**first, **{f"d{i}": t for i, t in enumerate(distractors[: size - len(first)])}}
        gallery: Gallery
        if kind == "compact":
            gallery = CompactFingerprintGallery(FingerCodec.train(enrolled.values()))
        else:
            gallery = FingerprintGallery(IndexPolicy())
        gallery.add_many({key: {0: t} for key, t in enrolled.items()})
        build_s = time.perf_counter() - started
        policies = _policies(gallery)
        results = {
            remedy: _measure(gallery, forms, matchable, _use(gallery, policy))
            for remedy, policy in policies.items()
        }
        shortlist = _use(gallery, policies["default"])
        gallery.add_many({f"{key}#2": {0: t} for key, t in second.items()})
        results["two impressions"] = _measure(gallery, forms, matchable, shortlist)
        row = {
            "gallery": kind,
            "fold": fold,
            "fingers": size,
            "build_s": round(build_s, 1),
            "results": results,
        }
        click.echo(_line(row), err=True)
        rows.append(row)
    return rows


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _line(row: dict[str, Any]) -> str:
    head = f"{row['gallery']} fold {row['fold']} {row['fingers']:,} fingers"
    lines = [head]
    for remedy, forms in row["results"].items():
        cells = ", ".join(
            f"{form} {r['shortlisted']:.3f}/{r['rank1']:.3f}"
            f" [matchable {r['matchable']:.2f}: {_share(r['matchable_shortlisted'])}]"
            f" ({r['p50_s']:.2f} s)"
            for form, r in forms.items()
        )
        lines.append(f"  {remedy:<16} shortlisted/rank-1 (p50): {cells}")
    return "\n".join(lines)


@click.command()
@datasets_option
@click.option(
    "--sizes", default="10000,100000", show_default=True, callback=parse_sizes, help="Fingers."
)
@click.option("--folds", default="A,B", show_default=True, help="A, B or A,B.")
@click.option(
    "--gallery",
    "kind",
    type=click.Choice(["compact", "full"]),
    default="compact",
    show_default=True,
    help="compact: the centre's national gallery; full: the stations' gallery.",
)
@click.option("--queries", default=120, show_default=True, help="Probes per fold at most.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def prefilter(
    datasets: Path | None,
    sizes: list[int],
    folds: str,
    kind: str,
    queries: int,
    seed: int,
    as_json: bool,
) -> None:
    """Fingerprint 1:N on the hardest real prints and on distorted and partial copies, with the
    default search and with remedies (more neighbours, a longer shortlist, two impressions)."""
    chosen = [f for f in folds.split(",") if f]
    unknown = set(chosen) - set(FOLDS)
    if unknown:
        raise click.BadParameter(f"unknown folds {sorted(unknown)}: use A, B or A,B")
    data = load_templates(datasets_dir(datasets))
    rows = []
    with mcc.single_threaded_blas():
        for fold in chosen:
            rows += run_fold(data, fold, sizes, kind, queries, seed)
    if as_json:
        echo_json(rows)
