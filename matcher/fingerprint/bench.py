"""Speed of the fingerprint matcher: ``python -m matcher.fingerprint.bench [--json]``.

Prints extraction time per image, 1:1 comparisons per second on one core, and for galleries of
several sizes the 1:N latency and the prefilter's hit rate against its penetration rate.

Data: the real dev sets (``--datasets``, default ``../shared/datasets``). Mates: impression 1 of
each FVC2002 DB1_B and DB2_B finger is enrolled; probes are their impressions 2-8. Distractors:
templates of *other* fingers (DB3_B and UPEK, all impressions), each copied many times with a
random rotation (+-20 degrees about the image centre), translation (+-25 pixels), position jitter
(sigma 1.5 pixels), direction jitter (sigma 3 degrees) and minutia drop-out (10-30%); copies of the
probes' own fingers are never used, since MCC cylinders are rotation and translation invariant and
such copies would be mates, not distractors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from matcher.fingerprint import extract, mcc
from matcher.fingerprint.image import as_gray
from matcher.fingerprint.index import FingerprintGallery
from matcher.fingerprint.template import FingerprintTemplate

SETS = {"fvc2002_b/DB1_B": 500, "fvc2002_b/DB2_B": 569, "fvc2002_b/DB3_B": 500, "upek": 500}
PENETRATIONS = (0.005, 0.01, 0.02, 0.05, 0.10)


def _load(root: Path) -> dict[str, list[tuple[str, int, FingerprintTemplate, float]]]:
    from PIL import Image

    out: dict[str, list[tuple[str, int, FingerprintTemplate, float]]] = {}
    for name, dpi in SETS.items():
        rows = []
        for path in sorted((root / "fingerprints" / name).glob("*_*.png")):
            finger, impression = path.stem.split("_")
            with Image.open(path) as image:
                gray = as_gray(np.asarray(image.convert("L")))
            started = time.perf_counter()
            template = extract.extract(gray, dpi)
            rows.append((finger, int(impression), template, time.perf_counter() - started))
        out[name] = rows
    return out


def perturb(t: FingerprintTemplate, rng: np.random.Generator) -> FingerprintTemplate:
    """A distractor made from a real template (see the module docstring)."""
    angle = math.radians(rng.uniform(-20, 20))
    c, s = math.cos(angle), math.sin(angle)
    cx, cy = t.width / 2, t.height / 2
    dx, dy = t.x - cx, t.y - cy
    x = cx + c * dx + s * dy + rng.uniform(-25, 25) + rng.normal(0, 1.5, t.count)
    y = cy - s * dx + c * dy + rng.uniform(-25, 25) + rng.normal(0, 1.5, t.count)
    keep = (rng.random(t.count) > rng.uniform(0.1, 0.3)) & (x >= 0) & (y >= 0)
    keep &= (x < t.width) & (y < t.height)
    direction = t.direction + angle + rng.normal(0, math.radians(3), t.count)
    return FingerprintTemplate.from_columns(
        x[keep],
        y[keep],
        direction[keep],
        t.kind[keep],
        t.minutia_quality[keep],
        width=t.width,
        height=t.height,
    )


def quality_utility(
    data: dict[str, list[tuple[str, int, FingerprintTemplate, float]]],
) -> dict[str, float]:
    """Per set, Spearman correlation of each image's quality with its mean genuine score (the
    utility NFIQ 2 is trained to predict)."""
    from scipy.stats import spearmanr

    out = {}
    for name, rows in data.items():
        prepared = [mcc.prepare(row[2]) for row in rows]
        utility = [
            float(
                np.mean(
                    [
                        mcc.similarity(prepared[i], prepared[j])
                        for j in range(len(rows))
                        if j != i and rows[j][0] == rows[i][0]
                    ]
                )
            )
            for i in range(len(rows))
        ]
        quality = [row[2].quality for row in rows]
        out[name] = float(spearmanr(quality, utility).statistic)
    return out


def run(root: Path, sizes: list[int], queries: int, seed: int = 0) -> dict[str, Any]:
    data = _load(root)
    times = [row[3] for rows in data.values() for row in rows]
    result: dict[str, Any] = {
        "extraction_seconds_median": float(np.median(times)),
        "extraction_seconds_mean": float(np.mean(times)),
        "images": len(times),
    }
    prepared = [mcc.prepare(row[2]) for row in data["fvc2002_b/DB1_B"]]
    started = time.perf_counter()
    prep_n = [mcc.prepare(row[2]) for row in data["fvc2002_b/DB3_B"]]
    result["prepare_seconds_mean"] = (time.perf_counter() - started) / len(prep_n)
    pairs = [(i, j) for i in range(len(prepared)) for j in range(i + 1, len(prepared))][:2000]
    started = time.perf_counter()
    for i, j in pairs:
        mcc.similarity(prepared[i], prepared[j])
    result["comparisons_per_second_per_core"] = len(pairs) / (time.perf_counter() - started)

    result["quality_vs_genuine_score_spearman"] = quality_utility(data)
    mates = [
        (f"{name}:{finger}", impression, template)
        for name in ("fvc2002_b/DB1_B", "fvc2002_b/DB2_B")
        for finger, impression, template, _ in data[name]
    ]
    enrolled = {key: template for key, impression, template in mates if impression == 1}
    probes = [(key, template) for key, impression, template in mates if impression != 1]
    rng = np.random.default_rng(seed)
    probes = [probes[i] for i in rng.permutation(len(probes))[:queries]]
    sources = [row[2] for name in ("fvc2002_b/DB3_B", "upek") for row in data[name]]
    result["galleries"] = []
    gallery = FingerprintGallery()
    for key, template in enrolled.items():
        gallery.add(key, {0: template})
    made = 0
    for size in sorted(sizes):
        started = time.perf_counter()
        while gallery.fingers < size:
            gallery.add(f"d{made}", {0: perturb(sources[made % len(sources)], rng)})
            made += 1
        build = time.perf_counter() - started
        ranks, latencies = [], []
        for key, template in probes:
            probe = mcc.prepare(template)
            _, slots = gallery.prefilter(probe, shortlist=gallery.fingers)
            found = [gallery._slots[int(s)] for s in slots]
            keys = [entry[0] if entry else "" for entry in found]
            ranks.append(keys.index(key) + 1 if key in keys else math.inf)
            started = time.perf_counter()
            gallery.search({0: template}, penetration=0.01, min_shortlist=20, limit=5)
            latencies.append(time.perf_counter() - started)
        hit = {
            str(p): float(np.mean([r <= max(1, math.ceil(p * gallery.fingers)) for r in ranks]))
            for p in PENETRATIONS
        }
        result["galleries"].append(
            {
                "fingers": gallery.fingers,
                "cylinders": int(gallery._index.ntotal),
                "build_seconds": build,
                "probes": len(probes),
                "search_seconds_median_at_1pct": float(np.median(latencies)),
                "search_seconds_p95_at_1pct": float(np.percentile(latencies, 95)),
                "hit_rate_by_penetration": hit,
            }
        )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets",
        type=Path,
        default=Path(os.environ.get("STATION_DATASETS", "../shared/datasets")),
    )
    parser.add_argument(
        "--sizes",
        default="1000,10000",
        help="Gallery sizes in fingers. 100000 needs about 40 GB today: the gallery keeps float32 "
        "cylinders, masks and squares (about 400 KB per finger); it was OOM-killed at 24 GB.",
    )
    parser.add_argument("--queries", type=int, default=50, help="Mated probes per gallery size.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with mcc.single_threaded_blas():
        result = run(args.datasets, sizes, args.queries)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"extraction per image: median {result['extraction_seconds_median']:.3f} s "
        f"({result['images']} images); cylinders per template {result['prepare_seconds_mean']:.3f} s"
    )
    print(
        f"1:1 comparisons per second on one core: {result['comparisons_per_second_per_core']:.0f}"
    )
    rho = ", ".join(f"{k} {v:.2f}" for k, v in result["quality_vs_genuine_score_spearman"].items())
    print(f"quality against mean genuine score (Spearman): {rho}")
    for g in result["galleries"]:
        hits = ", ".join(
            f"{float(p):.1%}: {h:.3f}" for p, h in g["hit_rate_by_penetration"].items()
        )
        print(
            f"{g['fingers']:>7} fingers: search (1% shortlist) median {g['search_seconds_median_at_1pct']:.3f} s, "
            f"p95 {g['search_seconds_p95_at_1pct']:.3f} s; prefilter hit rate by penetration {hits}"
        )


if __name__ == "__main__":
    main()
