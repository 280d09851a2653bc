"""Speed of the fingerprint matcher: ``python -m matcher.fingerprint.bench [--json]``.

Prints extraction time per image, 1:1 comparisons per second on one core, and for galleries of
several sizes the 1:N latency, the search's rank-1 rate and the prefilter's hit rate against its
penetration rate.

Data: the real dev sets (``--datasets``, default ``$STATION_DATASETS`` or ``../shared/datasets``),
in two folds so that every set serves once as mates and once as distractor sources:

- fold A: impression 1 of each FVC2002 DB1_B and DB2_B finger is enrolled, impressions 2-8 are the
  probes (140); distractors are made from DB3_B and UPEK;
- fold B: the same with DB3_B and UPEK as mates (182 probes), distractors made from DB1_B and DB2_B.

Distractors are chimeras of two other fingers, warped, thinned and salted
(:mod:`matcher.fingerprint.distractors` says how); never copies of a probe's own finger.
Templates are cached on disk (``~/.cache/biometric-station/bench``); extraction time is measured
on fresh extractions of ``--timed-images`` images.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pickle
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from matcher.fingerprint import extract, mcc, params
from matcher.fingerprint.distractors import make_distractors
from matcher.fingerprint.image import as_gray
from matcher.fingerprint.index import FingerprintGallery, IndexPolicy
from matcher.fingerprint.template import FingerprintTemplate

SETS = {"fvc2002_b/DB1_B": 500, "fvc2002_b/DB2_B": 569, "fvc2002_b/DB3_B": 500, "upek": 500}
FOLDS = {
    "A": (("fvc2002_b/DB1_B", "fvc2002_b/DB2_B"), ("fvc2002_b/DB3_B", "upek")),
    "B": (("fvc2002_b/DB3_B", "upek"), ("fvc2002_b/DB1_B", "fvc2002_b/DB2_B")),
}
PENETRATIONS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.05)
Row = tuple[str, int, FingerprintTemplate]


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return as_gray(np.asarray(image.convert("L")))


def _images(root: Path) -> list[tuple[str, Path]]:
    return [
        (name, path)
        for name in SETS
        for path in sorted((root / "fingerprints" / name).glob("*_*.png"))
    ]


def _cache_file(images: list[tuple[str, Path]]) -> Path:
    digest = hashlib.sha256()
    for module in (extract, params):
        digest.update(Path(str(module.__file__)).read_bytes())
    for _, path in images:
        stat = path.stat()
        digest.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "biometric-station" / "bench" / f"fingerprints-{digest.hexdigest()[:16]}.pkl"


def load_templates(root: Path) -> dict[str, list[Row]]:
    """Every dev-set template by set, extracted once and cached."""
    images = _images(root)
    if not images:
        raise SystemExit(f"no fingerprint images under {root}/fingerprints: set --datasets")
    cache = _cache_file(images)
    if cache.exists():
        blobs = pickle.loads(cache.read_bytes())
    else:
        blobs = [extract.extract(_read(path), SETS[name]).to_bytes() for name, path in images]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(blobs))
    out: dict[str, list[Row]] = {name: [] for name in SETS}
    for (name, path), blob in zip(images, blobs, strict=True):
        finger, impression = path.stem.split("_")
        out[name].append((finger, int(impression), FingerprintTemplate.from_bytes(blob)))
    return out


def extraction_seconds(root: Path, count: int) -> list[float]:
    images = _images(root)
    picked = [images[i] for i in np.linspace(0, len(images) - 1, count).astype(int)]
    times = []
    for name, path in picked:
        gray = _read(path)
        started = time.perf_counter()
        extract.extract(gray, SETS[name])
        times.append(time.perf_counter() - started)
    return times


def one_to_one(rows: list[Row], pairs: int = 2000) -> dict[str, float]:
    """Preparation time per template and comparisons per second on one core."""
    started = time.perf_counter()
    prepared = [mcc.prepare(row[2]) for row in rows]
    prepare_seconds = (time.perf_counter() - started) / len(rows)
    expanded = [p.expand() for p in prepared]
    chosen = [(i, j) for i in range(len(rows)) for j in range(len(rows)) if i != j][:pairs]
    started = time.perf_counter()
    for i, j in chosen:
        mcc.similarity(expanded[i], prepared[j])
    return {
        "prepare_seconds_mean": prepare_seconds,
        "comparisons_per_second_per_core": len(chosen) / (time.perf_counter() - started),
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_fold(
    data: dict[str, list[Row]],
    fold: str,
    sizes: list[int],
    queries: int,
    seed: int,
    policy: IndexPolicy | None = None,
) -> list[dict[str, Any]]:
    mate_sets, source_sets = FOLDS[fold]
    mates = [(f"{name}:{finger}", imp, t) for name in mate_sets for finger, imp, t in data[name]]
    enrolled = {key: t for key, imp, t in mates if imp == 1}
    probes = [(key, t) for key, imp, t in mates if imp != 1]
    rng = np.random.default_rng(seed)
    probes = [probes[i] for i in rng.permutation(len(probes))[:queries]]
    sources = [(f"{name}:{finger}", t) for name in source_sets for finger, _, t in data[name]]
    gallery = FingerprintGallery(policy or IndexPolicy())
    gallery.add_many({key: {0: t} for key, t in enrolled.items()})
    results = []
    made = 0
    for size in sorted(sizes):
        started = time.perf_counter()
        wanted = max(0, size - gallery.fingers)
        distractors = make_distractors(sources, wanted, seed=seed * 1_000_003 + made)
        gallery.add_many({f"d{made + i}": {0: t} for i, t in enumerate(distractors)})
        made += wanted
        build = time.perf_counter() - started
        ranks, latencies, first = [], [], []
        for key, template in probes:
            _, slots = gallery.prefilter(mcc.prepare(template), shortlist=gallery.fingers)
            keys = [entry[0] if entry else "" for entry in (gallery._slots[s] for s in slots)]
            ranks.append(keys.index(key) + 1 if key in keys else math.inf)
            started = time.perf_counter()
            found = gallery.search({0: template}, limit=1)
            latencies.append(time.perf_counter() - started)
            first.append(bool(found) and found[0].record_id == key)
        fingers = gallery.fingers
        results.append(
            {
                "fold": fold,
                "fingers": fingers,
                "cylinders": gallery.cylinders,
                "prefilter": gallery.kind,  # flat, ivf-pq or hamming
                "build_seconds": build,
                "max_rss_mb": _rss_mb(),
                "probes": len(probes),
                "shortlist": gallery.shortlist_size(),
                "search_seconds_p50": float(np.median(latencies)),
                "search_seconds_p95": float(np.percentile(latencies, 95)),
                "search_rank1": float(np.mean(first)),
                "prefilter_hit_rate": {
                    str(p): float(np.mean([r <= max(1, math.ceil(p * fingers)) for r in ranks]))
                    for p in PENETRATIONS
                },
                "prefilter_worst_rank": float(max(ranks)),
            }
        )
        print(_gallery_line(results[-1]), flush=True)
    return results


def _gallery_line(g: dict[str, Any]) -> str:
    hits = ", ".join(f"{float(p):.2%}: {h:.3f}" for p, h in g["prefilter_hit_rate"].items())
    return (
        f"fold {g['fold']} {g['fingers']:>7} fingers ({g['prefilter']}, built in "
        f"{g['build_seconds']:.0f} s, max RSS {g['max_rss_mb']:.0f} MB): search p50 "
        f"{g['search_seconds_p50']:.3f} s, p95 {g['search_seconds_p95']:.3f} s, shortlist "
        f"{g['shortlist']}, rank-1 {g['search_rank1']:.3f}; prefilter hit rate by penetration "
        f"{hits}; worst mate rank {g['prefilter_worst_rank']:.0f}"
    )


def run(
    root: Path,
    sizes: list[int],
    queries: int,
    folds: list[str],
    timed: int,
    seed: int = 0,
    policy: IndexPolicy | None = None,
) -> dict[str, Any]:
    data = load_templates(root)
    times = extraction_seconds(root, timed)
    result: dict[str, Any] = {
        "extraction_seconds_median": float(np.median(times)),
        "extraction_seconds_mean": float(np.mean(times)),
        "images_timed": len(times),
        **one_to_one(data["fvc2002_b/DB1_B"]),
    }
    print(
        f"extraction per image: median {result['extraction_seconds_median']:.3f} s "
        f"({len(times)} images); cylinders per template "
        f"{result['prepare_seconds_mean'] * 1000:.1f} ms; 1:1 comparisons per second on one "
        f"core: {result['comparisons_per_second_per_core']:.0f}",
        flush=True,
    )
    result["galleries"] = [
        g for fold in folds for g in run_fold(data, fold, sizes, queries, seed, policy)
    ]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=str(__doc__).split("\n")[0])
    parser.add_argument(
        "--datasets",
        type=Path,
        default=Path(os.environ.get("STATION_DATASETS", "../shared/datasets")),
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="Gallery sizes in fingers.")
    parser.add_argument("--queries", type=int, default=200, help="Mated probes per fold at most.")
    parser.add_argument("--folds", default="A,B", help="Which folds to run (A, B or A,B).")
    parser.add_argument("--timed-images", type=int, default=40)
    parser.add_argument(
        "--prefilter",
        choices=("hamming", "ivf"),
        default="hamming",
        help="hamming: the default policy; ivf: IndexPolicy.ivf_pq() (flat, then IVF-PQ).",
    )
    parser.add_argument(
        "--json", action="store_true", help="Also print one JSON object at the end."
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    folds = [f for f in args.folds.split(",") if f]
    unknown = set(folds) - set(FOLDS)
    if unknown:
        parser.error(f"unknown folds {sorted(unknown)}: use A, B or A,B")
    with mcc.single_threaded_blas():
        policy = IndexPolicy.ivf_pq() if args.prefilter == "ivf" else IndexPolicy()
        result = run(args.datasets, sizes, args.queries, folds, args.timed_images, policy=policy)
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
